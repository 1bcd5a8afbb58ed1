"""The safety guard: acting on venue health and liquidation distance, at every step and (live
data) every mark tick.

:meth:`SafetyGuard.review` reads the positions of every venue where a perp is held first (when
the liquidation check is on; live, the outcome of those reads counts in the same review), then:

1. **Venue health** (:class:`~agent.engine.venue_health.VenueHealth`): a venue that became
   unhealthy is alerted (``venue_unhealthy``, error) and opening intents with a leg there are
   refused (risk rule ``venue_unhealthy``, journaled as a risk event with each refused intent);
   one that recovered is alerted (``venue_recovered``) and opening there allowed again. With
   ``[risk] unhealthy_venue_policy = "reduce"`` the other legs of every pair with a leg on an
   unhealthy venue are closed (one closing intent per strategy, at every review while the
   venue stays unhealthy, so a close that failed is tried again); ``"hold"`` (the default)
   keeps them. Nothing is sent to the unhealthy venue by the guard: its legs stay as they are
   (a strategy's own exit still tries it, as a closing intent).
2. **Liquidation distance** (:class:`~agent.engine.liquidation.LiquidationWatch`, off when
   ``[risk] liquidation_distance_frac = 0``): each held perp's distance is read from its venue;
   an instrument that fell below the limit is alerted once (``liquidation_distance_low``,
   error); every pair holding an instrument below the limit — each strategy's legs that its
   intents trade together with it (:class:`~agent.engine.pair_book.PairBook`) — is reduced
   together, every leg by ``liquidation_reduce_frac`` of what the strategy holds (one closing
   intent per pair, through the executor and risk like any close; logged
   ``pair_reduced_near_liquidation``); opening more of a low instrument is refused (risk rule
   ``liquidation_distance_low``) until it is back at twice the limit. A pair with a leg on an
   unhealthy venue is reduced once the venue answers again (``liquidation_reduce_deferred``).

Alerts are journaled (``alerts``, strategy ``supervisor``), logged and handed to the
dispatcher. The guard's state (unhealthy venues, low instruments) is part of the resume
checkpoint (:meth:`SafetyGuard.state`), so a restart neither alerts again nor lets opening
through early.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from agent.config import RiskConfig
from agent.engine.liquidation import LegDistance, LiquidationWatch
from agent.engine.marketdata import MarketData
from agent.engine.pair_book import PairBook
from agent.engine.venue_health import MARKS, HealthChange, VenueHealth, VenueHealthStatus
from agent.execution.executor import Executor
from agent.journal.journal import Journal
from agent.notify import (
    DISCARD,
    LIQUIDATION_DISTANCE_LOW,
    VENUE_RECOVERED,
    VENUE_UNHEALTHY,
    AlertSink,
    Notice,
    Severity,
)
from agent.portfolio.ledger import Portfolio
from agent.risk import LIQUIDATION_DISTANCE_LOW as NEAR_LIQUIDATION_RULE
from agent.risk import VENUE_UNHEALTHY as UNHEALTHY_RULE
from agent.risk import RiskEngine
from strategies.base import Alert, PairIntent, TargetPosition
from venues.base import Venue
from venues.model import InstrumentId

log = structlog.get_logger("zerobeta.safety")

SUPERVISOR = "supervisor"
"""The ``strategy`` column of the alerts the guard journals."""
REDUCE_REASON = "liquidation_distance_low"
CLOSE_REASON = "venue_unhealthy"


@dataclass(frozen=True, slots=True)
class SafetyStatus:
    """What ``zerobeta status`` shows of the guard: each venue's health and each held perp's
    latest distance to liquidation, with the instruments low now."""

    venues: tuple[VenueHealthStatus, ...]
    legs: tuple[LegDistance, ...]
    low_instruments: tuple[str, ...]
    liquidation_distance_frac: float
    unhealthy_venue_policy: str


class SafetyGuard:
    """Venue health and liquidation distance, acted on (module docstring).

    Parameters
    ----------
    config : RiskConfig
        ``liquidation_distance_frac``, ``liquidation_reduce_frac``, ``venue_unhealthy_after_s``,
        ``unhealthy_venue_policy``.
    health : VenueHealth
    liquidation : LiquidationWatch
    pairs : PairBook
        The strategy runner's.
    venues : Mapping[str, Venue]
        Where positions are read (paper venues or live clients), by name.
    executor, market, portfolio, risk, journal
        The engine's parts the guard trades, prices, reads, refuses and journals through.
    alerts : AlertSink
        Where its alerts are handed for a person.
    """

    def __init__(
        self,
        config: RiskConfig,
        *,
        health: VenueHealth,
        liquidation: LiquidationWatch,
        pairs: PairBook,
        venues: Mapping[str, Venue],
        executor: Executor,
        market: MarketData,
        portfolio: Portfolio,
        risk: RiskEngine,
        journal: Journal,
        alerts: AlertSink = DISCARD,
    ) -> None:
        self._cfg = config
        self.health = health
        self.liquidation = liquidation
        self._pairs = pairs
        self._venues = venues
        self._executor = executor
        self._market = market
        self._portfolio = portfolio
        self._risk = risk
        self._journal = journal
        self._alerts = alerts
        self._intents = 0

    async def review(self, ts_ms: int) -> None:
        """Read the positions (their outcome feeds venue health), then venue health, then
        liquidation distances (module docstring); ``ts_ms`` is the engine's time, for the
        journal rows and intents."""
        watching = self._cfg.liquidation_distance_frac > 0
        if watching:
            await self._measure(ts_ms)
        for change in self.health.review():
            self._venue_changed(change, ts_ms)
        if self._cfg.unhealthy_venue_policy == "reduce" and self.health.unhealthy:
            await self._close_other_legs(ts_ms)
        if watching:
            await self._review_liquidation(ts_ms)

    def status(self) -> SafetyStatus:
        """The guard now (see :class:`SafetyStatus`)."""
        return SafetyStatus(
            venues=self.health.status(),
            legs=tuple(d for _, d in sorted(self.liquidation.distances.items())),
            low_instruments=tuple(str(i) for i in sorted(self.liquidation.low)),
            liquidation_distance_frac=self._cfg.liquidation_distance_frac,
            unhealthy_venue_policy=self._cfg.unhealthy_venue_policy,
        )

    # ---- checkpoint --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The resume checkpoint's part (JSON-able): ``venue_health`` and ``liquidation``."""
        return {"venue_health": self.health.state(), "liquidation": self.liquidation.state()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back :meth:`state` and refuse opening again where it was refused (an empty
        mapping, from a checkpoint written before the guard: nothing).

        Raises
        ------
        ValueError
            If a part is malformed.
        """
        self.health.restore(state.get("venue_health", {}))
        self.liquidation.restore(state.get("liquidation", {}))
        after_s = self._cfg.venue_unhealthy_after_s
        for venue in self.health.unhealthy:
            self._risk.refuse_opening_on(UNHEALTHY_RULE, venue, after_s, after_s)
        limit = self._cfg.liquidation_distance_frac
        for iid, distance in self.liquidation.low.items():
            self._risk.refuse_opening_on(NEAR_LIQUIDATION_RULE, str(iid), limit, distance)

    # ---- venue health ------------------------------------------------------------------------

    def _venue_changed(self, change: HealthChange, ts_ms: int) -> None:
        venue = change.venue
        fields: dict[str, float | str] = {"venue": venue, "failing_s": round(change.failing_s, 3)}
        if change.unhealthy:
            after_s = self._cfg.venue_unhealthy_after_s
            self._risk.refuse_opening_on(UNHEALTHY_RULE, venue, after_s, change.failing_s)
            what = "mark stream silent" if change.channel == MARKS else "calls failing"
            message = (
                f"{venue}: {what} for {change.failing_s:.0f} s (limit {after_s:.0f} s); no new "
                f"positions there, other legs: {self._cfg.unhealthy_venue_policy}"
            )
            fields |= {"channel": change.channel, "error": change.error}
            self._alert(Alert(VENUE_UNHEALTHY, message, fields), ts_ms, Severity.ERROR)
            return
        self._risk.allow_opening_on(UNHEALTHY_RULE, venue)
        message = f"{venue}: answering again; opening allowed there"
        self._alert(Alert(VENUE_RECOVERED, message, fields), ts_ms, Severity.WARNING)

    async def _close_other_legs(self, ts_ms: int) -> None:
        """Close the legs on healthy venues of every pair with a leg on an unhealthy one."""
        unhealthy = self.health.unhealthy
        for strategy, held in self._holdings().items():
            others: set[InstrumentId] = set()
            for iid in (i for i in held if i.venue in unhealthy):
                others |= self._pairs.pair_of(strategy, iid, held)
            legs = sorted(i for i in others if i.venue not in unhealthy)
            if legs:
                targets = tuple(TargetPosition(i, 0.0) for i in legs)
                await self._trade(strategy, targets, CLOSE_REASON, ts_ms)

    # ---- liquidation distance ------------------------------------------------------------

    async def _review_liquidation(self, ts_ms: int) -> None:
        """Act on the readings :meth:`review` took."""
        watch = self.liquidation
        checked = watch.review()
        limit = self._cfg.liquidation_distance_frac
        for iid in checked.left:
            self._risk.allow_opening_on(NEAR_LIQUIDATION_RULE, str(iid))
            log.info("liquidation_distance_recovered", instrument=str(iid))
        for leg in checked.below:
            distance, target = leg.distance_frac or 0.0, str(leg.instrument_id)
            self._risk.refuse_opening_on(NEAR_LIQUIDATION_RULE, target, limit, distance)
        for leg in checked.entered:
            self._alert(_distance_alert(leg, limit), ts_ms, Severity.ERROR)
        if checked.below:
            await self._reduce_pairs([leg.instrument_id for leg in checked.below], ts_ms)
            # The readings after the reductions (what status shows; the next check reviews them).
            await self._measure(ts_ms)

    async def _measure(self, ts_ms: int) -> None:
        held = self._portfolio.positions()
        await self.liquidation.measure(self._venues, held, ts_ms)

    async def _reduce_pairs(self, low: list[InstrumentId], ts_ms: int) -> None:
        """One closing intent per strategy pair holding a low instrument: every leg to
        ``1 − liquidation_reduce_frac`` of what the strategy holds. A pair with a leg on an
        unhealthy venue waits for it (its order there would fail and the other leg's be
        unwound, at every check)."""
        keep = 1.0 - self._cfg.liquidation_reduce_frac
        for strategy, held in self._holdings().items():
            pairs = {self._pairs.pair_of(strategy, iid, held) for iid in low if iid in held}
            for pair in sorted(pairs, key=sorted):
                waiting = sorted({i.venue for i in pair} & self.health.unhealthy)
                if waiting:
                    log.warning("liquidation_reduce_deferred", strategy=strategy, venues=waiting)
                    continue
                targets = tuple(TargetPosition(i, float(held[i]) * keep) for i in sorted(pair))
                await self._trade(strategy, targets, REDUCE_REASON, ts_ms)

    # ---- shared ------------------------------------------------------------------------------

    def _holdings(self) -> dict[str, dict[InstrumentId, Decimal]]:
        """Each strategy's open positions, by strategy name."""
        out: dict[str, dict[InstrumentId, Decimal]] = {}
        for iid in self._portfolio.positions():
            for strategy, qty in self._portfolio.holders(iid).items():
                out.setdefault(strategy, {})[iid] = qty
        return dict(sorted(out.items()))

    async def _trade(
        self, strategy: str, targets: tuple[TargetPosition, ...], reason: str, ts_ms: int
    ) -> None:
        """Send one closing intent for ``strategy`` (its id unique within the run)."""
        self._intents += 1
        intent_id = f"{reason}-{ts_ms}-{self._intents}"
        intent = PairIntent(intent_id, targets, reason, opening=False)
        outcome = await self._executor.execute(
            strategy, intent, self._market.prices, ts_ms, urgent=True
        )
        log.warning(
            "pair_reduced_near_liquidation" if reason == REDUCE_REASON else "pair_leg_closed",
            strategy=strategy,
            intent_id=intent_id,
            legs=[str(t.instrument_id) for t in targets],
            status=outcome.status,
        )

    def _alert(self, alert: Alert, ts_ms: int, severity: Severity) -> None:
        self._journal.record_alert(ts_ms, SUPERVISOR, alert)
        log.warning(alert.kind, message=alert.message, **alert.fields)
        self._alerts.notify(Notice.from_alert(alert, ts_ms, severity))


def _distance_alert(leg: LegDistance, limit_frac: float) -> Alert:
    distance = leg.distance_frac or 0.0
    message = (
        f"{leg.instrument_id}: mark {leg.mark_price} is {distance:.1%} from its liquidation "
        f"price {leg.liquidation_price} (limit {limit_frac:.0%}); reducing its pairs"
    )
    fields: dict[str, float | str] = {
        "instrument": str(leg.instrument_id),
        "liquidation_distance_frac": round(distance, 6),
        "mark_price": str(leg.mark_price),
        "liquidation_price": str(leg.liquidation_price),
    }
    return Alert(LIQUIDATION_DISTANCE_LOW, message, fields)
