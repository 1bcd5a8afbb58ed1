"""``/metrics`` serves the websocket reconnect counts of the process
(``zerobeta_ws_reconnects_total{stream,reason}``), parsed with prometheus_client's parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.control import metrics as metrics_module
from agent.control.health import Health
from agent.control.metrics import AgentMetrics, Reading
from agent.control.probe import Heartbeat


def test_reconnects_are_counters_by_stream_and_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {
        ("binance.ws.marks", "ConnectionClosedError"): 3,
        ("bybit.ws.tickers", "max_lifetime"): 1,
    }
    monkeypatch.setattr(metrics_module, "reconnect_counts", lambda: dict(counts))
    reading = Reading(engine=None, heartbeat=Heartbeat(lambda: 10.0), health=Health(True, "ok", ()))
    text = AgentMetrics(lambda: reading).render().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    family = families["zerobeta_ws_reconnects"]
    assert family.type == "counter"
    samples = {
        (s.labels["stream"], s.labels["reason"]): s.value
        for s in family.samples
        if s.name == "zerobeta_ws_reconnects_total"
    }
    assert samples == {key: float(n) for key, n in counts.items()}
