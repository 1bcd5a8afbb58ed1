"""Tests of agent.logs: JSON lines, redaction, level filtering, tracebacks, stdlib routing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from agent.logs import configure_logging, get_logger

SECRET = "s3cr3t-VALUE-0123456789"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Leave structlog and the root logger as they were (other tests share the process)."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    yield
    structlog.reset_defaults()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_have_ts_level_logger_event_and_fields() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    get_logger("zerobeta.test").info("order_filled", notional_usd=1234.5, qty=Decimal("0.125"))
    get_logger("zerobeta.test").warning("ws_reconnecting", attempt=2)
    lines = _lines(out)
    assert len(lines) == 2
    first = lines[0]
    assert list(first)[:4] == ["ts", "level", "logger", "event"]
    assert first["level"] == "info"
    assert first["logger"] == "zerobeta.test"
    assert first["event"] == "order_filled"
    assert first["notional_usd"] == 1234.5
    assert first["qty"] == 0.125
    assert first["ts"].endswith("Z")
    ts = datetime.fromisoformat(first["ts"])
    assert ts.utcoffset() == timedelta(0)
    assert lines[1]["level"] == "warning"
    assert lines[1]["attempt"] == 2


def test_secrets_passed_as_fields_are_redacted() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    get_logger("zerobeta.test").info(
        "venue_opened",
        api_key=SECRET,
        API_SECRET=SECRET,
        listen_token=SECRET,
        request={"headers": {"X-MBX-APIKEY": SECRET, "signature": SECRET}, "path": "/fapi"},
        credential=SecretStr(SECRET),
        items=[SecretStr(SECRET), "plain"],
        passphrase=None,
    )
    text = out.getvalue()
    assert SECRET not in text
    line = _lines(out)[0]
    assert line["api_key"] == "**********"
    assert line["API_SECRET"] == "**********"
    assert line["listen_token"] == "**********"
    assert line["request"] == {
        "headers": {"X-MBX-APIKEY": "**********", "signature": "**********"},
        "path": "/fapi",
    }
    assert line["credential"] == "**********"
    assert line["items"] == ["**********", "plain"]
    assert line["passphrase"] is None


def test_bound_secret_is_redacted() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    get_logger("zerobeta.test").bind(api_secret=SECRET, venue="binance").info("order_placed")
    assert SECRET not in out.getvalue()
    assert _lines(out)[0]["venue"] == "binance"


def test_level_filtering() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "json", out)
    log = get_logger("zerobeta.test")
    log.debug("a_debug")
    log.info("an_info")
    log.warning("a_warning")
    log.error("an_error")
    assert [line["event"] for line in _lines(out)] == ["a_warning", "an_error"]

    out = io.StringIO()
    configure_logging("debug", "json", out)
    get_logger("zerobeta.test").debug("a_debug")
    assert [line["event"] for line in _lines(out)] == ["a_debug"]


def test_logger_created_before_configure_follows_new_configuration() -> None:
    log = get_logger("zerobeta.early")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", first)
    log.info("one")
    configure_logging("info", "json", second)
    log.info("two")
    assert [line["event"] for line in _lines(first)] == ["one"]
    assert [line["event"] for line in _lines(second)] == ["two"]


def test_exception_is_a_structured_traceback_without_locals() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    api_token = SECRET  # a local that must not be rendered
    try:
        _ = len(api_token) / 0
    except ZeroDivisionError:
        get_logger("zerobeta.test").error("cycle_failed", exc_info=True)
    line = _lines(out)[0]
    assert SECRET not in out.getvalue()
    exc = line["exception"][0]
    assert exc["exc_type"] == "ZeroDivisionError"
    assert exc["frames"][-1]["name"] == "test_exception_is_a_structured_traceback_without_locals"
    assert "locals" not in exc["frames"][-1]


def test_auto_is_json_off_a_terminal_and_console_on_one() -> None:
    pipe = io.StringIO()
    configure_logging("info", "auto", pipe)
    get_logger("zerobeta.test").info("cycle_completed", steps=3)
    assert json.loads(pipe.getvalue())["event"] == "cycle_completed"

    tty = _Tty()
    configure_logging("info", "auto", tty)
    get_logger("zerobeta.test").info("cycle_completed", api_key=SECRET)
    text = tty.getvalue()
    assert "cycle_completed" in text
    assert SECRET not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_console_format_off_a_terminal_has_no_colour_codes() -> None:
    out = io.StringIO()
    configure_logging("info", "console", out)
    get_logger("zerobeta.test").info("order_filled", qty=1)
    text = out.getvalue()
    assert "order_filled" in text
    assert "qty=1" in text
    assert "\x1b[" not in text


def test_stdlib_records_are_rendered_the_same_way() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    logging.getLogger("httpx").info("not shown: below the stdlib floor")
    logging.getLogger("httpx").warning("retrying token=%s", "x")
    logging.getLogger("websockets").error("closed", extra={"api_key": SECRET})
    lines = _lines(out)
    assert [line["logger"] for line in lines] == ["httpx", "websockets"]
    assert lines[0]["level"] == "warning"
    assert lines[0]["event"] == "retrying token=x"
    assert lines[1]["api_key"] == "**********"
    assert SECRET not in out.getvalue()


def test_reconfiguring_does_not_duplicate_stdlib_output() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    configure_logging("info", "json", out)
    logging.getLogger("httpx").warning("once")
    assert len(_lines(out)) == 1


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "json"), ("info", "yaml")])
def test_bad_level_or_format_is_named(level: str, fmt: str) -> None:
    with pytest.raises(ValueError, match=r"verbose|yaml"):
        configure_logging(level, fmt, io.StringIO())
