"""The one long-lived websocket loop every venue stream uses (``websockets`` asyncio client).

:func:`stream` yields decoded JSON messages for as long as the caller iterates, and hides
reconnects::

    connect → send subscribe_messages() (an auth message first, if the venue needs one)
            → on a reconnect: await on_reconnect() (the adapter resyncs over REST here)
            → read, sending the venue's application ping every ``ping`` interval
    on drop / silence / max lifetime → backoff → reconnect

Retry policy is one injectable "fatal?" function (:attr:`StreamConfig.is_fatal`) plus a
:class:`Backoff` delay generator that starts over after a connection that delivered data.
Fatal errors are raised to the caller; every other ``Exception`` leads to a reconnect.
``asyncio.CancelledError`` (and every other ``BaseException``) always propagates.

Timeouts, all in seconds:

* ``open_timeout_s``: TCP + TLS + websocket handshake;
* ``watchdog_s``: no frame at all within it → the connection is treated as dead;
* ``max_lifetime_s``: reconnect proactively before the venue's own cut (Binance: 24 h);
* ``ping`` interval: application-level ping (Bybit ``{"op":"ping"}`` every 20 s, OKX ``ping``);
* ``protocol_ping_interval_s`` / ``protocol_ping_timeout_s``: websocket ping frames sent by
  the ``websockets`` library itself (``None`` disables them).

URLs are logged without their query string (a Binance listenKey lives there).

Every reconnect is also counted, per stream name and reason, for the life of the process
(:func:`reconnect_counts`; the agent's ``/metrics`` serves them as
``zerobeta_ws_reconnects_total``).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, InvalidURI

from venues.errors import AuthError, ProtocolError

log = structlog.get_logger("zerobeta.venues.ws")

Message = str | dict[str, Any]
"""An outgoing message: a ``dict`` is sent as JSON text, a ``str`` as is."""

Ping = tuple[float, Callable[[], Message]]
"""``(interval_s, make_ping)``: send ``make_ping()`` every ``interval_s`` seconds."""

SleepFn = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Login:
    """A login that must be acknowledged before subscribing (OKX refuses a private
    ``subscribe`` that arrives before its ``login`` answer with ``60011``).

    Parameters
    ----------
    messages : Callable[[], Sequence[Message]]
        Built on every (re)connect (fresh timestamp and signature), sent first.
    accepted : Callable[[Any], bool]
        Called on each decoded frame until it returns ``True`` (the login ack); it raises
        (e.g. ``AuthError``) on a refusal, which goes through ``is_fatal``.
    yield_ack : bool
        Also hand the ack to the consumer (after ``on_reconnect``), so a consumer holding
        resync results can deliver them at once even if no other frame follows.
    """

    messages: Callable[[], Sequence[Message]]
    accepted: Callable[[Any], bool]
    yield_ack: bool = False


class StreamSilent(Exception):
    """No frame arrived within ``watchdog_s`` seconds; the connection is treated as dead."""


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays with jitter.

    Parameters
    ----------
    initial_s : float
        First delay in seconds.
    max_s : float
        Cap on any delay in seconds.
    factor : float
        Growth per failed attempt (≥ 1).
    jitter : float
        Fraction in [0, 1]: each delay is scaled by a random factor in ``[1 − jitter, 1]`` so
        many clients do not reconnect in lockstep, and never exceeds ``max_s``.
    """

    initial_s: float = 1.0
    max_s: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2

    def delays(self, rand: Callable[[], float] = random.random) -> Iterator[float]:
        """Yield delays in seconds: initial, ×factor, … capped at ``max_s``, jittered.

        Parameters
        ----------
        rand : Callable[[], float]
            Uniform source in [0, 1); tests pass a constant.
        """
        delay_s = self.initial_s
        while True:
            yield min(self.max_s, delay_s) * (1.0 - self.jitter * rand())
            delay_s = min(self.max_s, delay_s * self.factor)


def default_is_fatal(error: BaseException) -> bool:
    """Whether a stream error must be raised instead of reconnecting.

    Fatal: a malformed URL, a handshake refused with a 4xx other than 429 (bad key, wrong
    path), :class:`~venues.errors.AuthError` and :class:`~venues.errors.ProtocolError` (a
    frame that is not JSON means the adapter's config is wrong). Everything else — drops,
    close frames, 5xx, timeouts, silence — is retried.
    """
    if isinstance(error, InvalidURI | AuthError | ProtocolError):
        return True
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        return 400 <= status < 500 and status != 429
    return False


