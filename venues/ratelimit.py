"""Client-side request-weight limiter shared by every REST adapter.

One :class:`RateLimiter` is one token bucket: ``capacity_weight`` units of request weight that
refill continuously over ``window_s`` seconds (Binance USDⓈ-M: 2400 weight / 60 s, see "LIMITS" in
https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info). A venue with
several independent limits (per-IP weight and per-account order count) holds one limiter per limit
and acquires from each.

Three inputs move the bucket:

* :meth:`RateLimiter.acquire` takes weight before a request, waiting until it is available;
* :meth:`RateLimiter.update_used` syncs with the venue's own count (``X-MBX-USED-WEIGHT-1M``),
  which also covers other processes sharing the IP;
* :meth:`RateLimiter.penalize` blocks every caller until a ``Retry-After`` / ban has passed.

Time comes from an injectable monotonic clock (seconds) and waiting from an injectable async
sleep, so tests drive it with a fake clock and never really sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

SleepFn = Callable[[float], Awaitable[None]]
ClockFn = Callable[[], float]


class RateLimiter:
    """Async token bucket measured in request weight.

    Parameters
    ----------
    capacity_weight : float
        Weight the venue allows per window (e.g. 2400), > 0. The bucket starts full.
    window_s : float
        Window length in seconds (e.g. 60.0), > 0. Tokens refill at
        ``capacity_weight / window_s`` weight per second.
    clock : Callable[[], float]
        Monotonic clock in seconds; default :func:`time.monotonic`.
    sleep : Callable[[float], Awaitable[None]]
        Async sleep taking seconds; default :func:`asyncio.sleep`.

    Raises
    ------
    ValueError
        If ``capacity_weight`` or ``window_s`` is not positive.
    """

    def __init__(
        self,
        capacity_weight: float,
        window_s: float,
        *,
        clock: ClockFn = time.monotonic,
        sleep: SleepFn = asyncio.sleep,
    ) -> None:
        if capacity_weight <= 0 or window_s <= 0:
            raise ValueError("capacity_weight and window_s must be positive")
        self.capacity_weight = float(capacity_weight)
        self.window_s = float(window_s)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity_weight
        self._updated_s = clock()
        self._blocked_until_s = float("-inf")
        # One waiter at a time: callers are served in arrival order (asyncio.Lock is FIFO).
        self._lock = asyncio.Lock()

    @property
    def refill_per_s(self) -> float:
        """Refill rate in weight per second."""
        return self.capacity_weight / self.window_s

    @property
    def available_weight(self) -> float:
        """Weight that could be taken right now without waiting (ignores a penalty)."""
        self._refill()
        return self._tokens

    @property
    def blocked_for_s(self) -> float:
        """Seconds until a penalty set by :meth:`penalize` expires (0.0 if none)."""
        return max(0.0, self._blocked_until_s - self._clock())

    async def acquire(self, weight: float = 1.0) -> None:
        """Take ``weight`` from the bucket, waiting until it is available and unblocked.

        Parameters
        ----------
        weight : float
            Request weight as the venue documents it for the endpoint, 0 < weight ≤ capacity.

        Raises
        ------
        ValueError
            If ``weight`` is not positive or exceeds ``capacity_weight`` (it could never run).
        """
        if weight <= 0 or weight > self.capacity_weight:
            raise ValueError(f"weight must be in (0, {self.capacity_weight}], got {weight}")
        async with self._lock:
            while (wait_s := self._wait_needed_s(weight)) > 0:
                await self._sleep(wait_s)
            self._tokens -= weight

    def penalize(self, retry_after_s: float) -> None:
        """Block every :meth:`acquire` for ``retry_after_s`` seconds from now.

        Used for HTTP 429 ``Retry-After`` and 418 IP bans. A shorter penalty never shortens a
        longer one already in force. The bucket is also emptied, since the venue says we used
        it all.

        Parameters
        ----------
        retry_after_s : float
            Seconds to wait, ≥ 0.
        """
        now_s = self._clock()
        self._blocked_until_s = max(self._blocked_until_s, now_s + max(0.0, retry_after_s))
        self._refill()
        self._tokens = 0.0

    def update_used(self, used_weight: float) -> None:
        """Sync with the weight the venue says is used in the current window.

        Only ever lowers the available weight: the venue's window is fixed while ours slides,
        so taking the smaller of the two is the conservative choice.

        Parameters
        ----------
        used_weight : float
            Weight used, as reported by e.g. the ``X-MBX-USED-WEIGHT-1M`` response header.
        """
        self._refill()
        self._tokens = min(self._tokens, max(0.0, self.capacity_weight - used_weight))

    def _refill(self) -> None:
        now_s = self._clock()
        elapsed_s = max(0.0, now_s - self._updated_s)
        self._tokens = min(self.capacity_weight, self._tokens + elapsed_s * self.refill_per_s)
        self._updated_s = now_s

    def _wait_needed_s(self, weight: float) -> float:
        """Seconds to wait before ``weight`` can be taken (0.0 if it can be taken now)."""
        blocked_s = self.blocked_for_s
        if blocked_s > 0:
            return blocked_s
        self._refill()
        missing = weight - self._tokens
        # A tiny tolerance so float rounding after a wait cannot cause a second, tiny wait.
        return 0.0 if missing <= 1e-9 else missing / self.refill_per_s


class SleptClock:
    """Monotonic seconds plus every second waited through an injected sleep.

    A venue built with a fake (instant) sleep — tests, the contract suite — hands its rate
    limiter this clock and :meth:`sleep`, so a limiter penalty (``Retry-After``) is seen to pass
    instead of being waited on forever. Venues use it only when a sleep is injected (with the
    real ``asyncio.sleep`` the monotonic clock alone is right).

    Parameters
    ----------
    sleep : Callable[[float], Awaitable[None]]
        The injected sleep, seconds.
    """

    def __init__(self, sleep: SleepFn) -> None:
        self._sleep = sleep
        self._slept_s = 0.0

    def __call__(self) -> float:
        """Monotonic time plus the time slept through :meth:`sleep`, seconds."""
        return time.monotonic() + self._slept_s

    async def sleep(self, seconds: float) -> None:
        """Sleep with the injected function and count the time as passed."""
        self._slept_s += max(0.0, seconds)
        await self._sleep(seconds)
