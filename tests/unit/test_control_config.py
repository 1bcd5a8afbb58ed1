"""``[control]``: the endpoint is on for live data and off for replays by default, listens on
loopback, and a public address is refused unless allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig, ConfigError, ControlConfig, load_config
from agent.control.cli import endpoint_url

SHIPPED = Path(__file__).resolve().parents[2] / "agent.toml"


def _errors(env: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config(None, env=env)
    return dict(info.value.errors)


def test_defaults_serve_loopback_9108_for_live_data_only() -> None:
    control = load_config(SHIPPED, env={}).control
    assert (control.http, control.http_bind, control.http_port) == ("auto", "127.0.0.1", 9108)
    assert control.allow_public_bind is False
    assert control.http_enabled("live") is True
    assert control.http_enabled("replay") is False
    assert ControlConfig(http="on").http_enabled("replay") is True
    assert ControlConfig(http="off").http_enabled("live") is False


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1"])
def test_a_public_bind_is_a_config_error_naming_the_key(bind: str) -> None:
    errors = _errors({"ZEROBETA_CONTROL__HTTP_BIND": bind})
    assert list(errors) == ["control.http_bind"]
    assert "allow_public_bind" in errors["control.http_bind"]


def test_a_public_bind_is_accepted_when_allowed() -> None:
    env = {"ZEROBETA_CONTROL__HTTP_BIND": "0.0.0.0", "ZEROBETA_CONTROL__ALLOW_PUBLIC_BIND": "true"}
    assert load_config(None, env=env).control.http_bind == "0.0.0.0"


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_need_no_permission(bind: str) -> None:
    assert ControlConfig(http_bind=bind).http_bind == bind


def test_a_host_name_is_refused_as_it_cannot_be_checked() -> None:
    errors = _errors({"ZEROBETA_CONTROL__HTTP_BIND": "agent.example.org"})
    assert "not an IP address" in errors["control.http_bind"]


def test_the_heartbeat_timeout_must_exceed_its_interval() -> None:
    errors = _errors(
        {"ZEROBETA_CONTROL__HEARTBEAT_S": "5", "ZEROBETA_CONTROL__HEARTBEAT_TIMEOUT_S": "2"}
    )
    assert list(errors) == ["control.heartbeat_timeout_s"]


def test_out_of_range_port_is_refused() -> None:
    assert list(_errors({"ZEROBETA_CONTROL__HTTP_PORT": "70000"})) == ["control.http_port"]


def test_status_finds_the_endpoint_of_a_live_config_only() -> None:
    live = AgentConfig(market_data={"source": "live"})
    assert endpoint_url(live) == "http://127.0.0.1:9108/status"
    assert endpoint_url(AgentConfig()) is None  # a replay serves none by default
    ephemeral = AgentConfig(control={"http": "on", "http_port": 0})
    assert endpoint_url(ephemeral) is None
    wildcard = AgentConfig(
        control={"http": "on", "http_bind": "::", "allow_public_bind": True, "http_port": 9200}
    )
    assert endpoint_url(wildcard) == "http://[::1]:9200/status"


def test_the_shipped_scrape_config_targets_the_default_endpoint() -> None:
    text = (SHIPPED.parent / "deploy" / "prometheus.yml").read_text(encoding="utf-8")
    control = ControlConfig()
    assert f'targets: ["{control.http_bind}:{control.http_port}"]' in text
    assert "metrics_path: /metrics" in text
