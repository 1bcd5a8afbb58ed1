"""The health rule behind ``/healthz``: healthy only while the event loop is responsive and the
engine is fed.

Three checks, each with its value and limit (seconds):

- ``engine``: the run's engine is built and the heartbeat task runs (else ``starting``: data
  loading, live warm-up, or the run has ended);
- ``event_loop``: the heartbeat task beat within ``[control] heartbeat_timeout_s``. A loop hung
  for good answers nothing at all (the server runs on the same loop; the prober's timeout is
  the signal); this check catches a loop that was blocked and is only now catching up;
- ``market_data``: the engine processed a step or a mark within ``[market_data]
  stale_after_s`` (its clock moved: :class:`agent.control.probe.Heartbeat`).

Healthy (HTTP 200) when all pass; otherwise 503 with every failing check's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HealthInputs:
    """What the checks look at: an engine attached and the heartbeat running, and the ages
    (s, None when unknown) of the last beat and of the engine's last step or mark."""

    engine_attached: bool
    heartbeat_running: bool
    heartbeat_age_s: float | None
    event_age_s: float | None


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """``heartbeat_timeout_s`` ([control]) and ``stale_after_s`` ([market_data]), seconds."""

    heartbeat_timeout_s: float
    stale_after_s: float


@dataclass(frozen=True, slots=True)
class Check:
    """One check: passed or not, the value and limit it compared (s) and why it failed."""

    name: str
    ok: bool
    value_s: float | None
    limit_s: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class Health:
    """Every check; ``ok`` when all pass, ``status`` ``ok``, ``starting`` or ``unhealthy``."""

    ok: bool
    status: str
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``/healthz`` JSON body: status, the failing checks' reasons, every check."""
        return {
            "status": self.status,
            "reasons": [c.reason for c in self.checks if not c.ok],
            "checks": {
                c.name: {"ok": c.ok, "value_s": c.value_s, "limit_s": c.limit_s}
                for c in self.checks
            },
        }


def evaluate(inputs: HealthInputs, limits: HealthLimits) -> Health:
    """Apply the rule of the module docstring."""
    if not (inputs.engine_attached and inputs.heartbeat_running):
        check = Check("engine", False, None, None, "starting: the engine is not running yet")
        return Health(False, "starting", (check,))
    checks = (
        Check("engine", True, None, None, ""),
        _age_check(
            "event_loop",
            inputs.heartbeat_age_s,
            limits.heartbeat_timeout_s,
            "the event loop has not run its heartbeat for {age:.1f} s (limit {limit:g} s)",
        ),
        _age_check(
            "market_data",
            inputs.event_age_s,
            limits.stale_after_s,
            "no step or mark processed for {age:.1f} s (stale after {limit:g} s)",
        ),
    )
    ok = all(c.ok for c in checks)
    return Health(ok, "ok" if ok else "unhealthy", checks)


def _age_check(name: str, age_s: float | None, limit_s: float, why: str) -> Check:
    if age_s is None:
        return Check(name, False, None, limit_s, f"{name}: nothing observed yet")
    ok = age_s <= limit_s
    return Check(name, ok, age_s, limit_s, "" if ok else why.format(age=age_s, limit=limit_s))
