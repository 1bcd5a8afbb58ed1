"""The kill switch: an operator's ``zerobeta halt`` / ``zerobeta resume``, seen by the running
agent through the journal (:mod:`agent.journal.halt`).

:class:`KillSwitch` reads the latest halt record once when the engine is built (so a restarted
agent stays halted until a resume record follows the halt), then at every step and mark tick —
only when another connection committed to the journal since the last look (SQLite's ``PRAGMA
data_version``: one pragma, no query, in the common case), and at most once every
:data:`LOOK_EVERY_S` of monotonic time (a replay steps far faster than an operator types; the
pragma costs ~8-17 µs, a tenth of a step of a small replay). A halt committed at time ``t`` is
therefore applied by the first step or mark tick at or after ``t + LOOK_EVERY_S`` (monotonic)
at the latest: as if committed ``LOOK_EVERY_S`` later, no more. Live, where a look comes at
every mark tick (``live_mark_every_s`` ≥ 5 s apart) and hourly step, the worst case goes from
``live_mark_every_s`` to ``live_mark_every_s + LOOK_EVERY_S``; a step or tick within
``LOOK_EVERY_S`` of the previous look does not look again. A record it has not applied yet:

- a halt in mode ``reduce_only``: the risk engine refuses every opening intent (rule
  ``kill_switch``); closes, unwinds and the reverses of unresolved orders go on;
- a halt in mode ``flatten``: the same, and the strategy runner closes every strategy's
  positions at the next hourly step (:meth:`StrategyRunner.request_flatten` ``at_once``), then
  stays reduce-only;
- a resume: the halt is lifted (a drawdown breaker or a position-mismatch halt still holds).

Each is journaled (a risk event and an alert), logged (``kill_switch``) and handed to the
alert dispatcher (kind ``kill_switch``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

import structlog

from agent.engine.funding import SUPERVISOR
from agent.engine.runner import StrategyRunner
from agent.journal.halt import HALT_KEY, HaltMode, HaltRecord
from agent.journal.journal import Journal
from agent.notify import KILL_SWITCH, AlertSink, Notice, Severity
from agent.risk import KILL_SWITCH as KILL_SWITCH_RULE
from agent.risk import RiskEngine
from strategies.base import Alert

log = structlog.get_logger("zerobeta.engine")

LOOK_EVERY_S: Final = 0.1
"""The least monotonic time between two looks at the journal, seconds (module docstring)."""


class KillSwitch:
    """Applies the journal's halt records to the risk engine and the runner (module docstring).

    Parameters
    ----------
    journal : Journal
        The run's journal, where ``zerobeta halt`` writes.
    risk : RiskEngine
    runner : StrategyRunner
    alerts : AlertSink
    look_every_s : float | None
        The least time between two looks, seconds (≥ 0; None: :data:`LOOK_EVERY_S`, read when
        the switch is made).
    monotonic_s : Callable[[], float]
        The monotonic clock the looks are spaced by, seconds (tests step their own).
    """

    def __init__(
        self,
        journal: Journal,
        risk: RiskEngine,
        runner: StrategyRunner,
        alerts: AlertSink,
        *,
        look_every_s: float | None = None,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._journal = journal
        self._risk = risk
        self._runner = runner
        self._alerts = alerts
        self._data_version: int | None = None
        self._look_every_s = LOOK_EVERY_S if look_every_s is None else look_every_s
        self._monotonic_s = monotonic_s
        self._next_look_s = -math.inf  # the first call always looks
        self._applied_id = 0
        self.record: HaltRecord | None = None
        """The record in force (the latest applied), None before any."""
        self.flatten_pending = False
        """A ``flatten`` halt was applied and no flatten ran since (the engine's
        :meth:`~agent.engine.engine.Engine.flatten_on_halt` runs one between steps)."""

    @property
    def halted(self) -> bool:
        """True while an operator's halt is in force."""
        return self.record is not None and self.record.halted

    def poll(self, ts_ms: int) -> None:
        """Apply the latest halt record if it is new, looking at the journal only when
        ``look_every_s`` passed since the last look (the first call always looks).

        Raises
        ------
        agent.errors.JournalError
            If the journal cannot be read.
        """
        now_s = self._monotonic_s()
        if now_s < self._next_look_s:
            return
        self._next_look_s = now_s + self._look_every_s
        version = self._journal.data_version()
        if version == self._data_version:
            return
        self._data_version = version
        row = self._journal.latest_meta_row(HALT_KEY)
        if row is None or row[0] == self._applied_id:
            return
        self._applied_id = row[0]
        try:
            record = HaltRecord.from_json(row[1])
        except ValueError as err:
            log.error("kill_switch_record_unreadable", error=str(err))
            return
        self._apply(record, ts_ms)

    def _apply(self, record: HaltRecord, ts_ms: int) -> None:
        self.record = record
        if not record.halted and not self._risk.is_halted_by(KILL_SWITCH_RULE):
            return  # a resume already in force (a restart after it): nothing changes
        if record.halted:
            self._risk.halt(ts_ms, rule=KILL_SWITCH_RULE)
            if record.mode == HaltMode.FLATTEN:
                self._runner.request_flatten(at_once=True)
                self.flatten_pending = True
            action = (
                "closing every position at the next step, then no new positions"
                if record.mode == HaltMode.FLATTEN
                else "no new positions; closing allowed"
            )
        else:
            self._risk.resume_opening(KILL_SWITCH_RULE)
            self.flatten_pending = False
            if not self._risk.halted:
                self._runner.cancel_flatten()
            action = "opening allowed again" if not self._risk.halted else "another halt holds"
        message = f"{record.describe()}: {action}"
        fields: dict[str, float | str] = {
            "mode": record.mode or "resume",
            "by_user": record.user,
            "by_pid": record.pid,
            "by_host": record.host,
            "at_ms": record.at_ms,
        }
        emit = log.error if record.halted else log.warning
        emit(KILL_SWITCH, message=message, halted=record.halted, **fields)
        self._journal.record_risk_event(
            ts_ms, KILL_SWITCH_RULE, 0.0, float(record.halted), "", "", record.mode or "resume"
        )
        self._journal.record_alert(ts_ms, SUPERVISOR, Alert(KILL_SWITCH, message, fields))
        severity = Severity.ERROR if record.halted else Severity.WARNING
        key = record.mode or "resume"
        self._alerts.notify(Notice(KILL_SWITCH, key, message, severity, fields, ts_ms))
