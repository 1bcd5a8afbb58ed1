"""every_n_bars.py: the trivial user strategy of ``benchmarks/vs_nautilus.py``.

A user strategy plugged in the public way (README "Write your own strategy"): the benchmark's
configuration names it ``class = "every_n_bars:EveryNBars"`` (the module is found on
``sys.path``: the benchmark's own folder) and the agent builds it with ``from_config`` like any
built-in. It counts the bars it is handed (one close per instrument per hourly step) and, with
``order_every_bars = n > 0``, sends one order every ``n`` bars: round-robin over its
instruments, a one-leg intent that buys ``order_notional_usd`` of a flat instrument or closes a
held one — the same orders as the NautilusTrader strategy it is measured against. With
``order_every_bars = 0`` it never trades.
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


class EveryNBarsConfig(StrategyParams):
    """The strategy's section: venue, perp symbols, order frequency and size."""

    venue: str = Field(default="binance", description="Venue of the perps.")
    symbols: tuple[str, ...] = Field(min_length=1, description="Perp symbols (BTCUSDT ...).")
    order_every_bars: int = Field(default=0, ge=0, description="One order every n bars; 0 = none.")
    order_notional_usd: float = Field(default=1000.0, gt=0, description="Size of a buy, USD.")


@dataclass(frozen=True, slots=True)
class EveryNBarsState:
    """Bars seen and orders sent so far."""

    bars: int = 0
    orders: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"bars": self.bars, "orders": self.orders}


class EveryNBars:
    """Counts bars; one order every ``order_every_bars`` of them (none with 0)."""

    config_model = EveryNBarsConfig
    refit_every_s: int | None = None
    history_bars = 1

    def __init__(self, name: str, config: EveryNBarsConfig) -> None:
        self.name, self.config, self.cadence_s = name, config, config.cadence_s
        self.ids = tuple(InstrumentId(config.venue, InstrumentKind.PERP, s) for s in config.symbols)

    @classmethod
    def from_config(cls, name: str, config: EveryNBarsConfig, context: StrategyContext) -> Self:
        return cls(name, config)

    def instruments(self) -> Sequence[InstrumentId]:
        return self.ids

    def initial_state(self) -> EveryNBarsState:
        return EveryNBarsState()

    def load_state(self, data: Mapping[str, Any]) -> EveryNBarsState:
        return EveryNBarsState(int(data["bars"]), int(data["orders"]))

    def refit(
        self, snapshot: MarketSnapshot, state: EveryNBarsState, now_ms: int
    ) -> EveryNBarsState:
        return state

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: EveryNBarsState,
        now_ms: int,
    ) -> Decision[EveryNBarsState]:
        n = self.config.order_every_bars
        bars = state.bars + sum(1 for i in self.ids if i in snapshot.prices)
        if n == 0:
            return Decision((), EveryNBarsState(bars, state.orders))
        intents = []
        orders = state.orders
        for _ in range(bars // n - state.bars // n):  # the n-th bars among those of this step
            iid = self.ids[orders % len(self.ids)]
            held = portfolio.positions.get(iid, 0.0)
            qty = 0.0 if held else self.config.order_notional_usd / snapshot.prices[iid]
            leg = (TargetPosition(iid, qty),)
            intents.append(PairIntent(f"o{orders}", leg, "bench", opening=not held))
            orders += 1
        return Decision(tuple(intents), EveryNBarsState(bars, orders))
