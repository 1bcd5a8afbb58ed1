"""Tests of agent.logs.JsonLineRenderer: the fused JSON-line processor writes the same text as
the processor chain it replaces (agent.logs.json_processors), line by line."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import types
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretBytes, SecretStr

from agent.logs import (
    JsonLineRenderer,
    configure_logging,
    get_logger,
    json_processors,
    redact_secrets,
)

_FROZEN = [dt.datetime(2026, 12, 7, 10, 2, 45, 62941, tzinfo=dt.UTC)]


class _FrozenDatetime(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _FrozenDatetime:
        frozen = _FROZEN[0]
        return cls(
            frozen.year,
            frozen.month,
            frozen.day,
            frozen.hour,
            frozen.minute,
            frozen.second,
            frozen.microsecond,
            tzinfo=tz,
        )


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _frozen_ns() -> int:
    """The frozen instant in epoch ns, plus 999 ns below its microsecond (truncated away)."""
    return (_FROZEN[0] - _EPOCH) // dt.timedelta(microseconds=1) * 1000 + 999


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Both pipelines read the same fixed wall clock (structlog's TimeStamper and ours)."""
    monkeypatch.setattr("agent.logs.time_ns", _frozen_ns)
    monkeypatch.setattr(
        "structlog.processors.datetime",
        types.SimpleNamespace(datetime=_FrozenDatetime, timezone=dt.timezone),
    )
    root = logging.getLogger()
    handlers = list(root.handlers)
    yield
    structlog.reset_defaults()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)


class _Named:
    name = "zerobeta.test"


def _chained(method: str, event_dict: dict[str, Any]) -> str:
    """The line the unfused chain writes."""
    out: Any = event_dict
    for processor in json_processors():
        out = processor(_Named(), method, out)
    assert isinstance(out, str)
    return out


def _boom() -> ZeroDivisionError:
    try:
        _ = 1 / 0
    except ZeroDivisionError as err:
        return err
    raise AssertionError("unreachable")


_KEYS = st.sampled_from(
    ["event", "qty", "price_usd", "api_key", "Secret", "token_count", "nested", "name", "ts_ms",
     "ts", "level"]
)  # fmt: skip
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.just(SecretStr("hunter2")),
    st.just(SecretBytes(b"hunter3")),
    st.just(Path("/tmp/x")),
    st.just(dt.date(2026, 1, 2)),
    st.frozensets(st.integers(), max_size=3),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(_KEYS, inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(_KEYS, _VALUES, max_size=6),
    method=st.sampled_from(["debug", "info", "warning", "warn", "error", "exception", "critical"]),
    with_exception=st.booleans(),
    logger_name=st.one_of(st.none(), st.just("zerobeta.bound")),
    microsecond=st.sampled_from([0, 1, 62941, 999999]),
)
def test_fused_line_is_the_chains_line(
    fields: dict[str, Any],
    method: str,
    with_exception: bool,
    logger_name: str | None,
    microsecond: int,
) -> None:
    _FROZEN[0] = _FROZEN[0].replace(microsecond=microsecond)
    event_dict = {"event": "order_filled", **fields}
    if logger_name is not None:
        event_dict["logger"] = logger_name
    if with_exception:
        event_dict["exc_info"] = _boom()
    expected = _chained(method, copy.copy(event_dict))
    got = JsonLineRenderer()(_Named(), method, copy.copy(event_dict))
    assert got == expected
    assert "hunter2" not in got


def _earlier_timestamp(epoch_ns: int) -> str:
    """The former ``ts``: ``datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")`` of the
    instant (``datetime.now`` truncates to the microsecond)."""
    now = _EPOCH + dt.timedelta(microseconds=epoch_ns // 1000)
    return now.isoformat().replace("+00:00", "Z")


_LAST_SECOND_S = (dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC) - _EPOCH).total_seconds()


