"""Configuration of the options delta hedger (``[strategies.options_delta_hedger]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OptionsHedgerConfig(BaseModel):
    """Options delta hedger settings: the structure held, its roll, and the delta band.

    Off by default: it needs options, which a replay lists only with ``[option_chain]
    enabled = true`` (model-priced, see README "Options replay"); on live data with
    ``venue = "deribit"`` and a Deribit perpetual (``BTC-PERPETUAL``) it reads Deribit's own
    chain instead (README "Deribit: perpetuals and options").
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enabled: bool = Field(default=False, description="Run the strategy.")
    cadence_s: int = Field(default=3600, gt=0, description="Decision cadence, seconds.")
    venue: str = Field(default="binance", description="Venue of the options and the perpetual.")
    perp_symbol: str = Field(
        default="BTCUSDT", description="The hedge perpetual, whose price is the forward."
    )
    structure: Literal["straddle", "strangle"] = Field(
        default="straddle",
        description="straddle: call and put at the strike nearest the forward; strangle: call "
        "and put at the strikes nearest call_moneyness_frac and put_moneyness_frac × forward.",
    )
    side: Literal["long", "short"] = Field(
        default="long", description="Buy (long gamma) or sell (short gamma) the structure."
    )
    qty_coin: float = Field(
        default=1.0, gt=0, description="Contracts per leg, coins (rounded down to the lot)."
    )
    target_expiry_days: float = Field(
        default=30.0, gt=0, description="Open (and roll into) the listed expiry nearest this."
    )
    roll_before_expiry_h: float = Field(
        default=48.0, gt=0, description="Roll the structure this long before its expiry, hours."
    )
    call_moneyness_frac: float = Field(
        default=1.10, ge=1.0, description="Strangle call strike / forward (>= 1)."
    )
    put_moneyness_frac: float = Field(
        default=0.90, gt=0, le=1.0, description="Strangle put strike / forward (<= 1)."
    )
    delta_band_coin: float = Field(
        default=0.10, gt=0, description="Hedge when |book delta| exceeds this, coins."
    )
    min_hedge_qty_coin: float = Field(
        default=0.001,
        ge=0,
        description="Skip hedge trades smaller than this (and the perp's minimum), coins.",
    )
    history_bars: int = Field(
        default=800,
        ge=2,
        description="Hourly closes loaded before trading (a realized-volatility chain needs "
        "[option_chain] realized_window_bars + 1).",
    )

    @model_validator(mode="after")
    def _check(self) -> OptionsHedgerConfig:
        if self.roll_before_expiry_h >= self.target_expiry_days * 24:
            raise ValueError("roll_before_expiry_h must be below target_expiry_days × 24")
        if self.min_hedge_qty_coin >= self.delta_band_coin:
            raise ValueError(
                "min_hedge_qty_coin must be below delta_band_coin (a skipped hedge would leave "
                "the delta outside the band)"
            )
        return self
