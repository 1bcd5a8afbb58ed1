"""The control surface of a running agent: ``/healthz``, ``/status`` and ``/metrics`` over
HTTP on the event loop (:mod:`agent.control.http`).

Lifecycle, driven by the supervisor:

1. :meth:`ControlSurface.open` (after the journal is claimed, before any data is loaded):
   binds ``[control] http_bind``:``http_port`` when the run serves the endpoint
   (:meth:`agent.config.ControlConfig.http_enabled`); a bind failure is a
   :class:`~agent.errors.ConfigError` on ``control.http_port``. Connections queue from now on;
2. :meth:`ControlSurface.attach` once the engine is built (and, live, its feed): the heartbeat
   follows the engine's clock, the order desk's latency hook feeds the histogram;
3. :meth:`ControlSurface.serve`, the ``control.http`` task in the supervisor's task group:
   accepts connections and beats the heartbeat until the run's driver task ends, then closes.

``/healthz``: 200 ``{"status": "ok", ...}`` when :func:`agent.control.health.evaluate` passes,
else 503 with the failing checks' reasons. ``/status``: the journal's status
(:mod:`agent.control.status`, read in a worker thread so a large journal does not stall the
loop) with ``live``: the process (pid, uptime, heartbeat and last event ages), the health
verdict and the engine's state now (:func:`agent.control.probe.engine_now`: ledger, positions
at current marks, latest funding rates, risk, counters, the live feed's stream health). A
journal that cannot be read yet (a replay loading its data) gives 503 with ``journal_error``
and the same ``live`` block. ``/metrics``: :class:`agent.control.metrics.AgentMetrics`.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import structlog

from agent.clock import LiveClock
from agent.config import AgentConfig
from agent.control.health import Health, HealthInputs, HealthLimits, evaluate
from agent.control.http import HttpServer, Response
from agent.control.metrics import CONTENT_TYPE, AgentMetrics, Reading
from agent.control.probe import (
    ClockView,
    EngineNow,
    EngineView,
    FeedView,
    Heartbeat,
    Monotonic,
    engine_now,
    process_info,
)
from agent.control.status import RiskLimits, jsonable, read_status, status_to_dict
from agent.errors import ConfigError, JournalError

log = structlog.get_logger("zerobeta.control")


def wall_ms() -> int:
    """Wall time, epoch ms UTC."""
    return LiveClock().now_ms()


class ControlSurface:
    """One agent's HTTP control surface (module docstring).

    Parameters
    ----------
    config : AgentConfig
        ``[control]`` for the address and heartbeat, ``[market_data] stale_after_s``,
        ``[risk]`` limits, ``[journal] path``.
    monotonic : Monotonic
        Seconds, monotonic: the heartbeat's clock (``heartbeat.monotonic``; a test
        replaces it to age the engine's last event without waiting).
    """

    def __init__(self, config: AgentConfig, *, monotonic: Monotonic = time.monotonic) -> None:
        self._cfg = config
        self.heartbeat = Heartbeat(monotonic)
        self.metrics = AgentMetrics(self._reading)
        self._engine: EngineView | None = None
        self._feed: FeedView | None = None
        self._wall: ClockView = LiveClock()
        self._serving = False
        self._http = HttpServer(
            {"/healthz": self._healthz, "/status": self._status, "/metrics": self._metrics}
        )

    @classmethod
    async def open(cls, config: AgentConfig, stack: AsyncExitStack) -> ControlSurface | None:
        """Bind the endpoint when this run serves it (closed by ``stack``); None when not.

        Raises
        ------
        ConfigError
            On ``control.http_port`` when the address cannot be bound.
        """
        control = config.control
        if not control.http_enabled(config.market_data.source):
            return None
        surface = cls(config)
        try:
            await surface._http.listen(control.http_bind, control.http_port)
        except OSError as err:
            where = f"{control.http_bind}:{control.http_port}"
            reason = f"cannot listen on {where}: {err.strerror or err}"
            raise ConfigError([("control.http_port", reason)]) from err
        stack.push_async_callback(surface.close)
        log.info("control_listening", bind=control.http_bind, port=surface.port)
        return surface

    @property
    def port(self) -> int:
        """The bound TCP port (the one the OS chose when ``http_port`` is 0)."""
        return self._http.port

    def attach(
        self, engine: EngineView, feed: FeedView | None = None, wall: ClockView | None = None
    ) -> None:
        """Serve ``engine`` (and a live ``feed`` with the ``wall`` clock it runs on, which ages
        its marks and is the status clock): follow its clock, time its orders."""
        self._engine = engine
        self._feed = feed
        if wall is not None:
            self._wall = wall
        self.heartbeat.follow(engine.clock)
        engine.executor.desk.on_order_latency = self.metrics.observe_order_latency

    async def serve(self, until: asyncio.Future[Any]) -> None:
        """Accept connections and beat the heartbeat until ``until`` (the run's driver) is
        done, then close."""
        await self._http.start_serving()
        self._serving = True
        try:
            await self.heartbeat.run(self._cfg.control.heartbeat_s, until)
        finally:
            self._serving = False
            await self.close()

    async def close(self) -> None:
        """Stop serving; idempotent."""
        await self._http.close()

    # ---- what is served ----------------------------------------------------------------------

    def health(self) -> Health:
        """The health verdict now (:mod:`agent.control.health`)."""
        inputs = HealthInputs(
            engine_attached=self._engine is not None,
            heartbeat_running=self._serving,
            heartbeat_age_s=self.heartbeat.heartbeat_age_s(),
            event_age_s=self.heartbeat.event_age_s(),
        )
        limits = HealthLimits(
            self._cfg.control.heartbeat_timeout_s, float(self._cfg.market_data.stale_after_s)
        )
        return evaluate(inputs, limits)

    def engine_now(self) -> EngineNow | None:
        """The engine's state now, None before it is attached."""
        if self._engine is None:
            return None
        return engine_now(self._engine, self._feed, self._wall.now_ms())

    def live(self) -> dict[str, Any]:
        """The ``live`` block of ``/status``: process, health, the engine now."""
        return {
            "process": process_info(self.heartbeat),
            "health": self.health().to_dict(),
            "engine": jsonable(self.engine_now()),
        }

    def _reading(self) -> Reading:
        return Reading(self.engine_now(), self.heartbeat, self.health())

    async def _healthz(self) -> Response:
        health = self.health()
        status = HTTPStatus.OK if health.ok else HTTPStatus.SERVICE_UNAVAILABLE
        return Response(int(status), _json(health.to_dict()))

    async def _status(self) -> Response:
        risk = self._cfg.risk
        limits = RiskLimits(risk.daily_drawdown_frac, risk.total_drawdown_frac)
        path = Path(self._cfg.journal.path)
        try:
            now_ms = self._wall.now_ms()
            status = await asyncio.to_thread(read_status, path, limits=limits, wall_ms=now_ms)
        except JournalError as err:
            body = {"journal": str(path), "journal_error": str(err), "live": self.live()}
            return Response(int(HTTPStatus.SERVICE_UNAVAILABLE), _json(body))
        return Response(
            int(HTTPStatus.OK), _json(status_to_dict(replace(status, live=self.live())))
        )

    async def _metrics(self) -> Response:
        return Response(int(HTTPStatus.OK), self.metrics.render(), CONTENT_TYPE)


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=False, allow_nan=False).encode() + b"\n"
