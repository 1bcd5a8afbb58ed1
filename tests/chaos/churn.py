"""``churn``: a user strategy that trades two-leg pairs on two perps every step, for the chaos
harness (plugged the public way: ``[strategies.churn] class = "tests.chaos.churn:Churn"``).

Every step it emits, in order:

1. ``core-<ts>``: hold a standing dollar-neutral pair, long ``core_notional_usd`` of A and short
   as much of B at the snapshot's prices. While prices stay put the planner finds no drift and
   sends nothing; a mark jump larger than ``[execution] drift_frac`` makes it re-hedge (the
   harness times that reaction);
2. ``flips_per_step`` flips, each two intents: ``flip-<ts>-<i>-open`` adds a pair of
   ``flip_notional_usd`` per leg on top of the core (long A / short B, or the reverse on odd
   flips), ``flip-<ts>-<i>-close`` goes back to the core.

Every intent names both instruments, so a pair left with one leg by a failure or a crash is put
back on target by the next intent that trades. A toy for testing, not a trading idea.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field

from strategies.base import (
    Decision,
    MarketSnapshot,
    PairIntent,
    PortfolioView,
    StrategyContext,
    StrategyParams,
    TargetPosition,
)
from venues.model import InstrumentId, InstrumentKind


class ChurnConfig(StrategyParams):
    """``[strategies.churn]``."""

    venue: str = Field(default="binance", description="Venue of both perps.")
    symbol_a: str = Field(default="BTCUSDT", description="Perp bought in the core pair.")
    symbol_b: str = Field(default="ETHUSDT", description="Perp sold in the core pair.")
    flips_per_step: int = Field(default=5, ge=0, le=500, description="Open+close flips a step.")
    flip_notional_usd: float = Field(default=500.0, gt=0, description="Each flip leg, USD.")
    core_notional_usd: float = Field(default=2000.0, ge=0, description="Each core leg, USD.")


@dataclass(frozen=True, slots=True)
class ChurnState:
    """Steps decided so far."""

    steps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps}


class Churn:
    """The strategy (module docstring)."""

    config_model = ChurnConfig
    refit_every_s: int | None = None
    history_bars = 2

    def __init__(self, name: str, config: ChurnConfig) -> None:
        self.name = name
        self.config = config
        self.cadence_s = config.cadence_s
        self.a = InstrumentId(config.venue, InstrumentKind.PERP, config.symbol_a)
        self.b = InstrumentId(config.venue, InstrumentKind.PERP, config.symbol_b)

    @classmethod
    def from_config(cls, name: str, config: ChurnConfig, context: StrategyContext) -> Self:
        return cls(name, config)

    def instruments(self) -> Sequence[InstrumentId]:
        return [self.a, self.b]

    def initial_state(self) -> ChurnState:
        return ChurnState()

    def load_state(self, data: Mapping[str, Any]) -> ChurnState:
        try:
            return ChurnState(int(data["steps"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"churn state: field 'steps': {err}") from err

    def refit(self, snapshot: MarketSnapshot, state: ChurnState, now_ms: int) -> ChurnState:
        return state

    def decide(
        self, snapshot: MarketSnapshot, portfolio: PortfolioView, state: ChurnState, now_ms: int
    ) -> Decision[ChurnState]:
        price_a, price_b = snapshot.prices.get(self.a), snapshot.prices.get(self.b)
        if not price_a or not price_b:
            return Decision((), state)
        cfg = self.config
        core_a, core_b = cfg.core_notional_usd / price_a, -cfg.core_notional_usd / price_b
        flip_a, flip_b = cfg.flip_notional_usd / price_a, cfg.flip_notional_usd / price_b
        intents = [self._pair(f"core-{now_ms}", core_a, core_b, "hold", opening=True)]
        for i in range(cfg.flips_per_step):
            side = 1 if i % 2 == 0 else -1
            open_a, open_b = core_a + side * flip_a, core_b - side * flip_b
            intents.append(self._pair(f"flip-{now_ms}-{i}-open", open_a, open_b, "flip_open"))
            intents.append(
                self._pair(f"flip-{now_ms}-{i}-close", core_a, core_b, "flip_close", False)
            )
        return Decision(tuple(intents), ChurnState(state.steps + 1))

    def _pair(
        self, intent_id: str, qty_a: float, qty_b: float, reason: str, opening: bool = True
    ) -> PairIntent:
        legs = (TargetPosition(self.a, qty_a), TargetPosition(self.b, qty_b))
        return PairIntent(intent_id, legs, reason, opening)
