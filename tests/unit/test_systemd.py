"""sd_notify over a real local datagram socket: READY, STATUS, STOPPING and watchdog pings, none
while the agent is unhealthy or its event loop is blocked."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.systemd import SystemdNotifier, watchdog_pings

RECV_TIMEOUT_S = 2.0  # only reached when a test fails: every expected datagram is already there


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(RECV_TIMEOUT_S)
    try:
        yield path, sock
    finally:
        sock.close()


def _pending(sock: socket.socket) -> list[bytes]:
    """Datagrams already queued on the socket (never waits)."""
    out: list[bytes] = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096))
    except BlockingIOError:
        return out
    finally:
        sock.settimeout(RECV_TIMEOUT_S)


def test_from_env_reads_socket_and_watchdog() -> None:
    env = {"NOTIFY_SOCKET": "/run/x.sock", "WATCHDOG_USEC": "30000000"}
    notifier = SystemdNotifier.from_env(env)
    assert notifier is not None
    assert notifier.watchdog_interval_s == 30.0
    assert SystemdNotifier.from_env({}) is None
    other_pid = {**env, "WATCHDOG_PID": str(os.getpid() + 1)}
    inherited = SystemdNotifier.from_env(other_pid)
    assert inherited is not None
    assert inherited.watchdog_interval_s is None
    own_pid = SystemdNotifier.from_env({**env, "WATCHDOG_PID": str(os.getpid())})
    assert own_pid is not None
    assert own_pid.watchdog_interval_s == 30.0


def test_ready_status_and_stopping_reach_the_socket(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SystemdNotifier(path)
    assert notifier.ready("trading 5 strategies")
    assert sock.recv(4096) == b"READY=1\nSTATUS=trading 5 strategies"
    assert notifier.stopping("stop requested")
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stop requested"


def test_abstract_namespace_address() -> None:
    name = f"zerobeta-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(RECV_TIMEOUT_S)
    try:
        assert SystemdNotifier("@" + name).ping()
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_a_missing_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert not SystemdNotifier(str(tmp_path / "absent.sock")).ready("x")


async def test_pings_only_while_healthy(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SystemdNotifier(path, watchdog_interval_s=10.0)
    health = iter([True, False, True])
    waits: list[float] = []
    done = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            done.set()
            await asyncio.Event().wait()  # park until cancelled

    task = asyncio.create_task(watchdog_pings(notifier, lambda: next(health), sleep))
    await done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waits == [5.0, 5.0, 5.0]  # twice per interval
    assert _pending(sock) == [b"WATCHDOG=1", b"WATCHDOG=1"]  # the unhealthy turn sent nothing


async def test_no_watchdog_no_pings(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    await watchdog_pings(SystemdNotifier(path, None), lambda: True, asyncio.sleep)
    assert _pending(sock) == []


def test_a_blocked_event_loop_sends_no_pings(listener: tuple[str, socket.socket]) -> None:
    """The pings run on the agent's loop: while a step blocks it, none goes out."""
    path, sock = listener
    entered, release = threading.Event(), threading.Event()

    async def main() -> None:
        pinged = asyncio.Event()
        notifier = _Signalling(path, 0.002, pinged)  # a ping every 1 ms
        pinger = asyncio.create_task(watchdog_pings(notifier, lambda: True, asyncio.sleep))
        await pinged.wait()  # the loop is alive: pings go out
        entered.set()
        release.wait()  # a step blocking the loop (no await)
        pinger.cancel()

    runner = threading.Thread(target=asyncio.run, args=(main(),))
    runner.start()
    assert entered.wait(RECV_TIMEOUT_S)
    _pending(sock)  # whatever was sent before the loop blocked
    sock.settimeout(0.2)  # 100 watchdog intervals of silence while the loop is blocked
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    release.set()
    runner.join(RECV_TIMEOUT_S)
    assert not runner.is_alive()


class _Signalling(SystemdNotifier):
    def __init__(self, address: str, interval_s: float, pinged: asyncio.Event) -> None:
        super().__init__(address, interval_s)
        self._pinged = pinged

    def ping(self) -> bool:
        sent = super().ping()
        self._pinged.set()
        return sent