@settings(max_examples=300, deadline=None)
@given(
    start_ns=st.integers(0, int(_LAST_SECOND_S) * 10**9 - 10 * 10**9),
    steps_ns=st.lists(
        st.one_of(
            st.integers(-(10**9), 3 * 10**9),  # within the second, to the next ones, back
            st.sampled_from([0, 1, 999, 1000, 10**9 - 1, 10**9, -(10**9) - 1]),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_timestamp_is_the_earlier_timestamp(start_ns: int, steps_ns: list[int]) -> None:
    """One renderer over a sequence of instants (its per-second text reused and renewed)."""
    renderer = JsonLineRenderer()
    now_ns = [start_ns]
    for step in steps_ns:
        now_ns[0] = max(0, now_ns[0] + step)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("agent.logs.time_ns", lambda: now_ns[0])
            assert renderer._timestamp() == _earlier_timestamp(now_ns[0])


def test_timestamp_reads_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real clocks, not the frozen one
    renderer = JsonLineRenderer()
    before = dt.datetime.now(tz=dt.UTC)
    stamps = [renderer._timestamp() for _ in range(3)]
    after = dt.datetime.now(tz=dt.UTC)
    for stamp in stamps:
        assert before <= dt.datetime.fromisoformat(stamp) <= after


def test_syslog_prefix_comes_first() -> None:
    event_dict = {"event": "margin_low", "free_usd": Decimal("12.5")}
    plain = JsonLineRenderer()(_Named(), "warning", dict(event_dict))
    prefixed = JsonLineRenderer(syslog_prefix=True)(_Named(), "warning", dict(event_dict))
    assert prefixed == "<4>" + plain
    assert json.loads(plain)["free_usd"] == 12.5


def test_configured_json_lines_match_the_chain() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    structlog.contextvars.bind_contextvars(ts_ms=1729929600000)
    try:
        get_logger("zerobeta.trades").info(
            "funding_settled",
            qty=Decimal("-1.622"),
            allocations_usd={"funding_harvester": 0.398504314},
            api_key="abc",
        )
    finally:
        structlog.contextvars.unbind_contextvars("ts_ms")
    line = out.getvalue()
    expected = _chained(
        "info",
        {
            "qty": Decimal("-1.622"),
            "allocations_usd": {"funding_harvester": 0.398504314},
            "api_key": "abc",
            "event": "funding_settled",
            "ts_ms": 1729929600000,
            "logger": "zerobeta.trades",
        },
    )
    assert line == expected + "\n"


def _log_with_stack() -> None:
    get_logger("zerobeta.test").info("stack_wanted", stack_info=True)


def test_stack_info_starts_at_the_caller() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    _log_with_stack()
    stack = json.loads(out.getvalue())["stack"]
    last_frame = stack.strip().splitlines()[-2]  # "File ..., line N, in <name>" then the code
    assert "_log_with_stack" in last_frame
    assert "agent/logs.py" not in stack


def test_one_logger_per_name_until_reconfigured() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", first)
    a, b = get_logger("zerobeta.a"), get_logger("zerobeta.b")
    a.info("one")
    b.info("two")
    configure_logging("info", "json", second)  # a new factory: loggers follow it
    a.info("three")
    b.warning("four")
    assert [
        (json.loads(x)["logger"], json.loads(x)["event"]) for x in first.getvalue().split("\n")[:-1]
    ] == [("zerobeta.a", "one"), ("zerobeta.b", "two")]
    assert [
        (json.loads(x)["logger"], json.loads(x)["event"])
        for x in second.getvalue().split("\n")[:-1]
    ] == [("zerobeta.a", "three"), ("zerobeta.b", "four")]


# ---- redaction: the earlier implementation, kept here --------------------------------------

_SENSITIVE = ("secret", "api_key", "apikey", "passphrase", "password", "token", "signature",
              "authorization")  # fmt: skip


def _earlier_redacted(key: object, value: Any) -> Any:
    sensitive = isinstance(key, str) and any(part in key.lower() for part in _SENSITIVE)
    if key != "event" and value is not None and sensitive:
        return "**********"
    if isinstance(value, SecretStr | SecretBytes):
        return "**********"
    if isinstance(value, Mapping):
        return {k: _earlier_redacted(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_earlier_redacted(None, v) for v in value]
    return value


_ANY_KEYS = st.one_of(
    _KEYS, st.sampled_from(["password", "x_Authorization", "apikey", "passphrase"]), st.integers()
)
_NESTED = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(_ANY_KEYS, inner, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(fields=st.dictionaries(_ANY_KEYS, _NESTED, max_size=6), repeat=st.integers(1, 3))
def test_redaction_is_the_earlier_redaction(fields: dict[Any, Any], repeat: int) -> None:
    expected = {k: _earlier_redacted(k, v) for k, v in fields.items()}
    for _ in range(repeat):  # the second time the key tuples are known safe (or not)
        got = redact_secrets(None, "info", dict(fields))
        assert repr(got) == repr(expected)


def test_a_secret_under_known_keys_plus_one_is_redacted() -> None:
    safe = {"event": "x", "qty": 1.0, "nested": {"name": "a"}}
    assert redact_secrets(None, "info", dict(safe)) == safe
    leaky = {"event": "x", "qty": 1.0, "nested": {"name": "a", "api_key": "abc"}}
    got = redact_secrets(None, "info", leaky)
    assert got["nested"] == {"name": "a", "api_key": "**********"}
