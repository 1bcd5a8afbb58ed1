"""venues.ws.stream against a real local websocket server on 127.0.0.1 (port 0).

The server replays a script per connection (connection 1 runs ``scripts[0]`` ...) and records
every frame it receives. Tests synchronize on queues and events; the only waits are the
stream's own short timeouts (watchdog / lifetime of a fraction of a second). Backoff sleeps
go through an injected fake that records the delay and only yields to the event loop.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from http import HTTPStatus
from typing import Any

import pytest
from structlog.testing import capture_logs
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus, InvalidURI

from tests.support.ws_server import ScriptedServer, running
from venues.errors import AuthError, ProtocolError, RateLimited
from venues.ws import (
    Backoff,
    StreamConfig,
    StreamSilent,
    default_is_fatal,
    reconnect_counts,
    stream,
)

pytestmark = pytest.mark.timeout(10)

SUBSCRIBE = {"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1}
FAST_BACKOFF = Backoff(initial_s=0.01, max_s=0.08, factor=2.0, jitter=0.0)


def config_for(url: str, **overrides: Any) -> StreamConfig:
    settings: dict[str, Any] = {
        "url": url,
        "subscribe_messages": lambda: [SUBSCRIBE],
        "watchdog_s": 5.0,
        "backoff": FAST_BACKOFF,
        "name": "test.ws",
        "protocol_ping_interval_s": None,
        "proxy": None,
        "open_timeout_s": 5.0,
    }
    settings.update(overrides)
    return StreamConfig(**settings)


class Recorder:
    """Fake backoff sleep and on_reconnect callback."""

    def __init__(self) -> None:
        self.sleeps_s: list[float] = []
        self.reconnects = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        await asyncio.sleep(0)  # yield to the loop only; no time passes

    async def on_reconnect(self) -> None:
        self.reconnects += 1


async def take(config: StreamConfig, recorder: Recorder, count: int, **kwargs: Any) -> list[Any]:
    async with aclosing(
        stream(config, on_reconnect=recorder.on_reconnect, sleep=recorder.sleep, **kwargs)
    ) as messages:
        return [await anext(messages) for _ in range(count)]


async def subscribe_then_send(ws: ServerConnection, server: ScriptedServer, *frames: Any) -> None:
    await server.recv(ws)
    for frame in frames:
        await ws.send(json.dumps(frame))


async def subscribe_then_abort(ws: ServerConnection, server: ScriptedServer) -> None:
    await server.recv(ws)
    ws.transport.abort()  # TCP reset: no close frame


async def subscribe_send_one_then_idle(ws: ServerConnection, server: ScriptedServer) -> None:
    await subscribe_then_send(ws, server, {"seq": len(server.received)})
    await ws.wait_closed()


# --- reconnects ----------------------------------------------------------------------------


async def test_close_mid_stream_reconnects_resubscribes_and_calls_on_reconnect() -> None:
    async def first(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribe_then_send(ws, server, {"seq": 1}, {"seq": 2})
        await ws.close(code=1011, reason="internal error")

    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribe_then_send(ws, server, {"seq": 3})
        await ws.wait_closed()

    server = ScriptedServer([first, second])
    recorder = Recorder()
    ready = asyncio.Event()
    async with running(server) as url:
        got = await take(config_for(url), recorder, 3, ready=ready)
    assert got == [{"seq": 1}, {"seq": 2}, {"seq": 3}]
    assert server.received[:2] == [[json.dumps(SUBSCRIBE, separators=(",", ":"))]] * 2
    assert recorder.reconnects == 1
    assert recorder.sleeps_s == [0.01]
    assert ready.is_set()


async def test_tcp_reset_reconnects() -> None:
    async def second(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribe_then_send(ws, server, {"seq": 1})
        await ws.wait_closed()

    server = ScriptedServer([subscribe_then_abort, second])
    recorder = Recorder()
    async with running(server) as url:
        assert await take(config_for(url), recorder, 1) == [{"seq": 1}]
    assert server.connections == 2
    assert recorder.reconnects == 1


async def test_backoff_grows_on_failures_and_resets_after_data() -> None:
    async def third(ws: ServerConnection, server: ScriptedServer) -> None:
        await subscribe_then_send(ws, server, {"seq": 1})
        await ws.close(code=1001, reason="going away")

    server = ScriptedServer(
        [subscribe_then_abort, subscribe_then_abort, third, subscribe_send_one_then_idle]
    )
    recorder = Recorder()
    before = reconnect_counts()
    async with running(server) as url:
        got = await take(config_for(url, name="test.ws.counted"), recorder, 2)
    counted = {
        key: n - before.get(key, 0)
        for key, n in reconnect_counts().items()
        if key[0] == "test.ws.counted" and n != before.get(key, 0)
    }
    assert sum(counted.values()) == 3  # every reconnect counted once, by its reason
    assert counted.get(("test.ws.counted", "ConnectionClosedOK"), 0) == 1  # the 1001 close
    assert got == [{"seq": 1}, {"seq": 4}]
    # 0.01, then ×2 after a second empty connection, then back to 0.01 after one with data.
    assert recorder.sleeps_s == [0.01, 0.02, 0.01]
    assert recorder.reconnects == 3


async def test_silent_stream_trips_watchdog_and_reconnects() -> None:
    server = ScriptedServer([subscribe_send_one_then_idle])
    recorder = Recorder()
    async with running(server) as url:
        with capture_logs() as logs:
            got = await take(config_for(url, watchdog_s=0.2), recorder, 2)
    assert got == [{"seq": 1}, {"seq": 2}]
    assert recorder.reconnects == 1
    reconnect_logs = [entry for entry in logs if entry["event"] == "ws_reconnecting"]
    assert reconnect_logs[0]["reason"] == StreamSilent.__name__
    assert "secret-listen-key" not in str(logs)


async def test_max_lifetime_reconnects_without_backoff() -> None:
    server = ScriptedServer([subscribe_send_one_then_idle])
    recorder = Recorder()
    async with running(server) as url:
        got = await take(config_for(url, max_lifetime_s=0.2), recorder, 2)
    assert got == [{"seq": 1}, {"seq": 2}]
    assert recorder.sleeps_s == [0.0]
    assert recorder.reconnects == 1


async def test_handshake_503_is_retried() -> None:
    server = ScriptedServer(
        [subscribe_send_one_then_idle], refuse={0: HTTPStatus.SERVICE_UNAVAILABLE}
    )
    recorder = Recorder()
    async with running(server) as url:
        assert await take(config_for(url), recorder, 1) == [{"seq": 1}]
    assert server.handshakes == 2
    assert recorder.reconnects == 0  # the first successful connect is not a reconnect


# --- fatal errors --------------------------------------------------------------------------


async def test_handshake_401_is_fatal_and_raised() -> None:
    server = ScriptedServer([subscribe_send_one_then_idle], refuse={0: HTTPStatus.UNAUTHORIZED})
    recorder = Recorder()
    async with running(server) as url:
        with pytest.raises(InvalidStatus) as info:
            await take(config_for(url), recorder, 1)
    assert info.value.response.status_code == 401
    assert server.handshakes == 1
    assert recorder.sleeps_s == []


async def test_custom_is_fatal_raises_the_close_error() -> None:
    async def policy_close(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.close(code=1008, reason="too many subscribes")

    def close_1008_is_fatal(error: BaseException) -> bool:
        return (
            isinstance(error, ConnectionClosed)
            and error.rcvd is not None
            and (error.rcvd.code == 1008)
        )

    server = ScriptedServer([policy_close])
    recorder = Recorder()
    async with running(server) as url:
        with pytest.raises(ConnectionClosedError) as info:
            await take(config_for(url, is_fatal=close_1008_is_fatal), recorder, 1)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008
    assert server.connections == 1


async def test_non_json_frame_is_protocol_error_unless_skipped() -> None:
    async def pong_then_data(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await ws.send("pong")
        await ws.send(json.dumps({"seq": 1}))
        await ws.wait_closed()

    server = ScriptedServer([pong_then_data])
    async with running(server) as url:
        skip_pong = config_for(url, skip_frame=lambda raw: raw == "pong")
        assert await take(skip_pong, Recorder(), 1) == [{"seq": 1}]
        with pytest.raises(ProtocolError, match="not JSON"):
            await take(config_for(url), Recorder(), 1)


# --- messages sent by the client -----------------------------------------------------------


async def test_auth_then_subscribe_in_order_and_application_ping() -> None:
    pinged = asyncio.Event()

    async def expect_ping(ws: ServerConnection, server: ScriptedServer) -> None:
        await server.recv(ws)
        await server.recv(ws)
        assert await server.recv(ws) == "ping"
        pinged.set()
        await ws.send(json.dumps({"op": "pong"}))
        await ws.wait_closed()

    server = ScriptedServer([expect_ping])
    auth = {"op": "auth", "args": ["key", 1700000000000, "sig"]}
    async with running(server) as url:
        config = config_for(
            url, subscribe_messages=lambda: [auth, SUBSCRIBE], ping=(0.05, lambda: "ping")
        )
        assert await take(config, Recorder(), 1) == [{"op": "pong"}]
    assert pinged.is_set()
    assert [json.loads(frame) for frame in server.received[0][:2]] == [auth, SUBSCRIBE]


# --- pure parts ----------------------------------------------------------------------------


def test_backoff_delays_grow_cap_and_jitter() -> None:
    delays = Backoff(initial_s=1.0, max_s=5.0, factor=2.0, jitter=0.2).delays(rand=lambda: 0.5)
    got = [next(delays) for _ in range(5)]
    # Each base delay (1, 2, 4, 5, 5 s) scaled by 1 − 0.2 × 0.5 = 0.9.
    assert got == pytest.approx([0.9, 1.8, 3.6, 4.5, 4.5])


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (InvalidURI("http://x", "not a websocket URI"), True),
        (AuthError("bad key", venue="bybit"), True),
        (ProtocolError("bad frame", venue="bybit"), True),
        (RateLimited("slow down", venue="bybit", retry_after_s=1.0), False),
        (StreamSilent("quiet"), False),
        (OSError("connection refused"), False),
        (TimeoutError(), False),
    ],
)
def test_default_is_fatal(error: BaseException, fatal: bool) -> None:
    assert default_is_fatal(error) is fatal
