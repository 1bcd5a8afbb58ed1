"""The ``agent.toml`` section models, one per table, and the constants they are built on.

Each model is frozen and rejects unknown keys. :class:`agent.config.AgentConfig` assembles
them; import them from :mod:`agent.config`. The ``[strategies.*]`` sections, whose models are
the strategies' own, are read by :mod:`agent.config.strategy_sections`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    DirectoryPath,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from venues.model import InstrumentId, InstrumentKind
from venues.registry import CREDENTIAL_FIELDS, venue_names

VENUE_NAMES = venue_names()
"""The venues a configuration may name, in the registry's order (:data:`venues.registry.VENUES`)."""
SECRET_FIELDS = CREDENTIAL_FIELDS
"""The credential keys of ``[venues.<name>]``: every credential a venue in the registry may need."""
SECRET_KEY_PATHS = ("alerts.urls",)
"""Other secrets, by key path: environment or secrets directory only, like the credentials."""

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class FieldErrors(ValueError):
    """Cross-field problems raised inside a validator, with paths relative to the model."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in errors))


class MarketDataConfig(BaseModel):
    """``[market_data]``: where prices and funding come from, and the replay window.

    Raises
    ------
    pydantic.ValidationError
        On an unknown source, a missing ``data_dir``, ``start >= end``, a non-positive
        staleness limit or a reference instrument that is not ``venue:kind:SYMBOL`` with a
        known venue and kind perp or spot.
    """

    model_config = _FROZEN

    source: Literal["replay", "live"] = Field(
        default="replay",
        description='"replay": bundled/recorded history on a simulated clock; "live": venues.',
    )
    data_dir: DirectoryPath | None = Field(
        default=None,
        description="Directory of recorded data in the bundled layout; None = bundled data.",
    )
    start: datetime | None = Field(
        default=None,
        description="Replay window start, UTC (a date means 00:00 UTC); None = first bar.",
    )
    end: datetime | None = Field(
        default=None,
        description="Replay window end (exclusive), UTC; None = last bar.",
    )
    funding_cap_default_frac: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description=(
            "Replay data guard: a recorded funding rate beyond this per interval is refused "
            "(file and line) where the instrument's instruments.csv gives no cap, fraction."
        ),
    )
    price_jump_max_sigmas: float = Field(
        default=100.0,
        ge=0.0,
        description=(
            "Replay data guard: a close moving more than this many times its recent robust "
            "hourly volatility is flagged; 0 disables."
        ),
    )
    price_jump_policy: Literal["refuse", "missing"] = Field(
        default="refuse",
        description='A flagged close: "refuse" the file (file and line) or replay it as missing.',
    )
    bar_interval: Literal["1m", "3m", "5m", "15m", "30m", "1h"] = Field(
        default="1h",
        description=(
            "Replay: bar interval of the kline files read (<SYMBOL>_<bar_interval>.csv.gz) and "
            "of the replay clock; below 1h the bars between hours mark positions, check the "
            "breakers, margin and the pairs' drift, and the strategies still decide hourly."
        ),
    )
    warmup: bool = Field(
        default=True,
        description=(
            "Replay with a start: load the history the strategies ask for (their largest "
            "history_bars, hours) before the window and do not trade in it; false starts cold."
        ),
    )
    stale_after_s: int = Field(
        default=7200, gt=0, description="A price older than this is stale, seconds."
    )
    reference_instrument: str = Field(
        default="binance:perp:BTCUSDT",
        description='The market reference, "venue:kind:SYMBOL" (kind perp or spot): its price '
        "is the BTC price of equity snapshots, its history is loaded for beta calculations.",
    )
    live_bar_delay_s: int = Field(
        default=15,
        ge=0,
        le=600,
        description='source = "live": wait this long after each hour before fetching the '
        "closed 1h bar and the settled funding, seconds.",
    )
    live_mark_every_s: int = Field(
        default=60,
        ge=5,
        le=3600,
        description='source = "live": mark positions to the streamed mark prices (and check '
        "the breakers) this often between hourly bars, seconds.",
    )
    live_funding_history_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description='source = "live": settled funding read at start-up (funding interval '
        "and latest rate of each perp), days.",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_is_midnight_utc(cls, value: Any) -> Any:
        """Turn a bare date into 00:00 UTC of that day (TOML dates and CLI dates)."""
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    @field_validator("start", "end")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        """Naive datetimes are UTC; aware ones are converted to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("reference_instrument")
    @classmethod
    def _known_instrument(cls, value: str) -> str:
        """``venue:kind:SYMBOL`` with a registry venue, kind perp or spot and a symbol."""
        parts = value.split(":")
        if len(parts) != 3 or any(not p or p != p.strip() for p in parts):
            raise ValueError(
                f'{value!r} is not of the form venue:kind:SYMBOL (e.g. "binance:perp:BTCUSDT")'
            )
        venue, kind, _ = parts
        if venue not in VENUE_NAMES:
            raise ValueError(f"unknown venue {venue!r}; known: {', '.join(VENUE_NAMES)}")
        kinds = [InstrumentKind.SPOT.value, InstrumentKind.PERP.value]  # no option reference
        if kind not in kinds:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(kinds)}")
        return value

    @property
    def reference_instrument_id(self) -> InstrumentId:
        """:attr:`reference_instrument` as an :class:`~venues.model.InstrumentId`."""
        return InstrumentId.parse(self.reference_instrument)

    @model_validator(mode="after")
    def _window_ordered(self) -> MarketDataConfig:
        """``start`` must come before ``end`` when both are set."""
        if self.start is not None and self.end is not None and self.start >= self.end:
            order = f"{self.end.isoformat()} <= {self.start.isoformat()}"
            raise FieldErrors([("end", f"must be after start ({order})")])
        return self

    @model_validator(mode="after")
    def _bar_interval_is_replay_only(self) -> MarketDataConfig:
        """A live feed steps hourly with marks every ``live_mark_every_s``: no bar interval."""
        if self.source == "live" and self.bar_interval != "1h":
            reason = (
                f'is {self.bar_interval!r}, but it applies to source = "replay" only (live '
                "runs step hourly and mark every live_mark_every_s); leave it at 1h"
            )
            raise FieldErrors([("bar_interval", reason)])
        return self


