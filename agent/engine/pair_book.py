"""Which of a strategy's legs make a pair: the instruments its own intents trade together.

Every built-in strategy restates each pair it holds in every cycle (a ``hold`` intent at the
entry size, a ``rebalance`` of its basket, an exit with both legs), so the instruments of the
last intent of a strategy's own decision that named a leg are that leg's pair: a spot and
its perp (funding harvester), two perps on two venues (cross-venue arb), two assets (stat arb),
a basket (factor neutral). The engine's own closing intents (breaker and halt flattens, the
funding-flip monitor's closes, the safety guard's reductions) are not recorded.

:class:`PairBook` is rebuilt by the strategies' next cycle after a restart and is not
checkpointed; until a strategy has decided, a leg's pair is the strategy's whole book — each
of its pairs is market-neutral, so reducing all of them by the same share keeps the book
neutral (:meth:`PairBook.pair_of`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from strategies.base import PairIntent
from venues.model import InstrumentId


class PairBook:
    """The pair of each (strategy, instrument) from the strategy's own intents."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, InstrumentId], frozenset[InstrumentId]] = {}

    def record(self, strategy: str, intents: Iterable[PairIntent]) -> None:
        """``strategy`` decided ``intents``: each intent's instruments form the pair of each
        of them (the last intent naming an instrument wins)."""
        pairs = self._pairs
        for intent in intents:
            pair = frozenset([leg.instrument_id for leg in intent.legs])
            for iid in pair:
                pairs[(strategy, iid)] = pair

    def pair_of(
        self, strategy: str, instrument_id: InstrumentId, held: Collection[InstrumentId]
    ) -> frozenset[InstrumentId]:
        """The legs of ``strategy``'s pair holding ``instrument_id`` that it still holds
        (``held``: the strategy's open instruments), ``instrument_id`` included; the whole of
        ``held`` when the strategy has not named the instrument in an intent yet."""
        pair = self._pairs.get((strategy, instrument_id))
        if pair is None:
            return frozenset(held) | {instrument_id}
        return frozenset(i for i in pair if i in held) | {instrument_id}
