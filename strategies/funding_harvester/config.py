"""Configuration of the funding harvester (the ``[strategies.funding_harvester]`` section).

Defaults follow SEEDS.md ("Perpetual funding, basis and cash-and-carry"; agent defaults:
hourly checks, a basis stop at 2× entry, a maximum holding period).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from strategies.common import AdvWindowH

DEFAULT_SYMBOLS = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "BNBUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "LTCUSDT",
]


class FundingHarvesterConfig(BaseModel):
    """Settings of the cash-and-carry strategy (long spot + short perp, same venue).

    Raises
    ------
    pydantic.ValidationError
        On unknown keys, out-of-range values, an empty or duplicated symbol list.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Run the strategy.")
    venue: str = Field(
        default="binance", min_length=1, description="Venue holding both the spot and perp legs."
    )
    symbols: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SYMBOLS),
        min_length=1,
        description="Venue symbols listed as both spot and perp (e.g. BTCUSDT).",
    )
    position_notional_usd: float = Field(
        default=4000.0, gt=0, description="Notional of each leg at entry, USD (spot price)."
    )
    max_positions: int = Field(default=3, ge=1, description="Most symbols held at once.")
    min_net_apr_frac: float = Field(
        default=0.05,
        ge=0,
        description="Minimum funding carry APR net of round-trip costs to enter (0.05 = 5 %).",
    )
    holding_horizon_h: float = Field(
        default=720.0, gt=0, description="Horizon over which round-trip costs are amortized, h."
    )
    rate_lookback_settlements: int = Field(
        default=9,
        ge=1,
        description=(
            "Settled rates (each normalized per hour) averaged into the carry estimate; "
            "no entry until this many have been seen."
        ),
    )
    flip_exit_settlements: int = Field(
        default=3,
        ge=1,
        description=(
            "After this many consecutive adverse settlements, exit if the adverse funding "
            "expected over flip_exit_horizon_h costs more than closing both legs."
        ),
    )
    flip_exit_horizon_h: float = Field(
        default=24.0,
        gt=0,
        description=(
            "Horizon of the adverse funding weighed against the closing cost in the flip "
            "exit (the funding-flip monitor's rule), h."
        ),
    )
    basis_take_enabled: bool = Field(
        default=True,
        description="Take the basis once it has converged (basis_take_frac), net of costs.",
    )
    basis_take_frac: float = Field(
        default=0.25,
        ge=0,
        lt=1,
        description=(
            "Exit a position entered at a positive basis once the basis is at or below this "
            "× the entry basis and the compression (entry − now) exceeds the round-trip cost."
        ),
    )
    high_funding_8h_frac: float = Field(
        default=0.0005,
        gt=0,
        description=(
            "An entry whose latest settled rate (8h equivalent) is above this, its carry "
            "estimate above funding_normal_mult × its trailing median, is a high-funding "
            "entry, exited when funding normalizes (0.0005 = 0.05 %/8h)."
        ),
    )
    funding_normal_mult: float = Field(
        default=1.5,
        ge=0,
        description=(
            "A high-funding entry exits once the carry estimate falls to this × the trailing "
            "median rate recorded at entry (0 disables the exit)."
        ),
    )
    funding_median_settlements: int = Field(
        default=90,
        ge=1,
        description=(
            "Settled rates in the trailing median of the funding-normalized exit (fewer early "
            "in a run: every rate recorded)."
        ),
    )
    max_short_adv_frac: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description=(
            "Cap the short perp at this fraction of its average daily volume (no cap while "
            "the ADV is unknown)."
        ),
    )
    adv_window_h: AdvWindowH = 168

    delta_rebalance_frac: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "Rebalance a position's legs when |net delta| exceeds this fraction of the "
            "position value; legs are otherwise left to drift."
        ),
    )
    basis_stop_mult: float = Field(
        default=2.0, ge=1.0, description="Stop when the basis widens beyond this × entry basis."
    )
    basis_stop_floor_bps: float = Field(
        default=50.0, ge=0, description="Minimum distance of the basis stop from entry, bps."
    )
    max_holding_h: float = Field(default=720.0, gt=0, description="Maximum holding period, h.")
    cadence_s: int = Field(default=3600, gt=0, description="Decision cadence, seconds.")

    @field_validator("symbols")
    @classmethod
    def _symbols_unique(cls, symbols: list[str]) -> list[str]:
        """Reject blank or duplicated symbols."""
        if any(not s.strip() for s in symbols):
            raise ValueError(f"symbols must not contain blank entries: {symbols!r}")
        duplicated = sorted({s for s in symbols if symbols.count(s) > 1})
        if duplicated:
            raise ValueError(f"symbols listed more than once: {duplicated!r}")
        return symbols
