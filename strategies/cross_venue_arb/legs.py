"""The arbitrage's legs across cycles: per perp of the symbol × venue grid, the inputs of its
view (:func:`~strategies.cross_venue_arb.market.leg_view`: the funding if fresh, the mean rate
if ready) and per symbol its extreme pair, kept by one strategy instance and updated each cycle
only where an input changed.

A leg's view depends on the perp's latest funding (``snapshot.funding``: the very object until
the next settlement arrives), on whether the perp is stale (``snapshot.stale``), on its
rate-book entry (replaced only when a settlement is recorded) and on the time, at known
instants only: the funding goes stale ``2 × interval`` after its settlement, the estimate
becomes ready a lookback after the history starts, and the lookback window's cut passes a
settlement. :meth:`LegBoard.advance` records the settlements of the perps whose funding object
changed (:meth:`~strategies.cross_venue_arb.rates.MeanRateCache.record`, what
:func:`~strategies.cross_venue_arb.rates.record` writes) and recomputes the inputs of those
legs, of the legs whose entry was replaced, whose stale flag flipped or whose time validity
ended (a heap of expiry instants), then the extreme pair of each symbol with a recomputed leg.
Every other leg's inputs are unchanged, so the views are exactly those :func:`leg_view` gives,
and each cycle costs in proportion to what changed, not to symbols × venues. A view itself
(its forecast) is built only when asked for — a candidate pair's legs, a position's legs — and
priced each time.

The shortcut holds only while the board follows one lineage of states forward in time: the
book it is given is the one it produced last cycle (the very object, not mutated since — the
engine hands a decision's state back as it is) and the time does not go back. Otherwise (the
first cycle, a state loaded from the journal, an older state decided again) the board starts
over: every perp recorded, every leg recomputed. Not part of the strategy's state.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from itertools import compress
from operator import is_not
from typing import Final

from strategies.base import MarketSnapshot
from strategies.cross_venue_arb import rates, signals
from strategies.cross_venue_arb.market import (
    LegView,
    extreme_indices,
    fresh_funding,
    leg_forecast,
    perp_id,
    usable_price,
)
from strategies.cross_venue_arb.state import PerpRates
from venues.model import FundingRate, InstrumentId, funding_rate_per_hour

NEVER_MS: Final = rates.NEVER_MS
"""An instant no cycle reaches: a view valid until then changes only with its inputs."""


def funding_stale_from_ms(funding: FundingRate) -> int:
    """The first decision time, epoch ms UTC, at which ``funding`` counts as stale
    (:func:`strategies.common.funding_is_stale`: more than two intervals after its settlement).

    Raises
    ------
    ValueError
        If ``funding.interval_s`` is not positive.
    """
    if funding.interval_s <= 0:
        raise ValueError(f"funding interval_s must be positive, got {funding.interval_s}")
    return funding.ts_funding_ms + 2 * funding.interval_s * 1000 + 1


class LegBoard:
    """The legs of every ``(symbol, venue)`` perp and each symbol's extreme pair, carried
    across the cycles of one strategy instance (see the module docstring).

    Parameters
    ----------
    symbols : Sequence[str]
        Base assets, in the configured order.
    venues : Sequence[str]
        Venues whose perps are legs, in the configured order (ties between equal means go to
        the venue listed first, :func:`extreme_legs`).
    lookback_ms : int
        Width of the carry estimate's window, ms.
    entry_spread_8h_frac : float
        Rule (a)'s threshold: :meth:`wide_symbols` lists the symbols whose extreme pair's mean
        spread (8 h) is above it.

    Raises
    ------
    ValueError
        If two ``(symbol, venue)`` pairs name the same perp.
    """

    __slots__ = (
        "_best",
        "_book",
        "_entry_spread_8h_frac",
        "_expiries",
        "_expiry_ms",
        "_extremes",
        "_fresh",
        "_funding",
        "_ids",
        "_index",
        "_lookback_ms",
        "_mean_cache",
        "_means",
        "_now_ms",
        "_spreads",
        "_stale",
        "_symbol_index",
        "_symbols",
        "_until_ms",
        "_venue_index",
        "_venues",
        "_views",
        "_wide",
    )

    def __init__(
        self,
        symbols: Sequence[str],
        venues: Sequence[str],
        lookback_ms: int,
        entry_spread_8h_frac: float,
    ) -> None:
        self._symbols = tuple(symbols)
        self._venues = tuple(venues)
        self._lookback_ms = lookback_ms
        self._entry_spread_8h_frac = entry_spread_8h_frac
        # Leg k is venue k % len(venues) of symbol k // len(venues).
        self._ids = [perp_id(venue, base) for base in self._symbols for venue in self._venues]
        self._index: dict[str, int] = {iid: k for k, iid in enumerate(self._ids)}
        if len(self._index) != len(self._ids):
            raise ValueError(f"two legs name the same perp among {self._ids!r}")
        self._symbol_index = {base: s for s, base in enumerate(self._symbols)}
        self._venue_index = {venue: j for j, venue in enumerate(self._venues)}
        self._mean_cache = rates.MeanRateCache()
        self._start_over()

    def _start_over(self) -> None:
        """Forget every cycle: no book followed, every view unknown."""
        n_legs = len(self._ids)
        self._book: Mapping[str, PerpRates] | None = None
        self._now_ms = -NEVER_MS
        self._funding: list[FundingRate | None] = [None] * n_legs
        self._stale: frozenset[InstrumentId] = frozenset()
        # Each leg's inputs to its view: the funding if fresh, the mean rate if ready; the view
        # itself is built when first asked for (a pair's legs, a position's legs).
        self._fresh: list[FundingRate | None] = [None] * n_legs
        self._means: list[float | None] = [None] * n_legs
        self._views: dict[int, LegView] = {}
        self._until_ms = [NEVER_MS] * n_legs  # each leg's inputs valid before this instant
        # The legs whose inputs may change at each instant (a leg recomputed since is skipped
        # there), and a heap of those instants: the legs of a venue's settlement expire
        # together, so one pop per instant instead of one per leg.
        self._expiries: dict[int, list[int]] = {}
        self._expiry_ms: list[int] = []
        self._extremes: list[tuple[int, int] | None] = [None] * len(self._symbols)  # legs
        self._spreads: list[float | None] = [None] * len(self._symbols)
        self._wide: set[int] = set()  # symbols whose spread is above the entry threshold
        self._best: tuple[float, str] | None = None

    def advance(
        self,
        snapshot: MarketSnapshot,
        previous: Mapping[str, PerpRates],
        book: rates.Book,
        now_ms: int,
    ) -> int:
        """Record this cycle's unseen settlements into ``book`` and bring every view to
        ``now_ms``.

        Parameters
        ----------
        snapshot : MarketSnapshot
            This cycle's market: the latest funding and stale flags of the perps.
        previous : Mapping[str, PerpRates]
            The rate book of the state decided from (``state.rates``).
        book : rates.Book
            A working copy of ``previous``, recorded into; the caller returns it, unmodified
            after this call, in the next state (the book the next cycle gets as ``previous``).
        now_ms : int
            Decision time, epoch ms UTC.

        Returns
        -------
        int
            How many settlements were recorded (each unseen settlement of every perp once,
            :func:`rates.record`).
        """
        ids, seen = self._ids, self._funding
        current = list(map(snapshot.funding.get, ids))
        follows = previous is self._book and now_ms >= self._now_ms
        self._book = None  # until this cycle is complete: a failure below starts over next time
        if follows:
            # A perp whose funding is the very object recorded last cycle has nothing to
            # record: that settlement is in its entry (or an equal or newer one is).
            changed = list(compress(range(len(ids)), map(is_not, current, seen)))
        else:
            self._start_over()
            changed = list(range(len(ids)))
        self._funding = current
        dirty = set(changed)
        recorded = self._record(changed, book, now_ms, dirty)
        stale = snapshot.stale
        if stale != self._stale:
            dirty.update(k for k in map(self._index.get, stale ^ self._stale) if k is not None)
        self._stale = stale
        dirty.update(self._expired(now_ms))
        self._refresh_legs(sorted(dirty), snapshot, book, now_ms)
        n_venues = len(self._venues)
        self._refresh_symbols(sorted({k // n_venues for k in dirty}))
        self._book, self._now_ms = book, now_ms
        return recorded

    def _record(self, legs: Sequence[int], book: rates.Book, now_ms: int, dirty: set[int]) -> int:
        """Record the current funding of ``legs`` (in order) into ``book``; adds the legs whose
        entry was replaced to ``dirty``; returns how many settlements were recorded."""
        recorded = 0
        current, index = self._funding, self._index
        record, lookback_ms = self._mean_cache.record, self._lookback_ms
        for k in legs:
            funding = current[k]
            if funding is None or funding.interval_s <= 0 or not math.isfinite(funding.rate):
                continue
            if record(book, funding, now_ms, lookback_ms):
                recorded += 1
                replaced = index.get(funding.instrument_id)  # the entry it replaced
                if replaced is not None:
                    dirty.add(replaced)
        return recorded

    def _expired(self, now_ms: int) -> list[int]:
        """The legs whose view's validity ended at or before ``now_ms``."""
        expiries, instants, until_ms = self._expiries, self._expiry_ms, self._until_ms
        expired: list[int] = []
        while instants and instants[0] <= now_ms:
            when_ms = heapq.heappop(instants)
            # A leg whose until_ms moved was recomputed since: superseded there.
            expired.extend(k for k in expiries.pop(when_ms) if until_ms[k] == when_ms)
        return expired

    def _refresh_legs(
        self,
        legs: Sequence[int],
        snapshot: MarketSnapshot,
        book: Mapping[str, PerpRates],
        now_ms: int,
    ) -> None:
        """Recompute the fresh funding and mean rate of ``legs`` (the inputs of their views,
        as :func:`leg_view` takes them) and until when they hold, in the order given (grid
        order: a bad leg fails the cycle as :func:`leg_view` would)."""
        ids, fresh, means, views = self._ids, self._fresh, self._means, self._views
        until, expiries, instants = self._until_ms, self._expiries, self._expiry_ms
        mean_until, lookback_ms = self._mean_cache.mean_until, self._lookback_ms
        for k in legs:
            iid = ids[k]
            funding = fresh_funding(snapshot, iid, now_ms)
            mean: float | None = None
            until_ms = NEVER_MS  # absent, stale or unusable funding changes only with its inputs
            if funding is not None:
                mean, mean_until_ms = mean_until(book, iid, now_ms, lookback_ms)
                if mean is not None:  # (no forecast to check without a mean)
                    _check_forecast(funding, mean)
                until_ms = min(funding_stale_from_ms(funding), mean_until_ms)
            fresh[k], means[k] = funding, mean
            views.pop(k, None)
            until[k] = until_ms
            if until_ms < NEVER_MS:
                expiring = expiries.get(until_ms)
                if expiring is None:
                    expiries[until_ms] = [k]
                    heapq.heappush(instants, until_ms)
                else:
                    expiring.append(k)

    def _refresh_symbols(self, symbols: Sequence[int]) -> None:
        """Recompute the extreme pair and spread of ``symbols`` (in order), and the best
        spread."""
        n_venues, means_of = len(self._venues), self._means
        extremes, spreads, wide = self._extremes, self._spreads, self._wide
        names, threshold = self._symbols, self._entry_spread_8h_frac
        for s in symbols:
            first = s * n_venues
            means = means_of[first : first + n_venues]
            pair = extreme_indices(means)
            spread: float | None = None
            if pair is not None:
                long_mean, short_mean = means[pair[0]], means[pair[1]]
                if long_mean is None or short_mean is None:  # extreme_indices gives ready legs
                    raise ValueError(f"{names[s]}: an extreme leg has no mean rate")
                spread = signals.spread_8h_frac(short_mean, long_mean)
                pair = (first + pair[0], first + pair[1])
            extremes[s], spreads[s] = pair, spread
            if spread is not None and spread > threshold:
                wide.add(s)
            else:
                wide.discard(s)
            base, best = names[s], self._best
            if best is not None and best[1] == base:
                # The best symbol's spread changed: still the best only if it did not fall.
                self._best = (
                    (spread, base)
                    if spread is not None and spread >= best[0]
                    else self._full_best()
                )
            elif spread is not None and (best is None or (spread, base) > best):
                self._best = (spread, base)

    def _full_best(self) -> tuple[float, str] | None:
        best: tuple[float, str] | None = None
        for base, spread in zip(self._symbols, self._spreads, strict=True):
            if spread is not None and (best is None or (spread, base) > best):
                best = (spread, base)
        return best

    # -- reading the board (after advance) -----------------------------------------------------

    def view(self, snapshot: MarketSnapshot, base: str, venue: str) -> LegView | None:
        """The view of ``base`` on ``venue`` with its price this cycle (:func:`leg_view`);
        None for a symbol or venue not on the board."""
        s, j = self._symbol_index.get(base), self._venue_index.get(venue)
        if s is None or j is None:
            return None
        return self._priced(snapshot, s * len(self._venues) + j)

    def wide_symbols(self) -> list[str]:
        """The symbols whose extreme pair's mean spread (8 h) is above the entry threshold,
        in the configured order."""
        return [self._symbols[s] for s in sorted(self._wide)]

    def extreme_pair(
        self, snapshot: MarketSnapshot, base: str
    ) -> tuple[float, LegView, LegView] | None:
        """``(mean spread 8 h, long, short)`` of ``base``'s extreme pair (:func:`extreme_legs`
        over its legs in venue order), the legs priced this cycle; None without two ready legs
        or for a symbol not on the board."""
        s = self._symbol_index.get(base)
        pair = None if s is None else self._extremes[s]
        spread = None if s is None else self._spreads[s]
        if pair is None or spread is None:
            return None
        return spread, self._priced(snapshot, pair[0]), self._priced(snapshot, pair[1])

    def best_spread(self) -> tuple[float, str] | None:
        """``(spread, symbol)`` of the widest extreme pair over all symbols (ties: the later
        symbol in string order), or None when no symbol has two ready legs."""
        return self._best

    def _priced(self, snapshot: MarketSnapshot, k: int) -> LegView:
        """Leg ``k``'s view with its price this cycle; the rest built once per refresh."""
        view = self._views.get(k)
        if view is None:
            iid, venue, funding = self._ids[k], self._venues[k % len(self._venues)], self._fresh[k]
            latest, forecast = (
                (None, None) if funding is None else leg_forecast(funding, self._means[k])
            )
            view = LegView(venue, iid, latest, forecast, None)
            self._views[k] = view
        price = usable_price(snapshot, view.instrument_id)
        return LegView(
            view.venue, view.instrument_id, view.latest_rate_per_hour, view.forecast, price
        )


def _check_forecast(funding: FundingRate, mean: float | None) -> None:
    """Raise the ValueError :func:`leg_forecast` (so :func:`leg_view`) raises for this funding
    and mean, if any — when the view is built later, the cycle must fail as it would have."""
    if mean is None:
        return
    if not (
        math.isfinite(mean)
        and math.isfinite(funding_rate_per_hour(funding.rate, funding.interval_s))
    ):
        leg_forecast(funding, mean)
