"""Configuration of the paper venue: :class:`PaperVenueConfig` and its range checks.

Moved from :mod:`venues.paper.venue`, which re-exports it (``from venues.paper.venue import
PaperVenueConfig`` keeps working).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from venues.model import VenueFees
from venues.paper.faults import LegFaults

__all__ = ["PaperVenueConfig"]


@dataclass(frozen=True, slots=True)
class PaperVenueConfig:
    """Configuration of one paper venue.

    Attributes
    ----------
    name : str
        Venue name; equals ``InstrumentId.venue`` of its instruments (``"binance"``).
    initial_collateral_usd : Decimal
        Starting USD collateral (reported as ``USDT``), ≥ 0.
    perp_fees, spot_fees : VenueFees
        Fee fractions of notional (Binance VIP0: perp maker 0.0002 / taker 0.0005, spot
        0.001 / 0.001). ``taker_frac`` is charged on market and IOC fills, ``maker_frac`` on
        the fills of resting post-only orders.
    slippage_bps : Decimal
        Slippage against the taker on every fill, basis points, in ``[0, 10000)``.
    perp_leverage : Decimal
        Initial margin = |perp notional| / leverage; > 0.
    maintenance_margin_frac : Decimal
        Maintenance margin rate of every perp, fraction of notional (flat: one rate for every
        position size), in ``[0, 1 / perp_leverage)``: a position opened at the configured
        leverage holds more than its maintenance margin. Default 0.005 (0.5 %): Binance's
        first-bracket rate of the majors is 0.4–0.5 % ("Leverage and Margin of USDⓈ-M
        Futures", https://www.binance.com/en/futures/trading-rules/perpetual/leverage-margin);
        larger positions reach higher brackets there, which the flat rate does not model.
    maker_fill_volume_frac : Decimal
        Most of one bar's traded volume (base units) the resting orders of an instrument may
        fill together, fraction in ``(0, 1]``; default 0.1 (:meth:`PaperVenue.fill_resting`).
    faults : LegFaults | None
        Leg faults to inject (:mod:`venues.paper.faults`); None: every order fills.
    stream_queue_size : int
        Capacity of each stream subscriber's queue, events; > 0 (see
        :meth:`PaperVenue.stream_marks`, :meth:`PaperVenue.stream_account`).

    Raises
    ------
    ValueError
        On construction, naming every field that is out of range.
    """

    name: str
    initial_collateral_usd: Decimal
    perp_fees: VenueFees
    spot_fees: VenueFees
    slippage_bps: Decimal
    perp_leverage: Decimal
    stream_queue_size: int = 4096
    maintenance_margin_frac: Decimal = Decimal("0.005")
    maker_fill_volume_frac: Decimal = Decimal("0.1")
    faults: LegFaults | None = None

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise ValueError(f"invalid PaperVenueConfig: {'; '.join(problems)}")


def _config_problems(cfg: PaperVenueConfig) -> list[str]:
    checks = [
        (bool(cfg.name), f"name must be non-empty, got {cfg.name!r}"),
        (
            cfg.initial_collateral_usd.is_finite() and cfg.initial_collateral_usd >= 0,
            f"initial_collateral_usd must be >= 0, got {cfg.initial_collateral_usd}",
        ),
        (
            cfg.slippage_bps.is_finite() and 0 <= cfg.slippage_bps < 10_000,
            f"slippage_bps must be in [0, 10000), got {cfg.slippage_bps}",
        ),
        (
            cfg.perp_leverage.is_finite() and cfg.perp_leverage > 0,
            f"perp_leverage must be > 0, got {cfg.perp_leverage}",
        ),
        (
            cfg.maker_fill_volume_frac.is_finite() and 0 < cfg.maker_fill_volume_frac <= 1,
            f"maker_fill_volume_frac must be in (0, 1], got {cfg.maker_fill_volume_frac}",
        ),
        (cfg.stream_queue_size > 0, f"stream_queue_size must be > 0, got {cfg.stream_queue_size}"),
        (
            cfg.maintenance_margin_frac.is_finite()
            and cfg.maintenance_margin_frac >= 0
            and (
                not (cfg.perp_leverage.is_finite() and cfg.perp_leverage > 0)  # reported above
                or cfg.maintenance_margin_frac * cfg.perp_leverage < 1
            ),
            f"maintenance_margin_frac must be in [0, 1 / perp_leverage), got "
            f"{cfg.maintenance_margin_frac}",
        ),
    ]
    checks += [
        (frac.is_finite() and -1 < frac < 1, f"{label} {frac} not in (-1, 1)")
        for label, fees in (("perp_fees", cfg.perp_fees), ("spot_fees", cfg.spot_fees))
        for frac in (fees.maker_frac, fees.taker_frac)
    ]
    return [message for ok, message in checks if not ok]
