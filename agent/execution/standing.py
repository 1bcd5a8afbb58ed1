"""The targets a strategy's executed intents left standing, and the pairs whose legs drifted
from them between hourly steps.

The hourly drift rule (:class:`agent.execution.plan.IntentPlanner`): a leg trades when it is
off its target by more than ``[execution] drift_frac`` of the target; a strategy re-emits the
targets of the positions it holds every cycle, so execution can fix drift. Between cycles the
targets of the last intent that reached them **stand**: :class:`StandingTargets` keeps, per
strategy, the legs of every intent whose outcome was ``filled`` (or ``skipped`` with a price
for every leg: nothing needed trading), and forgets a pair when a later intent of the same
strategy names one of its instruments (it replaces it, or closes it: all-zero targets stand for
nothing), or when an exit on them did not reach its targets: execution does not chase targets
it could not reach; the strategy decides again at its next cycle. An opening or adjusting
intent (or a drift rebalance) that failed at the venue (``unwound``, ``partial``,
``rejected``) leaves the earlier targets standing, so the legs it left off them are taken back
at the next mark tick; one refused by risk, or a maker-first intent still working, leaves
none.

:meth:`StandingTargets.drifted` lists the pairs whose position (the ledger's, moved by a fill
that arrived since: the account stream, a late fill) is off a standing target by more than
``drift_frac`` as a rebalancing intent (``reason`` ``drift_rebalance``, checked as a close by
risk when every order shrinks a position, else as opening), so the live engine trades it within
seconds instead of at the next cycle. A pair with a leg whose order is unresolved is left to
the follow-up (:mod:`agent.execution.unresolved`), which books and reverses that order itself.
The targets are part of the resume checkpoint, so the first mark tick after a restart can
re-hedge a pair the restart left off target (unwinding the late fill of an order the killed run
never saw answered) instead of waiting for the strategy's next cycle.

With ``[execution] drift_check = "ratio"`` a pair also drifts when prices move its legs apart:
each standing pair keeps the prices its targets were set at, and :func:`ratio_legs` restates
the targets at today's prices so that the legs' notional ratio is the one they were set at,
the first leg's quantity kept (the anchor) and every other leg resized by
``(p0_now / p0_set) / (pi_now / pi_set)``. A leg held at its old target is then off the new
one by ``|1 - qi / qi_new| = |D|`` of it, ``D = (pi_now / pi_set) / (p0_now / p0_set) - 1``
being how far the legs' notional ratio moved, so the hourly drift rule
(:class:`agent.execution.plan.IntentPlanner`) trades it exactly when ``|D| > drift_frac``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from strategies.base import PairIntent, TargetPosition
from venues.model import InstrumentId

__all__ = ["DRIFT_REASON", "REACHED", "StandingPair", "StandingTargets", "ratio_legs"]

DRIFT_REASON = "drift_rebalance"
"""The ``reason`` of a rebalancing intent (journaled with it)."""

REACHED = frozenset({"filled", "skipped"})
"""Intent outcomes after which the targets stand (``skipped``: only with every leg priced)."""

KEEP_NOTHING = frozenset({"risk_rejected", "working"})
"""Outcomes of a failed intent after which no earlier targets stand (risk would refuse the
rebalance too; a working maker-first intent is left to its deadline)."""

Legs = tuple[TargetPosition, ...]


@dataclass(frozen=True, slots=True)
class StandingPair:
    """The legs of an intent whose targets stand, the prices (quote units) of its legs when
    they were set (empty when a leg had no price) and the intent's own drift threshold
    (``PairIntent.drift_frac``; None = ``[execution] drift_frac``)."""

    legs: Legs
    prices_set: Mapping[InstrumentId, float] = field(default_factory=dict)
    drift_frac: float | None = None


class StandingTargets:
    """Per strategy, the legs of the intents whose targets stand (see the module docstring)."""

    def __init__(self) -> None:
        self._pairs: dict[str, dict[frozenset[InstrumentId], StandingPair]] = {}
        self._rebalances = 0

    def __len__(self) -> int:
        return sum(len(pairs) for pairs in self._pairs.values())

    def record(
        self,
        strategy: str,
        intent: PairIntent,
        status: str,
        prices: Mapping[InstrumentId, float],
    ) -> None:
        """``strategy``'s ``intent`` ended with ``status`` (``IntentOutcome.status``) at
        ``prices`` (quote units): its targets stand if it reached them, and any earlier pair
        naming one of its instruments no longer does — unless it failed as an opening or
        adjusting intent, or as a drift rebalance, at the venue (not refused by risk, not
        still working): then the earlier targets keep standing, so the drift check takes the
        legs it left off them back at the next mark tick instead of at the next cycle (an
        exit that failed keeps nothing: that would reopen what it closed)."""
        legs = intent.legs
        # each leg's price (None when missing), keyed and ordered as the legs name them
        seen = {leg.instrument_id: prices.get(leg.instrument_id) for leg in legs}
        named = frozenset(seen)
        priced = _all_priced(seen.values())
        reached = status in REACHED and (status == "filled" or priced)
        keep_earlier = (
            not reached
            and status not in KEEP_NOTHING
            and (intent.opening or intent.reason == DRIFT_REASON)
        )
        pairs = self._pairs.get(strategy)
        if pairs is not None and not keep_earlier:
            for key in [k for k in pairs if not k.isdisjoint(named)]:
                del pairs[key]
        if reached and any(leg.target_qty != 0 for leg in legs):
            set_at = cast(dict[InstrumentId, float], seen)  # priced: no None among them
            standing = StandingPair(
                legs, MappingProxyType(set_at) if priced else {}, intent.drift_frac
            )
            self._pairs.setdefault(strategy, {})[named] = standing
        elif pairs is not None and not pairs:
            del self._pairs[strategy]

    def state(self) -> dict[str, Any]:
        """Checkpoint form (JSON-able): every standing pair in the order recorded, with its
        legs' targets (base units), the prices they were set at and its drift threshold, and
        the rebalance counter (it names rebalancing intents)."""
        pairs = [
            {
                "strategy": strategy,
                "legs": [[str(leg.instrument_id), leg.target_qty] for leg in pair.legs],
                "prices_set": {str(iid): price for iid, price in pair.prices_set.items()},
                "drift_frac": pair.drift_frac,
            }
            for strategy, pair in self.pairs()
        ]
        return {"pairs": pairs, "rebalances": self._rebalances}

    def restore(self, raw: Mapping[str, Any]) -> None:
        """Replace the targets with a checkpoint's (:meth:`state`; an empty mapping — a
        checkpoint written before targets were kept — stands for none).

        Raises
        ------
        KeyError, ValueError, TypeError
            If ``raw`` is not what :meth:`state` wrote (the checkpoint loader reports it).
        """
        self._pairs = {}
        for item in raw.get("pairs", []):
            legs = tuple(
                TargetPosition(InstrumentId.parse(str(iid)), float(qty))
                for iid, qty in item["legs"]
            )
            prices = {InstrumentId.parse(str(k)): float(v) for k, v in item["prices_set"].items()}
            drift = item["drift_frac"]
            pair = StandingPair(
                legs, MappingProxyType(prices), None if drift is None else float(drift)
            )
            named = frozenset(leg.instrument_id for leg in legs)
            self._pairs.setdefault(str(item["strategy"]), {})[named] = pair
        self._rebalances = int(raw.get("rebalances", 0))

    def pairs(self) -> Iterator[tuple[str, StandingPair]]:
        """Every standing pair as (strategy, pair), in the order recorded."""
        for strategy, pairs in list(self._pairs.items()):
            for pair in list(pairs.values()):
                yield strategy, pair

    def rebalance_intent(
        self,
        legs: Legs,
        busy: Collection[InstrumentId],
        ts_ms: int,
        drift_frac: float | None = None,
    ) -> PairIntent | None:
        """The intent that takes ``legs`` back to their standing targets at ``ts_ms`` (a new
        intent id each time: ``rebalance-<ts_ms>-<n>``; ``drift_frac`` the standing pair's
        own threshold), or None when one of them is in ``busy`` (an unresolved order on
        it)."""
        if any(leg.instrument_id in busy for leg in legs):
            return None
        self._rebalances += 1
        intent_id = f"rebalance-{ts_ms}-{self._rebalances}"
        return PairIntent(intent_id, legs, DRIFT_REASON, opening=False, drift_frac=drift_frac)


def ratio_legs(pair: StandingPair, prices: Mapping[InstrumentId, float]) -> Legs:
    """``pair``'s targets restated at ``prices`` (quote units) so that the legs' notional ratio
    is the one they were set at (module docstring): the first leg with a non-zero target keeps
    its quantity, every other non-zero leg ``i`` becomes ``qi × (p0 / p0_set) / (pi /
    pi_set)``. The legs unchanged when there is no second leg, or a leg lacks a price then or
    now."""
    legs = pair.legs
    anchor = next((leg for leg in legs if leg.target_qty != 0), None)
    if anchor is None or len(legs) < 2 or not pair.prices_set or not _priced(legs, prices):
        return legs
    anchor_move = prices[anchor.instrument_id] / pair.prices_set[anchor.instrument_id]
    out = []
    for leg in legs:
        if leg is anchor or leg.target_qty == 0:
            out.append(leg)
            continue
        move = prices[leg.instrument_id] / pair.prices_set[leg.instrument_id]
        out.append(TargetPosition(leg.instrument_id, leg.target_qty * anchor_move / move))
    return tuple(out)


def _priced(legs: Legs, prices: Mapping[InstrumentId, float]) -> bool:
    """Every leg has a finite positive price (else a skipped intent may have been skipped for
    the want of one, its targets not reached)."""
    for leg in legs:
        price = prices.get(leg.instrument_id)
        if price is None or not math.isfinite(price) or price <= 0:
            return False
    return True


def _all_priced(leg_prices: Iterable[float | None]) -> bool:
    """:func:`_priced` on the legs' prices already looked up (None = no price)."""
    for price in leg_prices:
        if price is None or not math.isfinite(price) or price <= 0:
            return False
    return True
