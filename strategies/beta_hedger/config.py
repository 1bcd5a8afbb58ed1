"""Configuration of the beta hedger (``[strategies.beta_hedger]`` in agent.toml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_UNIVERSE = (
    "BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "LTC", "DOT", "TRX",
    "INJ", "TIA", "TON",
)  # fmt: skip


class BetaHedgerConfig(BaseModel):
    """Beta hedger settings (SEEDS.md "Beta estimation and hedging")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Run the strategy.")
    venue: str = Field(default="binance", description="Venue of the hedge perp and inventory.")
    hedge_symbol: str = Field(default="BTCUSDT", description="The hedge perp (the market).")
    universe: list[str] = Field(
        default_factory=lambda: list(DEFAULT_UNIVERSE),
        min_length=1,
        description="Base assets whose exposure is measured (betas from <base>USDT perps).",
    )
    beta_window_bars: int = Field(
        default=63, ge=2, description="Hourly log returns in the rolling beta window, bars."
    )
    beta_min_obs: int = Field(
        default=20, ge=2, description="Fewest returns for a beta; fewer means beta unknown."
    )
    rebalance_beta_frac: float = Field(
        default=0.10,
        gt=0,
        description="Re-hedge when |portfolio beta| (beta exposure / gross notional) exceeds this.",
    )
    inventory_usd: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "hedge_inventory mode: perps (symbol -> signed USD notional) the hedger holds for "
            "their expected alpha while hedging their market exposure; empty = hedge only."
        ),
    )
    cadence_s: int = Field(default=3600, gt=0, description="Decision cadence, seconds.")

    @model_validator(mode="after")
    def _check(self) -> BetaHedgerConfig:
        if self.beta_min_obs > self.beta_window_bars:
            raise ValueError("beta_min_obs must not exceed beta_window_bars")
        if not self.hedge_symbol.endswith("USDT"):
            raise ValueError(f"hedge_symbol {self.hedge_symbol!r} must be a USDT perp")
        return self