@dataclass(frozen=True)
class StreamConfig:
    """What :func:`stream` needs to keep one subscription alive.

    Parameters
    ----------
    url : str
        ``wss://`` URL (query string may carry a listenKey; it is never logged).
    subscribe_messages : Callable[[], Sequence[Message]]
        Called on every (re)connect; messages are sent in order (auth first, then subscribe).
        A callable so auth messages get a fresh timestamp/signature each time.
    login : Login | None
        A login sent and acknowledged (within ``open_timeout_s``) before
        ``subscribe_messages``; frames before the ack are not yielded.
    ping : tuple[float, Callable[[], Message]] | None
        ``(interval_s, make_ping)`` application ping, or ``None`` if the venue needs none.
    watchdog_s : float
        Seconds without any frame after which the connection is dropped and re-opened.
    max_lifetime_s : float
        Seconds after which a healthy connection is replaced (default 23 h, before the 24 h
        cut of Binance), without backoff.
    backoff : Backoff
        Reconnect delays; restarts from ``initial_s`` after a connection that delivered data.
    is_fatal : Callable[[BaseException], bool]
        ``True`` → raise the error to the caller; ``False`` → reconnect.
    name : str
        Stream name for logs and errors (``binance.ws.marks``).
    skip_frame : Callable[[str | bytes], bool] | None
        Frames to drop before JSON decoding (OKX's text ``pong``). They still feed the watchdog.
    open_timeout_s : float
        Seconds allowed for the opening handshake.
    protocol_ping_interval_s, protocol_ping_timeout_s : float | None
        Websocket-level ping frames by the library, in seconds (``None`` disables).
    max_message_bytes : int | None
        Largest frame accepted, in bytes.
    proxy : str | Literal[True] | None
        ``True`` uses the environment's proxy settings, ``None`` connects directly.
    answer : Callable[[Any], Message | None] | None
        Server requests the stream answers itself: called on every decoded frame, a message it
        returns is sent at once (Deribit's heartbeat ``test_request`` → ``public/test``); the
        frame is still yielded.
    decode : Callable[[str | bytes], Any] | None
        Decoder of each frame instead of :func:`json.loads` (a typed decoder at the boundary:
        Binance marks, :func:`venues.binance.decode.decode_mark_frame`); a ``ValueError`` it
        raises is reported as for ``json.loads``.
    """

    url: str
    subscribe_messages: Callable[[], Sequence[Message]]
    ping: Ping | None = None
    watchdog_s: float = 30.0
    max_lifetime_s: float = 23 * 3600.0
    backoff: Backoff = field(default_factory=Backoff)
    is_fatal: Callable[[BaseException], bool] = default_is_fatal
    name: str = "ws"
    skip_frame: Callable[[str | bytes], bool] | None = None
    open_timeout_s: float = 10.0
    protocol_ping_interval_s: float | None = 20.0
    protocol_ping_timeout_s: float | None = 20.0
    max_message_bytes: int | None = 4 * 1024 * 1024
    proxy: str | Literal[True] | None = True
    login: Login | None = None
    answer: Callable[[Any], Message | None] | None = None
    decode: Callable[[str | bytes], Any] | None = None


_RECONNECTS: Counter[tuple[str, str]] = Counter()


def reconnect_counts() -> dict[tuple[str, str], int]:
    """Reconnects of every :func:`stream` in this process since it started, by
    ``(stream name, reason)``; reason is ``max_lifetime`` (a planned replacement) or the name of
    the error class that dropped the connection (``ConnectionClosedError``, ``TimeoutError``
    for a silent connection past its watchdog, ...). A copy: later reconnects do not change it.
    """
    return dict(_RECONNECTS)