class CapitalConfig(BaseModel):
    """``[capital]``: starting equity and the assets counted as cash."""

    model_config = _FROZEN

    initial_equity_usd: float = Field(
        default=100_000.0, gt=0, description="Equity at the start of a paper/replay run, USD."
    )
    quote_assets: tuple[str, ...] = Field(
        default=("USDT", "USDC"),
        min_length=1,
        description="Stablecoins counted 1:1 as USD in equity.",
    )

    @field_validator("quote_assets")
    @classmethod
    def _assets_upper_unique(cls, assets: tuple[str, ...]) -> tuple[str, ...]:
        """Upper-case asset codes, no blanks, no duplicates."""
        cleaned = tuple(a.strip().upper() for a in assets)
        if any(not a for a in cleaned):
            raise ValueError("asset codes must not be blank")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"asset codes listed more than once: {list(cleaned)}")
        return cleaned


class VenueConfig(BaseModel):
    """``[venues.<name>]``: one venue's collateral, costs, leverage and credentials.

    Defaults for each venue come from :data:`VENUE_DEFAULTS` (fee schedules of the base
    tier: Binance USDⓈ-M and spot, Bybit derivatives and spot, Hyperliquid perps and spot fee
    pages). Negative maker fees (rebates) are allowed.
    """

    model_config = _FROZEN

    enabled: bool = Field(description="Trade on (and read funding from) this venue.")
    collateral_frac: float = Field(
        ge=0.0, le=1.0, description="Share of initial equity deposited on the venue, fraction."
    )
    perp_maker_fee_bps: float = Field(ge=-10.0, le=100.0, description="Perp maker fee, bps.")
    perp_taker_fee_bps: float = Field(ge=0.0, le=100.0, description="Perp taker fee, bps.")
    spot_maker_fee_bps: float = Field(ge=-10.0, le=100.0, description="Spot maker fee, bps.")
    spot_taker_fee_bps: float = Field(ge=0.0, le=100.0, description="Spot taker fee, bps.")
    slippage_bps: float = Field(
        default=2.0, ge=0.0, le=500.0, description="Simulated fill slippage, bps."
    )
    perp_leverage: float = Field(
        default=3.0, ge=1.0, le=125.0, description="Leverage set on perp positions, ×."
    )
    maintenance_margin_frac: float = Field(
        default=0.005,
        ge=0.0,
        lt=1.0,
        description="Paper venue: maintenance margin rate of every perp (flat), fraction of "
        "notional; it sets the modelled liquidation prices (live venues report their own).",
    )
    maker_fill_volume_frac: float = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="Paper venue: most of a bar's traded volume a resting (maker) order may "
        "fill, fraction (it fills only when the bar trades through its limit by a tick).",
    )
    fault_reject_frac: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Paper venue: share of orders refused (injected leg fault; 0 = off).",
    )
    fault_partial_frac: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Paper venue: share of orders filling only half (the rest expires).",
    )
    fault_unknown_frac: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Paper venue: share of orders that fill but whose answer is lost.",
    )
    fault_seed: int = Field(
        default=0, description="Paper venue: seed of the injected faults' choice (deterministic)."
    )
    rest_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="REST base URL override (testnet, a proxy); None = the venue's production URL.",
    )
    ws_url: str | None = Field(
        default=None,
        pattern=r"^wss?://\S+$",
        description="Websocket URL override; None = the venue's production URL.",
    )
    api_key: SecretStr | None = Field(default=None, description="API key (env/secrets only).")
    api_secret: SecretStr | None = Field(default=None, description="API secret (env/secrets).")
    api_passphrase: SecretStr | None = Field(
        default=None, description="API passphrase where the venue has one (env/secrets)."
    )

    @field_validator(*SECRET_FIELDS, mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: Any) -> Any:
        """An empty secret file or variable means "not set", never an empty credential."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _maintenance_below_initial(self) -> VenueConfig:
        """A position opened at ``perp_leverage`` must hold more than its maintenance margin
        (else the paper venue would model it liquidated as it opens)."""
        if self.maintenance_margin_frac * self.perp_leverage >= 1.0:
            reason = (
                f"must be below 1 / perp_leverage ({self.maintenance_margin_frac} × "
                f"{self.perp_leverage} ≥ 1)"
            )
            raise FieldErrors([("maintenance_margin_frac", reason)])
        shares = self.fault_reject_frac + self.fault_partial_frac + self.fault_unknown_frac
        if shares > 1.0:
            reason = f"fault_reject_frac + fault_partial_frac + fault_unknown_frac = {shares} > 1"
            raise FieldErrors([("fault_reject_frac", reason)])
        return self


# Base-tier fee schedules, bps, keyed by the registry's venue names (checked below at import).
# Hyperliquid's spot fees (4/7) are its spot schedule; the bundled data has no Hyperliquid spot
# market, so they only matter on a live venue.
VENUE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "binance": {
        "enabled": True,
        "collateral_frac": 0.5,
        "perp_maker_fee_bps": 2.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 10.0,
        "spot_taker_fee_bps": 10.0,
    },
    "bybit": {
        "enabled": True,
        "collateral_frac": 0.25,
        "perp_maker_fee_bps": 2.0,
        "perp_taker_fee_bps": 5.5,
        "spot_maker_fee_bps": 10.0,
        "spot_taker_fee_bps": 10.0,
    },
    "hyperliquid": {
        "enabled": True,
        "collateral_frac": 0.25,
        "perp_maker_fee_bps": 1.5,
        "perp_taker_fee_bps": 4.5,
        "spot_maker_fee_bps": 4.0,
        "spot_taker_fee_bps": 7.0,
    },
    # OKX regular tier (swap 0.02 %/0.05 %, spot 0.08 %/0.10 %).
    "okx": {
        "enabled": False,
        "collateral_frac": 0.0,
        "perp_maker_fee_bps": 2.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 8.0,
        "spot_taker_fee_bps": 10.0,
    },
    # Purple Flea publishes no fee schedule in the sources: conservative placeholders.
    "purpleflea": {
        "enabled": False,
        "collateral_frac": 0.0,
        "perp_maker_fee_bps": 5.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 10.0,
        "spot_taker_fee_bps": 10.0,
    },
    # Deribit linear (USDC) perpetuals: maker 0 %, taker 0.05 % (its fee page); off by default.
    "deribit": {
        "enabled": False,
        "collateral_frac": 0.0,
        "perp_maker_fee_bps": 0.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 0.0,
        "spot_taker_fee_bps": 0.0,
    },
    # dYdX v4 base tier (maker 0.01 %, taker 0.05 %); perps only, market data only live.
    "dydx": {
        "enabled": False,
        "collateral_frac": 0.0,
        "perp_maker_fee_bps": 1.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 0.0,
        "spot_taker_fee_bps": 0.0,
    },
}


def venue_defaults_mismatch(
    defaults: Mapping[str, Mapping[str, Any]], names: tuple[str, ...]
) -> str | None:
    """Why ``defaults`` is not keyed by exactly the venue ``names``, or None when it is."""
    missing = [n for n in names if n not in defaults]
    extra = [n for n in defaults if n not in names]
    if not missing and not extra:
        return None
    return f"VENUE_DEFAULTS and venues.registry.VENUES differ: missing {missing}, extra {extra}"


_MISMATCH = venue_defaults_mismatch(VENUE_DEFAULTS, VENUE_NAMES)
if _MISMATCH is not None:  # a programming error: fail at import, not on some later lookup
    raise RuntimeError(_MISMATCH)


def default_venues() -> dict[str, VenueConfig]:
    """One :class:`VenueConfig` per registry venue, each with its :data:`VENUE_DEFAULTS`."""
    return {name: VenueConfig(**VENUE_DEFAULTS[name]) for name in VENUE_NAMES}


class RiskConfig(BaseModel):
    """``[risk]``: pre-trade limits and drawdown circuit breakers (SEEDS.md, risk section)."""

    model_config = _FROZEN

    max_position_frac: float = Field(
        default=0.10, gt=0.0, le=1.0, description="Max |notional| per instrument / equity."
    )
    max_leverage: float = Field(
        default=2.0, gt=0.0, le=10.0, description="Max gross notional / equity, ×."
    )
    max_venue_frac: float = Field(
        default=0.30,
        gt=0.0,
        le=1.0,
        description="Max capital committed on one venue (spot holdings + perp margin) / equity.",
    )
    max_order_notional_usd: float = Field(
        default=10_000.0, gt=0.0, description="Max notional of a single order, USD."
    )
    daily_drawdown_frac: float = Field(
        default=0.05, gt=0.0, lt=1.0, description="Breaker: loss from the UTC day's open, fraction."
    )
    total_drawdown_frac: float = Field(
        default=0.10, gt=0.0, lt=1.0, description="Breaker: loss from the all-time high, fraction."
    )
    flatten_on_breaker: bool = Field(
        default=False, description="Close every position when a breaker trips (else only halt)."
    )
    margin_alert_frac: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="Alert (margin_low) when a venue's free margin / collateral falls below.",
    )
    funding_gap_alert_bps: float = Field(
        default=1.0,
        ge=0.0,
        description="Alert (funding_gap) when a live funding payment differs from −rate × "
        "position × mark by more than this share of the position's notional, bps ...",
    )
    funding_gap_alert_floor_usd: float = Field(
        default=1.0,
        ge=0.0,
        description="... and by more than this amount, USD (rounding on small positions).",
    )
    liquidation_distance_frac: float = Field(
        default=0.10,
        ge=0.0,
        lt=1.0,
        description="Reduce a pair together (alert liquidation_distance_low) when one of its "
        "perp legs is closer than this to its liquidation price (|mark − liq| / mark); 0 = off.",
    )
    liquidation_reduce_frac: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of every leg of such a pair closed at each check it stays below.",
    )
    venue_unhealthy_after_s: float = Field(
        default=120.0,
        gt=0.0,
        le=86_400.0,
        description="A venue whose REST calls or mark stream fail for this long is unhealthy: "
        "no new positions there, alert venue_unhealthy, s.",
    )
    unhealthy_venue_policy: Literal["hold", "reduce"] = Field(
        default="hold",
        description='The other legs of pairs with a leg on an unhealthy venue: "hold" keeps '
        'them; "reduce" closes them (closing intents).',
    )

    @model_validator(mode="after")
    def _daily_within_total(self) -> RiskConfig:
        """The daily breaker must trip no later than the total one."""
        if self.daily_drawdown_frac > self.total_drawdown_frac:
            raise FieldErrors(
                [
                    (
                        "daily_drawdown_frac",
                        f"must not exceed total_drawdown_frac ({self.daily_drawdown_frac} > "
                        f"{self.total_drawdown_frac})",
                    )
                ]
            )
        return self


class ExecutionConfig(BaseModel):
    """``[execution]``: rebalancing threshold and pair-order handling."""

    model_config = _FROZEN

    drift_frac: float = Field(
        default=0.008, gt=0.0, lt=1.0, description="Trade only when a leg is off target by more."
    )
    drift_check: Literal["position", "ratio"] = Field(
        default="position",
        description=(
            'Between strategy cycles, "position": a standing pair is traded back when a leg\'s '
            'position left its target (a fill); "ratio": also when prices moved the legs\' '
            "notional ratio more than drift_frac from the ratio their targets were set at "
            "(checked every step, every sub-hour replay bar and every live mark tick)."
        ),
    )
    max_attempts: int = Field(
        default=2, ge=1, le=10, description="Attempts to complete a failed leg before unwinding."
    )
    leg_timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="Wait for one leg's outcome, seconds."
    )
    not_found_grace_s: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="An order the venue says it does not know within this time of its send "
        "may still be in flight: kept unresolved and looked up again; after it, never placed.",
    )
    on_shutdown: Literal["leave", "cancel_orders", "flatten"] = Field(
        default="leave",
        description="On SIGTERM/SIGINT: leave positions, cancel resting orders, or flatten.",
    )
    on_shutdown_timeout_s: float = Field(
        default=30.0, gt=0.0, le=600.0, description="Deadline of the on_shutdown flatten, s."
    )


DEFAULT_NAKED_BUDGET_USD_S = 3600.0
"""Default ``naked_budget_usd_s``: one minute (the live mark tick, ``live_mark_every_s``) of
60 USD unhedged, or one second of 3,600 USD. Far below any real pair's notional × one tick, so
a leg left naked by a failed unwind or an unknown order is completed or unwound at the first
check after it shows (a mark tick, or the hourly step) instead of staying naked until a
person acts; a residual of a few dollars may ride a few ticks."""

LegPolicy = Literal["simultaneous", "sequential"]
"""How a pair's legs go out: ``simultaneous`` (all at once, today's default) or
``sequential`` (the less liquid leg first, the others sized to what it filled)."""

ExecutionStyle = Literal["taker", "maker_first"]
"""How a strategy's orders meet the book: ``taker`` (IOC/market, today's default) or
``maker_first`` (post-only limits at the touch, re-quoted, the rest as taker after
``maker_deadline_s``: :mod:`agent.execution.maker`)."""

DEFAULT_MAKER_DEADLINE_S = 3600.0
"""Default ``maker_deadline_s``: one hour, i.e. one bar of the default (hourly) replay."""


class LegRiskConfig(BaseModel):
    """Leg-risk settings every ``[strategies.<name>]`` section may hold besides its strategy's
    own parameters (``leg_policy``, ``naked_budget_usd_s``): read by
    :mod:`agent.config.strategy_sections`, used by :mod:`agent.execution.exposure`.

    Attributes
    ----------
    leg_policy : LegPolicy
        ``"simultaneous"`` (default): every leg at once; ``"sequential"``: the less liquid leg
        first, the others only once it filled and sized to what it filled.
    naked_budget_usd_s : float
        Unhedged notional integrated over time a pair may accumulate while unbalanced before
        the engine completes or unwinds it with aggressive orders, USD·s (>= 0; 0 = act at the
        first check that finds it unbalanced). Default :data:`DEFAULT_NAKED_BUDGET_USD_S`.
    execution_style : ExecutionStyle
        ``"taker"`` (default): IOC/market orders; ``"maker_first"``: post-only limit orders at
        the touch, re-quoted as it moves, the rest sent as taker after ``maker_deadline_s``
        (sequential pairs: the less liquid leg passive, the others hedged as taker on its
        fills; :mod:`agent.execution.maker`).
    maker_deadline_s : float
        How long a ``maker_first`` order may rest before the rest goes as taker, s (> 0;
        counted on the agent's clock: in a replay a multiple of the bar interval).
    """

    model_config = _FROZEN

    leg_policy: LegPolicy = Field(
        default="simultaneous",
        description="simultaneous (every leg at once) or sequential (less liquid leg first).",
    )
    naked_budget_usd_s: float = Field(
        default=DEFAULT_NAKED_BUDGET_USD_S,
        ge=0.0,
        description="Unhedged USD·s a pair may accumulate before it is completed or unwound.",
    )
    execution_style: ExecutionStyle = Field(
        default="taker",
        description="taker (IOC/market) or maker_first (post-only at the touch, then taker).",
    )
    maker_deadline_s: float = Field(
        default=DEFAULT_MAKER_DEADLINE_S,
        gt=0.0,
        description="maker_first: seconds an order may rest before the rest goes as taker.",
    )


class OptionChainConfig(BaseModel):
    """``[option_chain]``: model-priced options for a replay (no recorded option prices exist).

    Each hourly step lists, for every underlying perp, weekly expiries and a strike grid
    (:mod:`strategies.options.chain`) priced by Black-76 with the forward = the perp's close and
    rate 0, at the implied volatility ``iv_source`` gives; held options are marked the same way
    and settle at intrinsic value at their expiry (08:00 UTC).
    """

    model_config = _FROZEN

    enabled: bool = Field(default=False, description="List and price model options.")
    venue: str = Field(
        default="binance", description="Paper venue that lists and holds the options."
    )
    underlyings: list[str] = Field(
        default_factory=lambda: ["BTCUSDT"],
        min_length=1,
        description="Perps of `venue` whose closes are the options' forwards.",
    )
    iv_source: Literal["flat", "term", "realized_spread"] = Field(
        default="flat",
        description='"flat": flat_iv_frac; "term": term_iv_points; "realized_spread": '
        "realized volatility of the last realized_window_bars hourly returns + "
        "realized_spread_frac.",
    )
    flat_iv_frac: float = Field(default=0.55, gt=0, le=5, description="Flat implied vol.")
    term_iv_points: list[tuple[float, float]] = Field(
        default_factory=lambda: [(7.0, 0.50), (30.0, 0.55), (90.0, 0.60)],
        min_length=1,
        description="(days to expiry, implied vol) points; total variance interpolated.",
    )
    realized_window_bars: int = Field(
        default=720, ge=2, description="Hourly returns in the realized-volatility window."
    )
    realized_spread_frac: float = Field(
        default=0.05, ge=-1, le=5, description="Added to realized volatility (0.05 = 5 points)."
    )
    strike_step_usd: dict[str, float] = Field(
        default_factory=lambda: {"BTC": 1000.0, "ETH": 50.0},
        description="Strike grid per base asset, USD.",
    )
    strike_range_frac: float = Field(
        default=0.3, gt=0, lt=1, description="Strikes within forward × (1 ± this)."
    )
    listing_days: float = Field(default=120.0, gt=0, description="Expiries listed ahead, days.")
    expiry_weekday: int = Field(default=4, ge=0, le=6, description="Expiry weekday, Monday = 0.")
    price_tick_usd: float = Field(default=0.01, gt=0, description="Option price tick, USD.")
    lot_step_coin: float = Field(
        default=0.1, gt=0, description="Option quantity step = minimum, coins."
    )

    @model_validator(mode="after")
    def _check(self) -> OptionChainConfig:
        bases = {_perp_base(s) for s in self.underlyings}
        missing = sorted(b for b in bases if b not in self.strike_step_usd)
        if missing:
            raise ValueError(f"strike_step_usd has no step for {', '.join(missing)}")
        if any(v <= 0 for v in self.strike_step_usd.values()):
            raise ValueError("strike_step_usd values must be > 0")
        return self


def _perp_base(symbol: str) -> str:
    for quote in ("USDT", "USDC"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    raise ValueError(f"underlying {symbol!r} is not a USDT or USDC perp symbol")


class JournalConfig(BaseModel):
    """``[journal]``: the SQLite journal."""

    model_config = _FROZEN

    path: Path = Field(
        default=Path("runs/zerobeta.sqlite"),
        description="Journal file; relative paths are relative to the working directory.",
    )
    snapshot_every_s: int = Field(
        default=3600, gt=0, description="Equity snapshot interval, seconds (clock time)."
    )
    state_every_s: int = Field(
        default=86_400,
        gt=0,
        description="A strategy's changed state is journaled when it traded, else at most this "
        "often, seconds (clock time); the last state is always journaled at the end.",
    )
    overwrite: bool = Field(
        default=True,
        description="Replay: delete an existing journal first (true) or append (false); "
        "live runs always append.",
    )


class LoggingConfig(BaseModel):
    """``[logging]``: structured log output (see ``agent.logs``)."""

    model_config = _FROZEN

    level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info", description="Lowest level written."
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto = console on a terminal, JSON lines otherwise."
    )
    progress: bool = Field(default=True, description="Progress bar on a terminal during replay.")

    @field_validator("level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        """Accept ``INFO`` as well as ``info``."""
        return value.lower() if isinstance(value, str) else value


class ControlConfig(BaseModel):
    """``[control]``: the HTTP control surface (``/healthz``, ``/status``, ``/metrics``; see
    :mod:`agent.control`).

    ``http = "auto"`` serves it for runs on live data (paper on live, live) and not for replays;
    ``"on"`` / ``"off"`` force it. It listens on ``http_bind``, a loopback address unless
    ``allow_public_bind`` says otherwise: the endpoint has no authentication.

    Raises
    ------
    pydantic.ValidationError
        On a bind address that is not an IP address (or ``localhost``), or one that is not
        loopback while ``allow_public_bind`` is false.
    """

    model_config = _FROZEN

    http: Literal["auto", "on", "off"] = Field(
        default="auto",
        description='Serve the HTTP endpoint: "auto" = on for source = "live", off for replays.',
    )
    http_bind: str = Field(
        default="127.0.0.1",
        description="Address the endpoint listens on: an IP address or localhost.",
    )
    http_port: int = Field(
        default=9108, ge=0, le=65535, description="TCP port; 0 = any free port (tests)."
    )
    allow_public_bind: bool = Field(
        default=False,
        description="Allow a non-loopback http_bind (0.0.0.0, a LAN address): no authentication.",
    )
    heartbeat_s: float = Field(
        default=1.0, gt=0.0, le=60.0, description="Event-loop heartbeat interval, seconds."
    )
    heartbeat_timeout_s: float = Field(
        default=5.0,
        gt=0.0,
        le=300.0,
        description="/healthz fails when the heartbeat is older than this, seconds.",
    )

    def http_enabled(self, source: str) -> bool:
        """Whether a run reading ``source`` (``[market_data] source``) serves the endpoint."""
        return self.http == "on" or (self.http == "auto" and source == "live")

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> ControlConfig:
        """A public bind address needs ``allow_public_bind``; heartbeat within its timeout."""
        errors: list[tuple[str, str]] = []
        bind = self.http_bind
        try:
            loopback = bind == "localhost" or ipaddress.ip_address(bind).is_loopback
        except ValueError:
            errors.append(("http_bind", f"{bind!r} is not an IP address or localhost"))
        else:
            if not loopback and not self.allow_public_bind:
                reason = (
                    f"{bind} is not a loopback address and the endpoint has no authentication; "
                    "set allow_public_bind = true to serve it there"
                )
                errors.append(("http_bind", reason))
        if self.heartbeat_s >= self.heartbeat_timeout_s:
            reason = f"must exceed heartbeat_s ({self.heartbeat_timeout_s} <= {self.heartbeat_s})"
            errors.append(("heartbeat_timeout_s", reason))
        if errors:
            raise FieldErrors(errors)
        return self


DEFAULT_ALERT_KINDS = (
    "circuit_breaker_tripped",
    "kill_switch",
    "position_mismatch",
    "margin_low",
    "funding_flip_close",
    "funding_interval_changed",
    "unresolved_order_stuck",
    "unresolved_order_reverse_incomplete",
    "pair_unwind_failed",
    "pair_past_budget",
    "agent_failed",
    "start_refused",
    "liquidation_distance_low",
    "venue_unhealthy",
    "venue_recovered",
)
"""The alert kinds sent to a person by default (:mod:`agent.notify` names each one)."""
_URL_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_KIND_FORM = re.compile(r"^[a-z][a-z0-9_]*$")


class AlertsConfig(BaseModel):
    """``[alerts]``: notifications to a person (:mod:`agent.notify`, through apprise).

    ``urls`` holds the apprise URLs (Telegram, Slack, Discord, e-mail, webhooks...) separated
    by whitespace; they carry tokens, so like API keys they come only from the environment
    (``ZEROBETA_ALERTS__URLS``) or the secrets directory (``alerts__urls``). Unset = no
    notifications. Validation messages never repeat a URL.

    Raises
    ------
    pydantic.ValidationError
        On a URL not of the form ``scheme://...``, or a kind that is not snake_case or is
        listed twice.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, hide_input_in_errors=True
    )

    urls: SecretStr | None = Field(
        default=None,
        description="Apprise URLs separated by whitespace (environment/secrets directory only).",
    )
    kinds: tuple[str, ...] = Field(
        default=DEFAULT_ALERT_KINDS,
        description="Alert kinds sent (a strategy's own alert kinds may be added).",
    )
    in_replay: bool = Field(
        default=False, description="Also send from replays and backtests (default: never)."
    )
    dedup_window_s: int = Field(
        default=3600,
        ge=0,
        le=7 * 86_400,
        description="The same kind and key is sent once per this window, seconds (0 = always).",
    )
    max_per_minute: int = Field(
        default=10, ge=1, le=600, description="Notifications sent per minute at most (count)."
    )
    queue_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Notifications waiting to be sent; beyond it the oldest is dropped (count).",
    )
    send_timeout_s: float = Field(
        default=10.0,
        gt=0.0,
        le=120.0,
        description="Longest wait for one notification to be sent, seconds.",
    )
    title_prefix: str = Field(
        default="zerobeta",
        max_length=64,
        description="Start of every notification title (names the process to the reader).",
    )

    @field_validator("urls", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """An empty secret file or variable means "not set"."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("urls")
    @classmethod
    def _urls_have_a_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        """Every URL of the list is ``scheme://...`` (apprise checks the rest at start)."""
        if value is None:
            return None
        urls = value.get_secret_value().split()
        bad = [i for i, url in enumerate(urls, 1) if not _URL_FORM.match(url)]
        if bad:
            which = ", ".join(str(i) for i in bad)
            raise ValueError(
                f"URL {which} of {len(urls)} is not of the form scheme://... (apprise URLs "
                "separated by whitespace: https://github.com/caronc/apprise/wiki)"
            )
        return value

    @field_validator("kinds")
    @classmethod
    def _snake_case_unique(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        """Kinds are snake_case names (``margin_low``), each listed once."""
        bad = [k for k in kinds if not _KIND_FORM.match(k)]
        if bad:
            raise ValueError(f"not snake_case alert kinds: {bad}")
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"alert kinds listed more than once: {list(kinds)}")
        return kinds

    def url_list(self) -> list[str]:
        """The URLs, in order (empty when unset). Secrets: never log them."""
        return [] if self.urls is None else self.urls.get_secret_value().split()
