"""Configuration of the cross-venue funding arbitrage (``[strategies.cross_venue_arb]``).

Defaults: the spread thresholds, horizon and holding limit come from the issue that added the
strategy. The default symbols are the ten majors with funding on all three venues in the
bundled data (``venues/replay/data``); INJ, TIA and TON also have funding on all three from
2025-08-21 and can be added (ADA and DOT have Binance funding only).
"""

from __future__ import annotations

from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from strategies.common import AdvWindowH, MaxShortAdvFrac

KNOWN_VENUES: Final = ("binance", "bybit", "hyperliquid", "okx")
DEFAULT_VENUES: Final = ("binance", "bybit", "hyperliquid")
DEFAULT_SYMBOLS: Final = (
    "BTC",
    "ETH",
    "SOL",
    "BNB",
    "XRP",
    "DOGE",
    "AVAX",
    "LINK",
    "LTC",
    "TRX",
)
_QUOTE_SUFFIXES: Final = ("USDT", "USDC", "USD")


class CrossVenueArbConfig(BaseModel):
    """Settings of the cross-venue funding arbitrage (long the perp with the lowest funding,
    short the perp with the highest, same asset, equal base quantity).

    Raises
    ------
    pydantic.ValidationError
        On unknown keys, out-of-range values, fewer than two or unknown venues, blank,
        duplicated or quote-suffixed symbols, or an exit threshold not below the entry one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        default=True,
        description=(
            "Run the strategy. An instance built with False opens nothing but still holds and "
            "exits what it has."
        ),
    )
    venues: list[str] = Field(
        default_factory=lambda: list(DEFAULT_VENUES),
        min_length=2,
        description="Venues whose perps may be legs (binance, bybit, hyperliquid, okx).",
    )
    symbols: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SYMBOLS),
        min_length=1,
        description="Base assets (BTC); each venue's perp symbol is derived from it.",
    )
    entry_spread_8h_frac: float = Field(
        default=0.0003,
        gt=0,
        description=(
            "Enter when the short leg's mean funding minus the long leg's, per hour × 8, "
            "exceeds this (fraction per 8 h; 0.0003 = 0.03 %)."
        ),
    )
    exit_spread_8h_frac: float = Field(
        default=0.00005,
        description="Exit when that spread falls below this (fraction per 8 h equivalent).",
    )
    holding_horizon_h: float = Field(
        default=72.0,
        gt=0,
        description="Expected holding period over which funding must cover round-trip costs, h.",
    )
    rate_lookback_h: float = Field(
        default=24.0,
        gt=0,
        description=(
            "Settlements of the last this many hours (at least the latest one) are averaged, "
            "weighted by interval, into each venue's carry estimate; no entry before this much "
            "history has been recorded, h."
        ),
    )
    min_net_apr_frac: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Minimum expected funding net of round-trip fees and slippage over the horizon, "
            "annualized (fraction; 0 = funding must at least cover the costs)."
        ),
    )
    position_notional_usd: float = Field(
        default=4000.0, gt=0, description="Notional of each leg at entry (Binance perp), USD."
    )
    max_positions: int = Field(default=3, ge=1, description="Most symbols held at once.")
    max_holding_h: float = Field(default=168.0, gt=0, description="Maximum holding period, h.")
    max_short_adv_frac: MaxShortAdvFrac = 0.02
    adv_window_h: AdvWindowH = 168
    delta_rebalance_frac: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "Rebalance a position's legs when |net delta| of the held legs exceeds this "
            "fraction of the position value; legs are otherwise left to drift that much."
        ),
    )
    cadence_s: int = Field(default=3600, gt=0, description="Decision cadence, seconds.")

    @field_validator("venues")
    @classmethod
    def _venues_known(cls, venues: list[str]) -> list[str]:
        """Reject unknown or duplicated venues."""
        unknown = sorted(set(venues) - set(KNOWN_VENUES))
        if unknown:
            raise ValueError(f"unknown venue(s) {unknown!r}; known: {list(KNOWN_VENUES)!r}")
        duplicated = sorted({v for v in venues if venues.count(v) > 1})
        if duplicated:
            raise ValueError(f"venues listed more than once: {duplicated!r}")
        return venues

    @field_validator("symbols")
    @classmethod
    def _symbols_are_bases(cls, symbols: list[str]) -> list[str]:
        """Reject blank, duplicated or quote-suffixed symbols (``BTCUSDT`` instead of ``BTC``)."""
        if any(not s.strip() or s != s.strip() for s in symbols):
            raise ValueError(f"symbols must not be blank or padded: {symbols!r}")
        suffixed = [s for s in symbols if s.endswith(_QUOTE_SUFFIXES) and s not in _QUOTE_SUFFIXES]
        if suffixed:
            raise ValueError(f"symbols are base assets (BTC, not BTCUSDT); got {suffixed!r}")
        duplicated = sorted({s for s in symbols if symbols.count(s) > 1})
        if duplicated:
            raise ValueError(f"symbols listed more than once: {duplicated!r}")
        return symbols

    @model_validator(mode="after")
    def _exit_below_entry(self) -> Self:
        """The exit threshold must lie below the entry one, or a new position exits at once."""
        if not self.exit_spread_8h_frac < self.entry_spread_8h_frac:
            raise ValueError(
                f"exit_spread_8h_frac ({self.exit_spread_8h_frac}) must be below "
                f"entry_spread_8h_frac ({self.entry_spread_8h_frac})"
            )
        return self
