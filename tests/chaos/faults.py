"""The chaos exchange's fault schedule: deterministic from a seed.

Every request the exchange receives gets an ordinal within its kind (``order_post``,
``order_get``, ``signed``, ``public``) and the fault of that ordinal is drawn from
``random.Random(f"{seed}/{kind}/{ordinal}")``: the same seed gives the same fault to the n-th
order, the n-th lookup... whatever the agent's timing. The websocket schedule (drops after a
number of frames, windows of silence) and the mark jumps that breach the execution's drift
threshold are drawn the same way, by connection ordinal and by virtual hour.

Faults (what a real venue does, https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
"HTTP Return Codes" and "Error Codes"):

=====================  ==========================================================================
``latency``            the answer comes late (under the client's timeout)
``hold_after_accept``  the order is executed, the answer never comes: the client times out
``error_after_accept`` the order is executed, then HTTP 503 (outcome unknown to the client)
``drop_after_accept``  the order is executed, then the connection is cut
``error_before``       HTTP 502 before anything happened (nothing executed)
``rate_limited``       HTTP 429 with ``Retry-After`` (nothing executed)
``reject``             ``-2019 Margin is insufficient.`` (this leg refused; its sibling is not)
``partial``            a MARKET order fills in part, the rest expires (``EXPIRED``)
=====================  ==========================================================================
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

HOUR_MS = 3_600_000

NONE = "none"
LATENCY = "latency"
HOLD_AFTER_ACCEPT = "hold_after_accept"
ERROR_AFTER_ACCEPT = "error_after_accept"
DROP_AFTER_ACCEPT = "drop_after_accept"
ERROR_BEFORE = "error_before"
RATE_LIMITED = "rate_limited"
REJECT = "reject"
PARTIAL = "partial"

AFTER_ACCEPT = frozenset({HOLD_AFTER_ACCEPT, ERROR_AFTER_ACCEPT, DROP_AFTER_ACCEPT})
"""Faults after which the order exists but the client does not know it."""

DEFAULT_RATES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "order_post": {
            LATENCY: 0.08,
            HOLD_AFTER_ACCEPT: 0.02,
            ERROR_AFTER_ACCEPT: 0.02,
            DROP_AFTER_ACCEPT: 0.02,
            ERROR_BEFORE: 0.02,
            RATE_LIMITED: 0.02,
            REJECT: 0.03,
            PARTIAL: 0.04,
        },
        "order_get": {LATENCY: 0.08, ERROR_BEFORE: 0.05, RATE_LIMITED: 0.02},
        "signed": {LATENCY: 0.05, ERROR_BEFORE: 0.03, RATE_LIMITED: 0.01},
        "public": {LATENCY: 0.05, ERROR_BEFORE: 0.02, RATE_LIMITED: 0.01},
    }
)
"""Probability of each fault per request kind (the rest: no fault)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One request's fault: ``kind`` (a name above), ``delay_s`` (virtual seconds of latency),
    ``fill_frac`` (``partial``: the part that fills, 0 < frac < 1)."""

    kind: str = NONE
    delay_s: float = 0.0
    fill_frac: float = 1.0


@dataclass(frozen=True, slots=True)
class WsFaults:
    """One websocket connection's fate: cut after ``drop_after_frames`` frames (None: never)."""

    drop_after_frames: int | None


@dataclass(frozen=True, slots=True)
class MarkJump:
    """At ``ts_ms`` (virtual) the mark of ``symbol`` is multiplied by ``factor``."""

    ts_ms: int
    symbol: str
    factor: float


@dataclass
class FaultPlan:
    """The seeded schedule (see the module docstring).

    Parameters
    ----------
    seed : int
    rates : Mapping[str, Mapping[str, float]]
        Fault probabilities by request kind.
    ws_drop_frac : float
        Share of websocket connections cut after a random number of frames.
    silence_frac : float
        Share of virtual hours with a window of websocket silence (longer than the client's
        10 s watchdog).
    jump_frac : float
        Share of virtual hours in which a mark jumps by ``jump_size`` (a drift breach).
    calm : bool
        No fault at all (set at the end of a run so that everything can resolve).
    """

    seed: int
    rates: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: DEFAULT_RATES)
    ws_drop_frac: float = 0.3
    silence_frac: float = 0.25
    jump_frac: float = 0.5
    jump_size: float = 0.025
    calm: bool = False

    def _rng(self, *key: object) -> random.Random:
        return random.Random("/".join(str(k) for k in (self.seed, *key)))

    def for_request(self, kind: str, ordinal: int) -> Fault:
        """The fault of the ``ordinal``-th request of ``kind`` (``NONE`` when calm)."""
        if self.calm:
            return Fault()
        rng = self._rng(kind, ordinal)
        draw = rng.random()
        for name, p in self.rates.get(kind, {}).items():
            if draw < p:
                return Fault(name, rng.uniform(0.5, 6.0), rng.choice((0.25, 0.5, 0.75)))
            draw -= p
        return Fault()

    def for_ws(self, ordinal: int) -> WsFaults:
        """The fate of the ``ordinal``-th websocket connection."""
        rng = self._rng("ws", ordinal)
        if self.calm or rng.random() >= self.ws_drop_frac:
            return WsFaults(None)
        return WsFaults(rng.randint(1, 400))

    def silence(self, hour: int) -> tuple[int, int] | None:
        """Silent window ``(start_ms, end_ms)`` of virtual hour ``hour`` (epoch hours), or None."""
        rng = self._rng("silence", hour)
        if self.calm or rng.random() >= self.silence_frac:
            return None
        start_ms = hour * HOUR_MS + rng.randint(60_000, 3_000_000)
        return start_ms, start_ms + rng.randint(15_000, 120_000)

    def jump(self, hour: int, symbols: tuple[str, ...]) -> MarkJump | None:
        """The mark jump in virtual hour ``hour``, or None (drawn even when calm: prices do not
        depend on faults)."""
        rng = self._rng("jump", hour)
        if rng.random() >= self.jump_frac:
            return None
        symbol = rng.choice(symbols)
        up = rng.random() < 0.5
        size = self.jump_size
        return MarkJump(hour * HOUR_MS + rng.randint(120_000, 3_300_000), symbol,
                        1 + size if up else 1 / (1 + size))  # fmt: skip
