"""Alerts that reach a person (agent.notify): deduplication, rate limit, the queue and its drain,
redaction of the URLs, apprise against a real local webhook, and ``[alerts]`` configuration.

The dispatcher's rules are driven with a fake sender and a fake monotonic clock (no sleeps);
apprise itself posts to :class:`tests.support.webhook.WebhookServer` (a real HTTP server on
127.0.0.1: apprise uses ``requests``, which respx cannot intercept).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from agent.config import DEFAULT_ALERT_KINDS, AgentConfig, AlertsConfig, load_config, redacted_dump
from agent.errors import ConfigError, LiveSetupError, ReconciliationError
from agent.logs import configure_logging
from agent.notify import (
    PAGED_KINDS,
    AlertCounts,
    AlertDispatcher,
    AppriseSender,
    Notice,
    Severity,
    UrlRedactor,
    build_dispatcher,
    failure_notice,
    render,
)
from agent.notify import dispatcher as dispatcher_module
from strategies.base import Alert
from tests.support.webhook import WebhookServer
from tests.unit.conftest import FakeClock

pytestmark = pytest.mark.timeout(30)

TOKEN = "tok-5ecr3t-8f3a9c"
"""The secret part of every notification URL here; it must never reach a log or a message."""
T_MS = 1_760_000_400_000  # 2025-10-09T09:00:00Z


class FakeSender:
    """Records what it is asked to send; can refuse, raise (with the secret in the text) or
    hang until :attr:`unblock` is set."""

    def __init__(self) -> None:
        self.sent: asyncio.Queue[tuple[str, str, Severity]] = asyncio.Queue()
        self.accept = True
        self.raise_error = False
        self.hang = False
        self.unblock = asyncio.Event()
        self.shut = False

    def redact(self, text: str) -> str:
        return text.replace(TOKEN, "**********")

    async def send(self, title: str, body: str, severity: Severity) -> bool:
        await self.sent.put((title, body, severity))
        if self.hang:
            await self.unblock.wait()
        if self.raise_error:
            raise RuntimeError(f"cannot reach https://hooks.example/{TOKEN}")
        return self.accept

    def shutdown(self) -> None:
        self.shut = True

    def taken(self) -> list[tuple[str, str, Severity]]:
        out = []
        while not self.sent.empty():
            out.append(self.sent.get_nowait())
        return out


def dispatcher(sender: FakeSender, clock: FakeClock, **settings: Any) -> AlertDispatcher:
    config = AlertsConfig(**{"kinds": ("a", "b", "c", "d", "e", "f"), **settings})
    return AlertDispatcher(sender, config, clock=clock)


def notice(kind: str = "a", key: str = "k", message: str = "m") -> Notice:
    return Notice(kind, key, message, Severity.WARNING, {}, T_MS)


def kinds_of(sent: list[tuple[str, str, Severity]]) -> list[str]:
    return [title.rsplit(" ", 1)[-1] for title, _, _ in sent]


# ---- what a notice says ------------------------------------------------------------------


def test_a_notice_renders_its_kind_severity_fields_and_utc_time() -> None:
    fields = {"venue": "binance", "free_margin_frac": "0.120000"}
    title, body = render(Notice("margin_low", "binance", "low", Severity.ERROR, fields, T_MS), "zb")
    assert title == "zb ERROR: margin_low"
    assert body == "low\nvenue: binance\nfree_margin_frac: 0.120000\nat 2025-10-09T09:00:00Z"


def test_a_notice_of_an_alert_is_keyed_by_its_source_and_identifying_fields() -> None:
    alert = Alert("funding_flip_close", "closing", {"owner": "fh", "base": "BTC", "rate": 1.0})
    made = Notice.from_alert(alert, T_MS, source="funding_flip_monitor")
    assert (made.kind, made.key, made.ts_ms) == (
        "funding_flip_close",
        "funding_flip_monitor:fh:BTC",
        T_MS,
    )
    plain = Notice.from_alert(Alert("margin_low", "low", {"venue": "bybit"}), T_MS)
    assert plain.key == "bybit"


def test_a_refused_start_and_a_failure_are_told_apart() -> None:
    refused = [failure_notice(e, T_MS) for e in (ReconciliationError("x"), LiveSetupError("y"))]
    assert {n.kind for n in refused} == {"start_refused"}
    failed = failure_notice(KeyError("boom"), T_MS)
    assert (failed.kind, failed.key, failed.severity) == (
        "agent_failed",
        "KeyError",
        Severity.ERROR,
    )
    assert "KeyError: 'boom'" in failed.message


def test_the_default_kinds_are_every_kind_the_agent_hands_over() -> None:
    assert DEFAULT_ALERT_KINDS == PAGED_KINDS
    assert AlertsConfig().kinds == PAGED_KINDS


# ---- deduplication and rate limit --------------------------------------------------------


async def test_the_same_kind_and_key_is_sent_once_per_dedup_window(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, dedup_window_s=3600)
    for _ in range(3):
        alerts.notify(notice("a", "binance"))
    alerts.notify(notice("a", "bybit"))  # another key
    alerts.notify(notice("b", "binance"))  # another kind
    clock.now_s += 3599
    alerts.notify(notice("a", "binance"))  # still inside the window
    await alerts.flush()
    assert kinds_of(sender.taken()) == ["a", "a", "b"]
    assert alerts.counts.duplicates == 3

    clock.now_s += 1  # the window is over: sent again, with the repeats counted
    alerts.notify(notice("a", "binance"))
    await alerts.flush()
    [(title, body, _)] = sender.taken()
    assert title.endswith(": a")
    assert "(3 more since the last notification of this key)" in body
    assert alerts.counts.sent == 4


async def test_a_dedup_window_of_zero_sends_every_notice(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, dedup_window_s=0)
    for _ in range(3):
        alerts.notify(notice())
    await alerts.flush()
    assert len(sender.taken()) == 3


async def test_the_rate_limit_holds_and_the_next_notice_carries_the_summary(
    clock: FakeClock,
) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, max_per_minute=3)
    for i, kind in enumerate("abcde"):
        alerts.notify(notice(kind, str(i)))
    assert alerts.counts.rate_limited == 2
    await alerts.flush()
    first_minute = sender.taken()
    assert kinds_of(first_minute) == ["a", "b", "c", "alerts_suppressed"]  # flush: the rest

    alerts.notify(notice("f", "x"))  # 59 s later: the window still holds 3 (+ the summary)
    clock.now_s += 59
    alerts.notify(notice("f", "y"))
    assert alerts.counts.rate_limited == 4
    clock.now_s += 1  # the first three leave the window
    alerts.notify(notice("f", "z"))
    await alerts.flush()
    [(_, body, _)] = sender.taken()
    assert "2 more alert(s) suppressed by the rate limit (3 per minute): f ×2" in body


async def test_suppressed_notices_are_summarized_alone_when_no_other_follows(
    clock: FakeClock,
) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, max_per_minute=2)
    for i, kind in enumerate("abcd"):
        alerts.notify(notice(kind, str(i)))  # a, b admitted; c, d suppressed
    clock.now_s += 61  # by the time the drain runs, the minute is over
    async with asyncio.TaskGroup() as group:
        group.create_task(alerts.run(), name="alerts.dispatcher")
        sent = [await sender.sent.get() for _ in range(3)]
        alerts.close()
    assert kinds_of(sent) == ["a", "b", "alerts_suppressed"]
    assert "2 more alert(s) suppressed by the rate limit (2 per minute): c ×1, d ×1" in sent[2][1]


async def test_a_rate_limited_notice_does_not_start_a_dedup_window(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, max_per_minute=1)
    alerts.notify(notice("a", "1"))
    alerts.notify(notice("b", "2"))  # rate-limited, not remembered
    clock.now_s += 60
    alerts.notify(notice("b", "2"))
    await alerts.flush()
    assert kinds_of(sender.taken()) == ["a", "b"]


async def test_kinds_not_listed_are_not_sent(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, kinds=("margin_low",))
    alerts.notify(notice("stat_arb_entry_unfilled"))
    alerts.notify(notice("margin_low"))
    await alerts.flush()
    assert kinds_of(sender.taken()) == ["margin_low"]
    assert alerts.counts.filtered == 1


# ---- the queue and the drain -------------------------------------------------------------


async def test_a_full_queue_drops_the_oldest_and_counts_it(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, queue_size=2, max_per_minute=100)
    with capture_logs() as logs:
        for i in range(4):
            alerts.notify(notice("a", str(i), f"n{i}"))
    assert alerts.counts.dropped == 2
    assert [e["key"] for e in logs if e["event"] == "alert_dropped"] == ["0", "1"]
    await alerts.flush()
    assert [body.split("\n")[0] for _, body, _ in sender.taken()] == ["n2", "n3"]


async def test_a_failing_service_is_logged_redacted_and_the_next_notice_goes_on(
    clock: FakeClock,
) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock)
    sender.raise_error = True
    with capture_logs() as logs:
        alerts.notify(notice("a"))
        await alerts.flush()
        sender.raise_error, sender.accept = False, False
        alerts.notify(notice("b"))
        await alerts.flush()
        sender.accept = True
        alerts.notify(notice("c"))
        await alerts.flush()
    failed = [e for e in logs if e["event"] == "alert_send_failed"]
    assert [(e["kind"], e["reason"].split(" ")[0]) for e in failed] == [
        ("a", "error"),
        ("b", "refused"),
    ]
    assert failed[0]["error_type"] == "RuntimeError"
    assert "**********" in failed[0]["error"]
    assert "**********" in failed[0]["traceback"]
    assert TOKEN not in repr(logs)
    assert (alerts.counts.failed, alerts.counts.sent) == (2, 1)


async def test_a_hanging_service_times_out_and_the_drain_goes_on(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, send_timeout_s=0.05)
    sender.hang = True
    alerts.notify(notice("a"))
    alerts.notify(notice("b"))
    with capture_logs() as logs:
        async with asyncio.TaskGroup() as group:
            group.create_task(alerts.run(), name="alerts.dispatcher")
            first = await sender.sent.get()
            second = await sender.sent.get()  # a timed out; the drain moved on
            alerts.close()
    assert kinds_of([first, second]) == ["a", "b"]
    reasons = [e["reason"] for e in logs if e["event"] == "alert_send_failed"]
    assert reasons == ["no answer within 0.05 s", "no answer within 0.05 s"]


async def test_notify_never_waits_for_a_hanging_service(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, send_timeout_s=60)
    sender.hang = True
    async with asyncio.TaskGroup() as group:
        group.create_task(alerts.run(), name="alerts.dispatcher")
        alerts.notify(notice("a"))
        await sender.sent.get()  # the drain is now stuck in the send of "a"
        for kind in "bcde":
            alerts.notify(notice(kind))  # returns at once: queued behind the stuck send
        assert alerts.counts.sent == 0
        sender.hang = False
        sender.unblock.set()
        rest = [await sender.sent.get() for _ in range(4)]
        alerts.close()
    assert kinds_of(rest) == ["b", "c", "d", "e"]
    assert alerts.counts.sent == 5


async def test_a_cancelled_drain_leaves_the_notice_it_was_sending_to_flush(
    clock: FakeClock,
) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock)
    sender.hang = True
    alerts.notify(notice("a"))
    alerts.notify(notice("b"))
    async with asyncio.TaskGroup() as group:
        drain = group.create_task(alerts.run(), name="alerts.dispatcher")
        await sender.sent.get()
        drain.cancel()  # as the supervisor's TaskGroup does when the driver fails
    assert drain.cancelled()
    sender.hang = False
    await alerts.flush()
    assert kinds_of(sender.taken()) == ["a", "b"]


async def test_flush_gives_up_after_one_send_timeout_and_counts_the_rest(
    clock: FakeClock,
) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, send_timeout_s=0.05)
    sender.hang = True
    for kind in "abc":
        alerts.notify(notice(kind))
    with capture_logs() as logs:
        await alerts.flush()
    assert alerts.counts.unsent == 2
    assert [e["count"] for e in logs if e["event"] == "alerts_unsent"] == [2]


async def test_a_disabled_dispatcher_sends_nothing() -> None:
    alerts = AlertDispatcher.disabled()
    alerts.notify(notice(PAGED_KINDS[0]))
    await alerts.flush()
    await alerts.run()  # returns at once
    assert not alerts.enabled
    assert alerts.counts == AlertCounts()


async def test_the_run_scope_notifies_the_error_ending_it_before_what_was_queued(
    clock: FakeClock,
) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, kinds=PAGED_KINDS)

    async def refused_start() -> None:
        async with alerts.reporting(lambda: T_MS):
            alerts.notify(Notice("margin_low", "binance", "low"))
            raise ReconciliationError("binance:perp:BTCUSDT: the venue holds -0.5")

    with pytest.raises(ReconciliationError):
        await refused_start()
    sent = sender.taken()
    assert kinds_of(sent) == ["start_refused", "margin_low"]  # the error first
    assert "ReconciliationError: binance:perp:BTCUSDT: the venue holds -0.5" in sent[0][1]
    assert sender.shut


async def test_the_error_ending_a_run_passes_the_rate_limit(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, kinds=PAGED_KINDS, max_per_minute=1)

    async def failing_run() -> None:
        async with alerts.reporting(lambda: T_MS):
            alerts.notify(Notice("margin_low", "binance", "low"))
            alerts.notify(Notice("margin_low", "bybit", "low"))  # rate-limited
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await failing_run()
    sent = sender.taken()
    assert kinds_of(sent) == ["agent_failed", "margin_low"]
    assert (
        "1 more alert(s) suppressed by the rate limit (1 per minute): margin_low ×1" in sent[0][1]
    )


async def test_a_cancelled_run_sends_nothing_more(clock: FakeClock) -> None:
    sender = FakeSender()
    alerts = dispatcher(sender, clock, kinds=PAGED_KINDS)

    async def cancelled() -> None:
        async with alerts.reporting(lambda: T_MS):
            alerts.notify(Notice("margin_low", "binance", "low"))
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await cancelled()
    assert sender.taken() == []
    assert sender.shut


# ---- which runs send at all --------------------------------------------------------------


def test_a_replay_sends_nothing_unless_asked_and_never_builds_apprise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("apprise built for a replay")

    monkeypatch.setattr(dispatcher_module, "AppriseSender", refuse)
    urls = {"urls": f"json://127.0.0.1:9/hook/{TOKEN}"}
    assert not build_dispatcher(AgentConfig(alerts=urls)).enabled  # replay by default
    assert not build_dispatcher(AgentConfig()).enabled  # no URLs
    with pytest.raises(AssertionError, match="apprise built"):
        build_dispatcher(AgentConfig(alerts={**urls, "in_replay": True}))


# ---- redaction and apprise ---------------------------------------------------------------


def test_the_redactor_hides_every_url_and_its_secret_parts() -> None:
    urls = [
        f"tgram://123456789:{TOKEN}/-100987654",
        "mailtos://ops:hunter2pass@smtp.example.com?to=desk%40example.com",
    ]
    redact = UrlRedactor(urls)
    text = (
        f"{urls[0]} failed; token {TOKEN}; chat -100987654; password hunter2pass; "
        "to desk@example.com; ok"
    )
    out = redact(text)
    for secret in (TOKEN, "123456789", "100987654", "hunter2pass", "desk@example.com"):
        assert secret not in out
    assert out.endswith("; ok")


async def test_apprise_posts_the_notice_to_a_json_webhook() -> None:
    async with WebhookServer() as server:
        sender = AppriseSender(SecretStr(server.url(TOKEN)))
        alerts = AlertDispatcher(sender, AlertsConfig(title_prefix="zb-test"))
        try:
            alerts.notify(Notice("margin_low", "binance", "low", Severity.ERROR, {"v": 1}, T_MS))
            await alerts.flush()
        finally:
            alerts.shutdown()
        [got] = server.received_so_far()
    assert got.path == f"/hook/{TOKEN}"
    assert got.payload["type"] == "failure"
    assert got.title == "zb-test ERROR: margin_low"
    assert got.message == "low\nv: 1\nat 2025-10-09T09:00:00Z"
    assert alerts.counts.sent == 1


async def test_no_log_line_of_a_failing_send_holds_the_url_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    caplog.set_level(logging.DEBUG, logger="apprise")  # apprise's own lines, debug included
    caplog.set_level(logging.DEBUG, logger="urllib3")
    try:
        async with WebhookServer(status=500) as server:
            sender = AppriseSender(SecretStr(server.url(TOKEN)))
            alerts = AlertDispatcher(sender, AlertsConfig())
            message = f"RuntimeError: cannot post to {server.url(TOKEN)}"
            alerts.notify(Notice("agent_failed", "RuntimeError", message, Severity.ERROR))
            await alerts.flush()
            alerts.shutdown()
            [got] = server.received_so_far()
    finally:
        configure_logging("warning", "json", io.StringIO())
    assert alerts.counts.failed == 1
    # The lines exist (apprise logs the address it posts to at debug) but are redacted:
    assert "JSON POST URL: http://**********" in caplog.text
    assert "error=500" in caplog.text
    assert TOKEN not in caplog.text
    ours = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "alert_send_failed" in {e["event"] for e in ours}
    assert TOKEN not in stream.getvalue()
    # the body sent does not carry it either
    assert TOKEN not in got.message
    assert "cannot post to **********" in got.message


def test_an_unusable_url_is_a_config_error_naming_it_by_position_only() -> None:
    urls = SecretStr(f"json://127.0.0.1:9/hook/{TOKEN} nosuchservice://{TOKEN}")
    before = list(logging.getLogger("apprise").filters)
    with pytest.raises(ConfigError) as caught:
        AppriseSender(urls)
    assert caught.value.errors[0][0] == "alerts.urls"
    assert "URL 2 (nosuchservice://…) of 2" in str(caught.value)
    assert TOKEN not in str(caught.value)
    left = [f for f in logging.getLogger("apprise").filters if f not in before]
    assert left == []  # none left behind (an earlier test's may still be going away)


# ---- [alerts] configuration --------------------------------------------------------------


def test_alert_urls_come_from_the_environment_and_are_redacted_in_the_dump() -> None:
    url = f"json://127.0.0.1:9/hook/{TOKEN}"
    config = load_config(None, env={"ZEROBETA_ALERTS__URLS": f"{url}\n  tgram://bot/42 "})
    assert config.alerts.url_list() == [url, "tgram://bot/42"]
    dump = redacted_dump(config)
    assert TOKEN not in dump
    assert 'urls = "**********"' in dump
    assert TOKEN not in repr(config)


def test_alert_urls_come_from_the_secrets_directory(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "alerts__urls").write_text(f"json://127.0.0.1:9/hook/{TOKEN}\n", encoding="utf-8")
    config = load_config(None, env={}, secrets_dir=secrets)
    assert config.alerts.url_list() == [f"json://127.0.0.1:9/hook/{TOKEN}"]


def test_alert_urls_written_in_the_toml_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f'[alerts]\nurls = "json://127.0.0.1:9/hook/{TOKEN}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [(key, reason)] = caught.value.errors
    assert key == "alerts.urls"
    assert "ZEROBETA_ALERTS__URLS" in reason
    assert TOKEN not in str(caught.value)


def test_a_url_without_a_scheme_is_refused_without_repeating_it() -> None:
    env = {"ZEROBETA_ALERTS__URLS": f"json://ok/{TOKEN} {TOKEN}"}
    with pytest.raises(ConfigError) as caught:
        load_config(None, env=env)
    assert "URL 2 of 2 is not of the form scheme://" in str(caught.value)
    assert TOKEN not in str(caught.value)
    with pytest.raises(ValueError, match="URL 1 of 1") as direct:
        AgentConfig(alerts={"urls": TOKEN})
    assert TOKEN not in str(direct.value)


def test_a_blank_url_list_means_no_alerts_and_kinds_are_checked() -> None:
    assert load_config(None, env={"ZEROBETA_ALERTS__URLS": "   "}).alerts.urls is None
    with pytest.raises(ValueError, match="not snake_case"):
        AlertsConfig(kinds=("Margin-Low",))
    with pytest.raises(ValueError, match="more than once"):
        AlertsConfig(kinds=("margin_low", "margin_low"))
