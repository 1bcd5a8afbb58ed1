"""Configuration of the cointegration stat-arb strategy (the ``[strategies.stat_arb]`` section).

Defaults follow SEEDS.md ("Statistical arbitrage (pairs)", "Beta estimation and hedging"):
entry at |z| > 2, exit at |z| < 0.5, stop at |z| > 3.5, p < 0.05, 5 < half-life < 120 bars,
a 252-bar calibration window, a weekly re-test, 63-bar betas with at least 20 observations.
The ``health_*`` keys set the between-re-test health check (:mod:`strategies.stat_arb.health`).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    "DOTUSDT",
    "TRXUSDT",
]


class StatArbConfig(BaseModel):
    """Settings of the Engle–Granger pairs strategy on one venue's perpetuals.

    Raises
    ------
    pydantic.ValidationError
        On unknown keys, out-of-range values, blank or duplicated symbols, a market symbol
        not among the symbols, ``exit_z < entry_z < stop_z`` violated,
        ``half_life_min_bars ≥ half_life_max_bars``, ``health_p_value_max < p_value_max`` or
        ``beta_min_obs > beta_window_bars``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Run the strategy.")
    venue: str = Field(default="binance", min_length=1, description="Venue of every perp leg.")
    symbols: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SYMBOLS),
        min_length=2,
        description="Perpetual symbols scanned for pairs (venue spelling, e.g. BTCUSDT).",
    )
    market_symbol: str = Field(
        default="BTCUSDT", description="Market reference for betas; must be one of `symbols`."
    )
    calibration_bars: int = Field(
        default=252,
        ge=50,
        le=20_000,
        description="Hourly bars in the cointegration fit and in the z-score window.",
    )
    entry_z: float = Field(default=2.0, gt=0, description="Enter when |z| exceeds this.")
    exit_z: float = Field(
        default=0.5, ge=0, description="Exit (mean reverted) once z is back inside ±exit_z."
    )
    stop_z: float = Field(
        default=3.5, gt=0, description="Stop-loss when |z| moves beyond this; never enter past it."
    )
    p_value_max: float = Field(
        default=0.05, gt=0, le=1, description="Largest Engle–Granger p-value accepted (strict)."
    )
    half_life_min_bars: float = Field(
        default=5.0, ge=0, description="Shortest accepted OU half-life, bars (exclusive)."
    )
    half_life_max_bars: float = Field(
        default=120.0, gt=0, description="Longest accepted OU half-life, bars (exclusive)."
    )
    max_pairs: int = Field(default=3, ge=1, le=100, description="Most pairs open at once.")
    one_pair_per_asset: bool = Field(
        default=True, description="Select each asset in at most one candidate pair."
    )
    retest_every_h: int = Field(
        default=168, ge=1, description="Re-run the cointegration scan every this many hours."
    )
    max_holding_h: int = Field(default=240, ge=1, description="Close a pair after this many h.")
    leg_notional_usd: float = Field(
        default=3000.0,
        gt=0,
        description=(
            "Notional of the larger leg at entry, USD; leg B's notional is γ × leg A's "
            "(the position is the traded spread)."
        ),
    )
    beta_window_bars: int = Field(
        default=63, ge=2, description="Hourly log returns in the beta-to-market window."
    )
    beta_min_obs: int = Field(
        default=20, ge=2, description="Fewest returns for a beta; fewer means beta unknown."
    )
    beta_floor: float = Field(
        default=0.1,
        gt=0,
        description=(
            "Do not enter a pair whose leg beta is unknown or at or below this (its residual "
            "beta exposure, left to the beta hedger, could not be measured)."
        ),
    )
    resize_band_frac: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description=(
            "While holding, re-size leg B only when its spread-holding size "
            "(γ · qty_A · P_A / P_B) has moved more than this fraction from the size held "
            "(re-sizing on every price move churns fees), fraction."
        ),
    )
    cadence_s: int = Field(default=3600, gt=0, description="Decision cadence, seconds.")
    stress_sizing: bool = Field(
        default=True, description="Size pairs for stressed correlation (stressed_correlation)."
    )
    stressed_correlation: float = Field(
        default=0.4,
        ge=-1,
        le=1,
        description=(
            "Size each pair as if its legs' correlation moved to this value: notional × "
            "σ(measured ρ) / σ(stressed ρ) when that is below 1."
        ),
    )
    max_short_adv_frac: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description=(
            "Cap the short leg at this fraction of its average daily volume, both legs scaled "
            "alike (no cap while the ADV is unknown)."
        ),
    )
    adv_window_h: AdvWindowH = 168

    drift_noisy_spread_vol_h_frac: float = Field(
        default=0.006,
        ge=0,
        description=(
            "A pair whose spread's hourly volatility (std of ΔS over calibration_bars) is above "
            "this is noisy (drift_frac_noisy), else stable (drift_frac_stable); 0: every pair "
            "uses [execution] drift_frac."
        ),
    )
    drift_frac_noisy: float = Field(
        default=0.005, gt=0, lt=1, description="Drift threshold of a noisy pair's legs."
    )
    drift_frac_stable: float = Field(
        default=0.012, gt=0, lt=1, description="Drift threshold of a stable pair's legs."
    )
    health_check: bool = Field(
        default=True,
        description=(
            "Watch every open pair's cointegration each bar (rolling Engle–Granger p-value, "
            "half-life drift, Kalman hedge-ratio drift) and retire a broken pair before its "
            "re-test; also gates entries."
        ),
    )
    health_p_value_max: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description=(
            "Retire when the rolling Engle–Granger p-value (last calibration_bars, the "
            "re-test's ADF lags) exceeds this, probability."
        ),
    )
    health_half_life_ratio_max: float = Field(
        default=4.0,
        gt=1,
        description=(
            "Retire when the held spread's half-life over the last calibration_bars exceeds "
            "this multiple of the fitted half-life (or it no longer mean-reverts), ratio."
        ),
    )
    health_hedge_drift_max_sigma: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Retire when |γ_kalman − γ_fit| · sd(log B) exceeds this many spread standard "
            "deviations (the mis-hedge's swing in units of the spread's own), sigma."
        ),
    )
    health_kalman_memory_bars: int = Field(
        default=72,
        ge=2,
        le=20_000,
        description=(
            "Memory of the Kalman hedge-ratio filter: discount factor 1 − 1/memory "
            "(observations weigh discount^age), hourly bars."
        ),
    )

    @field_validator("symbols")
    @classmethod
    def _symbols_unique(cls, symbols: list[str]) -> list[str]:
        """Reject blank or duplicated symbols."""
        if any(not s.strip() for s in symbols):
            raise ValueError("symbols must not be blank")
        duplicated = sorted({s for s in symbols if symbols.count(s) > 1})
        if duplicated:
            raise ValueError(f"symbols listed more than once: {duplicated}")
        return symbols

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Cross-field rules: z thresholds ordered, market among symbols, windows coherent."""
        if not self.exit_z < self.entry_z < self.stop_z:
            raise ValueError(
                f"need exit_z < entry_z < stop_z, got {self.exit_z}, {self.entry_z}, {self.stop_z}"
            )
        if self.market_symbol not in self.symbols:
            raise ValueError(f"market_symbol {self.market_symbol!r} is not in symbols")
        if self.half_life_min_bars >= self.half_life_max_bars:
            raise ValueError(
                f"half_life_min_bars {self.half_life_min_bars} must be < "
                f"half_life_max_bars {self.half_life_max_bars}"
            )
        if self.health_p_value_max < self.p_value_max:
            raise ValueError(
                f"health_p_value_max {self.health_p_value_max} must be >= p_value_max "
                f"{self.p_value_max} (a pair just qualified would be retired at once)"
            )
        if self.beta_min_obs > self.beta_window_bars:
            raise ValueError(
                f"beta_min_obs {self.beta_min_obs} exceeds beta_window_bars {self.beta_window_bars}"
            )
        return self
