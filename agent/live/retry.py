"""Start-up reads that wait for the network instead of ending the run.

At boot the network may not be up yet (DNS not ready, a venue in maintenance, a rate limit
after a restart loop). The live start-up — opening the venues, loading their instruments,
reading the start-up history — therefore retries every error :func:`venues.errors.is_retryable`
accepts (transport errors, timeouts, 5xx, rate limits) with jittered exponential backoff
(``initial_s`` doubling up to ``max_s``, at least the venue's ``Retry-After``), logging
``venue_unreachable_at_start`` with the attempt and the next delay, for as long as it takes:
a stop request ends the wait (:class:`~agent.errors.ShutdownRequested`, a graceful exit 0).
Any other error goes straight through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from agent.errors import ShutdownRequested
from venues.errors import RateLimited, VenueError, is_retryable

log = structlog.get_logger("zerobeta.live_start")

T = TypeVar("T")
SleepFn = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StartRetry:
    """Backoff of the start-up reads: the first wait ``initial_s`` seconds, doubling (with
    full jitter) up to ``max_s`` seconds; ``max_attempts`` None retries until stopped."""

    initial_s: float = 1.0
    max_s: float = 60.0
    max_attempts: int | None = None


DEFAULT_START_RETRY = StartRetry()


async def retry_at_start(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    stop: asyncio.Event,
    sleep: SleepFn,
    policy: StartRetry = DEFAULT_START_RETRY,
) -> T:
    """``await operation()`` until it succeeds or fails with a non-retryable error.

    Parameters
    ----------
    operation : Callable[[], Awaitable[T]]
        One attempt (called again for each retry).
    what : str
        What is being done, for the log (``open binance``, ``instruments``, ``warm-up``).
    stop : asyncio.Event
        The run's stop request: checked before each attempt and after each wait.
    sleep : SleepFn
        Waits that many seconds (the supervisor's returns early on a stop; tests inject one).
    policy : StartRetry

    Raises
    ------
    agent.errors.ShutdownRequested
        When a stop was requested before an attempt.
    venues.errors.VenueError
        The last retryable error after ``policy.max_attempts`` attempts, or any other error
        at once.
    """
    jitter = wait_random_exponential(multiplier=policy.initial_s, max=policy.max_s)

    def wait(state: RetryCallState) -> float:
        delay_s = float(jitter(state))
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RateLimited):
            delay_s = max(delay_s, error.retry_after_s)
        return delay_s

    def stop_retrying(state: RetryCallState) -> bool:
        limit = policy.max_attempts
        return limit is not None and state.attempt_number >= limit

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        next_delay_s = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "venue_unreachable_at_start",
            operation=what,
            venue=error.venue if isinstance(error, VenueError) else None,
            error_type=type(error).__name__,
            error=str(error),
            attempt=state.attempt_number,
            next_delay_s=round(next_delay_s, 3),
        )

    async def attempt() -> T:
        if stop.is_set():
            raise ShutdownRequested(f"stop requested during start-up ({what})")
        return await operation()

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=wait,
        stop=stop_retrying,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(attempt)
