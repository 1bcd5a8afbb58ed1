"""The alert dispatcher: notices handed over on the trading path, sent off it.

Every place that raises an alert a person must see (the engine's breakers and margin watch, the
strategy runner, the funding desk, the live position check, the order desk, the supervisor)
hands a :class:`~agent.notify.notice.Notice` to :meth:`AlertDispatcher.notify` after
journaling and logging it. ``notify`` never waits and never raises: the
:class:`~agent.notify.gate.NoticeGate` decides (kinds, deduplication, rate limit) and an
admitted notice goes into a bounded ``asyncio.Queue`` — when it is full the oldest notice is
dropped, counted and logged (``alert_dropped``).

:meth:`AlertDispatcher.run` is the one task that drains the queue (``alerts.dispatcher`` in
the supervisor's ``TaskGroup``): each notice is sent by the :class:`NoticeSender` within
``send_timeout_s``; a service that fails, refuses or hangs is logged (``alert_send_failed``,
with the reason; secrets redacted) and counted, and the next notice goes on. When the rate
limit suppressed notices and none follows, it sends their summary as soon as the limit allows.
At the end of a run (:meth:`AlertDispatcher.close`, then :meth:`AlertDispatcher.flush` — also
after a failure, with the failure's own notice) what is left is sent within one more
``send_timeout_s``; what does not make it is counted and logged (``alerts_unsent``).

A disabled dispatcher (no ``[alerts] urls``, or a replay without ``in_replay``) accepts every
notice and sends nothing; so does :data:`DISCARD`, the default of the parts built without one.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import structlog

from agent.config import AgentConfig, AlertsConfig
from agent.notify.failure_memory import SUFFIX, FailureMemory
from agent.notify.gate import NoticeGate, Verdict
from agent.notify.notice import Notice, failure_notice, render
from agent.notify.sender import AppriseSender, NoticeSender

log = structlog.get_logger("zerobeta.alerts")


class AlertSink(Protocol):
    """Where a part hands its notices (an :class:`AlertDispatcher`, or :data:`DISCARD`)."""

    def notify(self, notice: Notice) -> None:
        """Take ``notice``; never waits, never raises."""
        ...


class DiscardAlerts:
    """An :class:`AlertSink` that drops every notice (parts built without a dispatcher)."""

    def notify(self, notice: Notice) -> None:
        """Drop ``notice``."""


DISCARD: Final = DiscardAlerts()


@dataclass(slots=True)
class AlertCounts:
    """What happened to the notices handed over, by outcome (counts)."""

    sent: int = 0
    failed: int = 0
    filtered: int = 0
    duplicates: int = 0
    rate_limited: int = 0
    dropped: int = 0
    unsent: int = 0


class AlertDispatcher:
    """Deduplicates, rate-limits, queues and sends notices (see the module docstring).

    Parameters
    ----------
    sender : NoticeSender | None
        Delivers notices; None = disabled (nothing is ever sent).
    config : AlertsConfig
        ``kinds``, ``dedup_window_s``, ``max_per_minute``, ``queue_size``,
        ``send_timeout_s``, ``title_prefix`` (``urls`` and ``in_replay`` are the sender's
        and :func:`build_dispatcher`'s).
    clock : Callable[[], float]
        Monotonic seconds (deduplication and rate limit).

    Attributes
    ----------
    counts : AlertCounts
    """

    def __init__(
        self,
        sender: NoticeSender | None,
        config: AlertsConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        failure_memory: FailureMemory | None = None,
    ) -> None:
        self._sender = sender
        self._failure_memory = failure_memory
        self._gate = NoticeGate(config.kinds, config.dedup_window_s, config.max_per_minute, clock)
        self._capacity = config.queue_size
        # One place more than the notices it holds: the marker close() wakes the drain with.
        self._queue: asyncio.Queue[Notice | None] = asyncio.Queue(config.queue_size + 1)
        self._timeout_s = config.send_timeout_s
        self._title_prefix = config.title_prefix
        self._inflight: Notice | None = None
        self._closed = False
        self._markers = 0  # close markers in the queue (0 or 1)
        self.counts = AlertCounts()

    @classmethod
    def disabled(cls) -> AlertDispatcher:
        """A dispatcher that sends nothing."""
        return cls(None, AlertsConfig())

    @property
    def enabled(self) -> bool:
        """Whether notices are sent at all."""
        return self._sender is not None

    @property
    def queued(self) -> int:
        """Notices waiting to be sent (the one being sent not included)."""
        return self._queue.qsize() - self._markers

    # ---- the trading path --------------------------------------------------------------------

    def notify(self, notice: Notice) -> None:
        """Hand over ``notice``: queued if the gate admits it, else counted. Never waits,
        never raises."""
        if self._sender is None:
            return
        admitted = self._admit(notice)
        if admitted is not None:
            self._enqueue(admitted)

    def _admit(self, notice: Notice, *, limit: bool = True) -> Notice | None:
        """The gate's verdict: the notice to send, or None (counted, logged at debug)."""
        verdict, admitted = self._gate.admit(notice, limit=limit)
        if verdict is Verdict.SEND:
            return admitted
        if verdict is Verdict.FILTERED:
            self.counts.filtered += 1
        elif verdict is Verdict.DUPLICATE:
            self.counts.duplicates += 1
        else:
            self.counts.rate_limited += 1
        log.debug("alert_suppressed", kind=notice.kind, key=notice.key, reason=verdict.value)
        return None

    def _enqueue(self, notice: Notice) -> None:
        if self._queue.qsize() >= self._capacity:
            oldest = self._take()
            if oldest is not None:
                self.counts.dropped += 1
                log.warning(
                    "alert_dropped",
                    kind=oldest.kind,
                    key=oldest.key,
                    reason="queue_full",
                    dropped=self.counts.dropped,
                )
        self._queue.put_nowait(notice)

    # ---- off the trading path ----------------------------------------------------------------

    async def run(self, until: asyncio.Future[Any] | None = None) -> None:
        """Send queued notices one at a time, and the rate limit's summary when due, until
        :meth:`close` — called when ``until`` (the run's driver task) is done. Never raises
        (but ``CancelledError``)."""
        if until is not None:
            until.add_done_callback(lambda _: self.close())
        if self._sender is None:
            return
        while not self._closed:
            notice = await self._next()
            if notice is not None:
                await self._deliver(notice, self._timeout_s)

    def close(self) -> None:
        """End :meth:`run` after the notice it is sending; :meth:`flush` sends the rest."""
        self._closed = True
        if self._queue.qsize() < self._queue.maxsize:  # when full, the drain is busy anyway
            self._queue.put_nowait(None)
            self._markers += 1

    async def flush(self, first: Notice | None = None) -> None:
        """Send ``first``, then what :meth:`run` left — the notice it was sending when
        cancelled, the queue, the summary of what the rate limit suppressed — all within one
        ``send_timeout_s``; the rest is counted unsent and logged. Never raises (but
        ``CancelledError``)."""
        if self._sender is None:
            return
        pending = [n for n in (first, self._inflight) if n is not None]
        self._inflight = None
        while not self._queue.empty():
            item = self._take()
            if item is not None:
                pending.append(item)
        summary = self._gate.take_summary(force=True)
        if summary is not None:
            pending.append(summary)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        for done, notice in enumerate(pending):
            left_s = deadline - loop.time()
            if left_s <= 0:
                self.counts.unsent += len(pending) - done
                log.warning("alerts_unsent", count=len(pending) - done, timeout_s=self._timeout_s)
                return
            await self._deliver(notice, left_s)

    def shutdown(self) -> None:
        """Release the sender (its thread, its log filters); nothing is sent after this."""
        if self._sender is not None:
            self._sender.shutdown()

    @asynccontextmanager
    async def reporting(self, now_ms: Callable[[], int]) -> AsyncIterator[None]:
        """The scope of a run: an error leaving it is notified first (``start_refused`` or
        ``agent_failed``, at ``now_ms()``, epoch ms; past the rate limit), then what is still
        queued (:meth:`flush`), before the error goes on; a run that ends is flushed too; a
        cancelled one (Ctrl-C twice, a test's timeout) sends nothing more. The sender is
        released at the end."""
        try:
            yield
        except Exception as error:
            final = None
            if self._sender is not None:
                final = self._final_notice(failure_notice(error, now_ms()))
            await self.flush(first=final)
            raise
        else:  # not after CancelledError / KeyboardInterrupt: they pass straight through
            await self.flush()
        finally:
            self.shutdown()

    def _final_notice(self, notice: Notice) -> Notice | None:
        """The run-ending notice to send first: held back when the same failure was notified
        within the dedup window by an earlier start (:class:`FailureMemory`), then past the
        gate's kinds and deduplication (not its rate limit)."""
        if self._failure_memory is not None and notice.kind in self._gate.kinds:
            admitted = self._failure_memory.admit(notice, int(time.time() * 1000))
            if admitted is None:
                return None
            notice = admitted
        return self._admit(notice, limit=False)

    async def _next(self) -> Notice | None:
        """The next queued notice, or the rate limit's summary when it falls due first
        (None: the close marker, or nothing to summarize after all)."""
        due_s = self._gate.summary_due_in_s()
        try:
            async with asyncio.timeout(due_s):
                item = await self._queue.get()
        except TimeoutError:
            return self._gate.take_summary()
        self._markers -= item is None
        return item

    def _take(self) -> Notice | None:
        item = self._queue.get_nowait()
        self._markers -= item is None
        return item

    async def _deliver(self, notice: Notice, timeout_s: float) -> None:
        """Send one notice within ``timeout_s``; log and count the outcome."""
        assert self._sender is not None
        title, body = render(notice, self._title_prefix)
        self._inflight = notice  # kept when cancelled: flush() sends it again
        try:
            async with asyncio.timeout(timeout_s):
                accepted = await self._sender.send(title, body, notice.severity)
        except TimeoutError:
            self._failed(notice, f"no answer within {timeout_s:.3g} s")
        except Exception as error:  # noqa: BLE001 - a notifier's bug must not stop the agent
            self._failed(notice, "error", error)
        else:
            if accepted:
                self.counts.sent += 1
                log.info("alert_sent", kind=notice.kind, key=notice.key, severity=notice.severity)
            else:
                self._failed(notice, "refused by a notification service (apprise's log says why)")
        self._inflight = None

    def _failed(self, notice: Notice, reason: str, error: Exception | None = None) -> None:
        assert self._sender is not None
        self.counts.failed += 1
        details: dict[str, str] = {}
        if error is not None:  # its text and traceback may hold a URL: redacted
            redact = self._sender.redact
            details = {
                "error_type": type(error).__name__,
                "error": redact(str(error)),
                "traceback": redact("".join(traceback.format_exception(error))),
            }
        log.warning(
            "alert_send_failed",
            kind=notice.kind,
            key=notice.key,
            reason=reason,
            failed=self.counts.failed,
            **details,
        )


def build_dispatcher(
    config: AgentConfig, *, clock: Callable[[], float] = time.monotonic
) -> AlertDispatcher:
    """The run's dispatcher: apprise with ``[alerts] urls``; disabled without URLs, and in a
    replay (backtest) unless ``[alerts] in_replay`` — a backtest must not page anyone.

    Raises
    ------
    agent.errors.ConfigError
        On ``alerts.urls`` when apprise cannot use one of the URLs.
    """
    section = config.alerts
    if section.urls is None:
        return AlertDispatcher.disabled()
    if config.market_data.source == "replay" and not section.in_replay:
        log.info("alerts_off_in_replay", reason="[alerts] in_replay = false")
        return AlertDispatcher.disabled()
    sender = AppriseSender(section.urls)
    log.info(
        "alerts_configured",
        services=len(sender.schemes),
        schemes=list(sender.schemes),
        kinds=list(section.kinds),
    )
    memory = FailureMemory(Path(f"{config.journal.path}{SUFFIX}"), section.dedup_window_s)
    return AlertDispatcher(sender, section, clock=clock, failure_memory=memory)