async def stream(
    config: StreamConfig,
    *,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ready: asyncio.Event | None = None,
    sleep: SleepFn = asyncio.sleep,
) -> AsyncGenerator[Any, None]:
    """Yield decoded JSON messages from ``config.url`` forever, reconnecting as needed.

    Parameters
    ----------
    config : StreamConfig
        URL, subscriptions, timeouts and retry policy.
    on_reconnect : Callable[[], Awaitable[None]] | None
        Awaited after every reconnect, once subscriptions are sent and before reading, so
        the adapter can resync state over REST without a gap. Not called on the first
        connect. If it raises, the error goes through ``is_fatal`` like a connection error.
    ready : asyncio.Event | None
        Set when the first message (typically the subscription ack) arrives.
    sleep : Callable[[float], Awaitable[None]]
        Async sleep in seconds used for backoff; tests inject a fake.

    Yields
    ------
    Any
        Each frame decoded with :func:`json.loads`.

    Raises
    ------
    Exception
        The first error for which ``config.is_fatal`` returns ``True``, unchanged.
    """
    delays = config.backoff.delays()
    connections = 0
    while True:
        delivered = False
        reason = "max_lifetime"
        try:
            async with _connect(config) as ws:
                ack = None if config.login is None else await _log_in(ws, config, config.login)
                await _send_all(ws, config.subscribe_messages())
                if connections > 0 and on_reconnect is not None:
                    await on_reconnect()
                connections += 1
                if ack is not None and config.login is not None and config.login.yield_ack:
                    yield ack
                async for message in _read(ws, config):
                    delivered = True
                    if ready is not None:
                        ready.set()
                    yield message
        except Exception as e:
            if config.is_fatal(e):
                raise
            reason = type(e).__name__
        if delivered:
            delays = config.backoff.delays()
        delay_s = 0.0 if reason == "max_lifetime" else next(delays)
        _RECONNECTS[(config.name, reason)] += 1
        log.info(
            "ws_reconnecting",
            stream=config.name,
            url=_redact(config.url),
            reason=reason,
            delay_s=round(delay_s, 3),
            delivered=delivered,
        )
        await sleep(delay_s)


def _connect(config: StreamConfig) -> connect:
    return connect(
        config.url,
        open_timeout=config.open_timeout_s,
        ping_interval=config.protocol_ping_interval_s,
        ping_timeout=config.protocol_ping_timeout_s,
        max_size=config.max_message_bytes,
        proxy=config.proxy,
    )


async def _log_in(ws: ClientConnection, config: StreamConfig, login: Login) -> Any:
    """Send the login and wait for its ack; returns the decoded ack.

    Raises
    ------
    TimeoutError
        No ack within ``open_timeout_s`` (retried like a drop).
    """
    await _send_all(ws, login.messages())
    async with asyncio.timeout(config.open_timeout_s):
        while True:
            raw = await ws.recv()
            if config.skip_frame is not None and config.skip_frame(raw):
                continue
            frame = _decode(raw, config.name, config.decode)
            if login.accepted(frame):
                return frame


async def _send_all(ws: ClientConnection, messages: Sequence[Message]) -> None:
    for message in messages:
        await ws.send(_encode(message))


async def _read(ws: ClientConnection, config: StreamConfig) -> AsyncIterator[Any]:
    """Yield decoded frames until ``max_lifetime_s``; raise :class:`StreamSilent` on silence.

    One task does everything: each ``recv`` waits at most until the next deadline (ping,
    watchdog, lifetime), so no background task is needed. Silence is measured from the last
    frame or from when the consumer handed control back, whichever is later, so a slow
    consumer with frames already buffered is never mistaken for a dead connection.
    """
    loop = asyncio.get_running_loop()
    opened_s = loop.time()
    end_s = opened_s + config.max_lifetime_s
    idle_since_s = opened_s
    next_ping_s = opened_s + config.ping[0] if config.ping is not None else math.inf
    while (now_s := loop.time()) < end_s:
        if now_s - idle_since_s >= config.watchdog_s:
            raise StreamSilent(f"{config.name}: no frame for {config.watchdog_s} s")
        if config.ping is not None and now_s >= next_ping_s:
            await ws.send(_encode(config.ping[1]()))
            next_ping_s = now_s + config.ping[0]
        timeout_s = min(end_s, idle_since_s + config.watchdog_s, next_ping_s) - now_s
        try:
            async with asyncio.timeout(timeout_s):
                raw = await ws.recv()  # cancellation-safe in websockets' asyncio client
        except TimeoutError:
            continue
        if config.skip_frame is None or not config.skip_frame(raw):
            frame = _decode(raw, config.name, config.decode)
            reply = None if config.answer is None else config.answer(frame)
            if reply is not None:
                await ws.send(_encode(reply))
            yield frame
        idle_since_s = loop.time()


def _encode(message: Message) -> str:
    return message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))


def _decode(raw: str | bytes, name: str, decode: Callable[[str | bytes], Any] | None = None) -> Any:
    try:
        return json.loads(raw) if decode is None else decode(raw)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError both subclass it
        raise ProtocolError(f"{name}: frame is not JSON: {raw[:200]!r}", venue=name) from e


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
