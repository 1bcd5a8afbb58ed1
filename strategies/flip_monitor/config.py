"""Configuration of the funding-flip monitor (``[strategies.funding_flip_monitor]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FlipMonitorConfig(BaseModel):
    """Funding-flip monitor settings (SEEDS.md "Funding-flip monitor")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Run the monitor.")
    guarded_strategies: list[str] = Field(
        default_factory=lambda: ["funding_harvester", "cross_venue_arb"],
        description="Strategies whose funding-exposed positions the monitor may close.",
    )
    adverse_settlements: int = Field(
        default=2,
        ge=1,
        description="Close after this many consecutive settlements against the position.",
    )
    predicted_adverse_8h_frac: float = Field(
        default=0.0005,
        gt=0,
        description=(
            "Also close when the latest (predicted, live) rate is against the position by more "
            "than this, per 8h equivalent, fraction of notional."
        ),
    )
    horizon_h: float = Field(
        default=24.0,
        gt=0,
        description="Horizon of the adverse funding weighed against the cost of closing, h.",
    )
    cooldown_h: float = Field(
        default=24.0,
        ge=0,
        description="After a close, the owner may not reopen that asset for this long, h.",
    )
