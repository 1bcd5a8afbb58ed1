"""Configuration of the factor-neutral strategy (the ``[strategies.factor_neutral]`` section).

Defaults follow SEEDS.md ("Factor-neutral long/short construction": gross 2×, factor bands
0.02) except ``max_weight_frac``: SEEDS' 0.05 is meant for universes of hundreds of names;
with the 12 bundled perps a dollar-neutral book of gross 2 needs ``|w_i|`` up to at least
``2 / 12 ≈ 0.167`` on average, and at least ``2 · ceil(G / (2 M))`` assets, so 0.05 would be
infeasible (it needs 40 assets). 0.25 needs 8 of the 12 and leaves the optimizer room.

``enabled`` defaults to False so that adding the section to the agent changes no existing run.
Sizing meets the agent's risk limits: one leg is at most ``max_weight_frac × capital_usd``
(5,000 USD by default) and a leg that flips sign trades twice that in one order, which must
stay under ``[risk] max_order_notional_usd`` (10,000 USD as shipped) or the whole rebalance
intent is refused — ``max_weight_frac = 0.2`` or a larger order cap avoids it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from strategies.common import AdvWindowH, MaxShortAdvFrac
from strategies.factor_neutral.optimizer import min_assets_for

DEFAULT_SYMBOLS = (
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT",
    "ADAUSDT", "AVAXUSDT", "LINKUSDT", "LTCUSDT", "DOTUSDT", "TRXUSDT",
)  # fmt: skip

AlphaSignal = Literal["funding_carry", "momentum", "blend"]
Factor = Literal["momentum", "volatility"]
DEFAULT_FACTORS: tuple[Factor, ...] = ("momentum", "volatility")


class FactorNeutralConfig(BaseModel):
    """Settings of the factor-neutral long/short strategy over one venue's perps.

    Raises
    ------
    pydantic.ValidationError
        On unknown keys, out-of-range values, blank or duplicated symbols, a market symbol
        outside ``symbols``, a neutralized factor that is also the alpha, or a gross / max
        weight pair that ``symbols`` cannot carry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        default=False, description="Run the strategy (off unless its section enables it)."
    )
    venue: str = Field(default="binance", min_length=1, description="Venue of every perp leg.")
    symbols: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SYMBOLS),
        min_length=2,
        description="Perpetual symbols of the universe (venue spelling).",
    )
    market_symbol: str = Field(
        default="BTCUSDT", description="Market reference for betas; must be one of `symbols`."
    )
    alpha_signal: AlphaSignal = Field(
        default="funding_carry",
        description="Alpha: 'funding_carry' z(−funding/h), 'momentum' z(skip momentum), 'blend'.",
    )
    blend_carry_weight_frac: float = Field(
        default=0.5, ge=0, le=1, description="Weight of funding carry in the 'blend' alpha."
    )
    momentum_bars: int = Field(default=168, ge=1, description="Momentum lookback, hourly bars.")
    skip_bars: int = Field(
        default=24, ge=0, description="Most recent bars left out of momentum, hourly bars."
    )
    beta_window_bars: int = Field(
        default=168, ge=2, description="Hourly log returns in the beta-to-market window, bars."
    )
    beta_min_obs: int = Field(
        default=20, ge=2, description="Fewest returns for a beta; fewer: unknown, asset excluded."
    )
    vol_window_bars: int = Field(
        default=168, ge=2, description="Hourly log returns in the volatility factor, bars."
    )
    neutral_factors: list[Factor] = Field(
        default_factory=lambda: list(DEFAULT_FACTORS),
        description="Factors held within ±factor_tol (beta is always neutral; no size factor).",
    )
    factor_tol: float = Field(
        default=0.02, ge=0, description="Band |w·F_f| ≤ factor_tol on z-scored exposures."
    )
    gross_leverage: float = Field(
        default=2.0, gt=0, le=10, description="Σ|w|: gross notional over capital_usd, ×."
    )
    max_weight_frac: float = Field(
        default=0.25, gt=0, le=1, description="Largest |w_i|, fraction of capital_usd."
    )
    capital_usd: float = Field(
        default=20_000.0, gt=0, description="Capital the weights apply to, USD."
    )
    rebalance_every_h: int = Field(
        default=24, ge=1, description="Re-optimize the book every this many hours."
    )
    max_short_adv_frac: MaxShortAdvFrac = 0.02
    adv_window_h: AdvWindowH = 168
    delta_rebalance_frac: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description=(
            "Re-size the book at the current prices when the held legs' net delta (long "
            "notional + short notional) exceeds this fraction of the position value (half the "
            "gross notional); 0: the book keeps its refit's quantities until the next refit."
        ),
    )
    cadence_s: int = Field(
        default=3600, gt=0, description="Decision cadence (targets re-emitted), seconds."
    )

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

    @field_validator("neutral_factors")
    @classmethod
    def _factors_unique(cls, factors: list[Factor]) -> list[Factor]:
        """Reject a factor listed twice."""
        if len(set(factors)) != len(factors):
            raise ValueError(f"neutral_factors listed more than once: {factors!r}")
        return factors

    @model_validator(mode="after")
    def _check(self) -> FactorNeutralConfig:
        """Cross-field rules (see the class docstring)."""
        if self.market_symbol not in self.symbols:
            raise ValueError(f"market_symbol {self.market_symbol!r} must be one of symbols")
        if self.beta_min_obs > self.beta_window_bars:
            raise ValueError("beta_min_obs must not exceed beta_window_bars")
        if self.uses_momentum_alpha and "momentum" in self.neutral_factors:
            raise ValueError(
                f"alpha_signal {self.alpha_signal!r} trades momentum, so 'momentum' cannot also "
                "be in neutral_factors (the band would cancel the alpha); remove it"
            )
        need = min_assets_for(self.gross_leverage, self.max_weight_frac)
        if len(self.symbols) < need:
            raise ValueError(
                f"gross_leverage {self.gross_leverage} with max_weight_frac "
                f"{self.max_weight_frac} needs at least {need} symbols, got {len(self.symbols)}"
            )
        return self

    @property
    def uses_momentum_alpha(self) -> bool:
        """True when the alpha includes momentum ('momentum' or 'blend')."""
        return self.alpha_signal in ("momentum", "blend")

    @property
    def uses_funding_alpha(self) -> bool:
        """True when the alpha includes funding carry ('funding_carry' or 'blend')."""
        return self.alpha_signal in ("funding_carry", "blend")
