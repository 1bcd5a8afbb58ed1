"""Under systemd ``Type=notify`` a real replay run tells systemd it is ready once its data is
loaded and the engine built, then pings the watchdog from its event loop while it runs
(sd_notify over a local datagram socket standing in for systemd's)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.config import load_config
from tests.integration.conftest import AGENT_TOML, run_replay


def _received(sock: socket.socket) -> list[bytes]:
    out: list[bytes] = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096))
    except BlockingIOError:
        return out


def test_a_replay_reports_ready_and_pings_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    config = load_config(
        AGENT_TOML,
        env={},
        overrides={
            "journal": {"path": str(tmp_path / "j.sqlite")},
            "logging": {"level": "warning", "progress": False},
            "market_data": {"start": "2025-09-01", "end": "2025-09-03"},
        },
    )
    try:
        result = run_replay(config)
        messages = _received(sock)
    finally:
        sock.close()
    assert result.steps > 0
    assert messages[0].startswith(b"READY=1\nSTATUS=paper on replay data: ")
    assert b"stat_arb" in messages[0]
    assert messages[1:] == [b"WATCHDOG=1"] * (len(messages) - 1)
    assert len(messages) >= 2  # the first ping goes out as soon as the run is healthy
