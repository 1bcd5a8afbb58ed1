"""What a notification says: :class:`Notice`, its :class:`Severity`, the kinds sent by default,
and how a notice reads as a title and a body.

A notice is a copy of something already logged and journaled (the journal is the record);
it names its ``kind`` (the log event: ``circuit_breaker_tripped``), a ``key`` (what it is
about within the kind: a rule, a venue, an instrument, a client order id) that deduplication
goes by, one line for a person and the numbers behind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from agent.errors import ConfigError, JournalRefused, LiveSetupError, ReconciliationError
from strategies.base import Alert

CIRCUIT_BREAKER_TRIPPED: Final = "circuit_breaker_tripped"
KILL_SWITCH: Final = "kill_switch"
"""Reserved for the control surface: an operator halted trading."""
POSITION_MISMATCH: Final = "position_mismatch"
MARGIN_LOW: Final = "margin_low"
FUNDING_FLIP_CLOSE: Final = "funding_flip_close"
FUNDING_INTERVAL_CHANGED: Final = "funding_interval_changed"
UNRESOLVED_ORDER_STUCK: Final = "unresolved_order_stuck"
UNRESOLVED_ORDER_REVERSE_INCOMPLETE: Final = "unresolved_order_reverse_incomplete"
PAIR_UNWIND_FAILED: Final = "pair_unwind_failed"
PAIR_PAST_BUDGET: Final = "pair_past_budget"
AGENT_FAILED: Final = "agent_failed"
START_REFUSED: Final = "start_refused"
LIQUIDATION_DISTANCE_LOW: Final = "liquidation_distance_low"
VENUE_UNHEALTHY: Final = "venue_unhealthy"
VENUE_RECOVERED: Final = "venue_recovered"
ALERTS_SUPPRESSED: Final = "alerts_suppressed"
"""The rate limit's summary ("k more suppressed"); always sent, whatever ``[alerts] kinds``."""

PAGED_KINDS: Final = (
    CIRCUIT_BREAKER_TRIPPED,
    KILL_SWITCH,
    POSITION_MISMATCH,
    MARGIN_LOW,
    FUNDING_FLIP_CLOSE,
    FUNDING_INTERVAL_CHANGED,
    UNRESOLVED_ORDER_STUCK,
    UNRESOLVED_ORDER_REVERSE_INCOMPLETE,
    PAIR_UNWIND_FAILED,
    PAIR_PAST_BUDGET,
    AGENT_FAILED,
    START_REFUSED,
    LIQUIDATION_DISTANCE_LOW,
    VENUE_UNHEALTHY,
    VENUE_RECOVERED,
)
"""Every kind the agent itself hands over; ``[alerts] kinds`` sends them all by default."""

START_REFUSALS: Final = (ConfigError, JournalRefused, LiveSetupError, ReconciliationError)
"""Errors that refuse a start a person must act on (the CLI exits 2): ``start_refused``."""

MAX_MESSAGE_CHARS: Final = 2000
_KEY_FIELDS: Final = ("owner", "venue", "instrument", "symbol", "base", "pair")
"""Alert fields that say what an alert is about, in the order they make its key."""


class Severity(StrEnum):
    """How urgent a notice is; the notification service shows it (apprise's notify type)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing a person should read.

    Attributes
    ----------
    kind : str
        snake_case, the log event's name (:data:`PAGED_KINDS`, or a strategy's alert kind).
    key : str
        What it is about within the kind; the same ``(kind, key)`` is sent once per
        ``[alerts] dedup_window_s``.
    message : str
        One line for a person (cut at :data:`MAX_MESSAGE_CHARS`).
    severity : Severity
    fields : Mapping[str, float | int | str]
        The numbers behind it, names with units (``free_margin_frac``).
    ts_ms : int | None
        When it happened on the run's clock, epoch ms UTC (None: not tied to a step).
    note : str
        Added by the dispatcher: repeats deduplicated since the last notification, alerts the
        rate limit suppressed.
    """

    kind: str
    key: str
    message: str
    severity: Severity = Severity.WARNING
    fields: Mapping[str, float | int | str] = field(default_factory=dict)
    ts_ms: int | None = None
    note: str = ""

    @classmethod
    def from_alert(
        cls,
        alert: Alert,
        ts_ms: int,
        severity: Severity = Severity.WARNING,
        *,
        source: str = "",
    ) -> Notice:
        """The notice of a journaled :class:`~strategies.base.Alert`; its key is ``source``
        (the strategy, empty for the engine's own alerts) and the alert's identifying fields
        (owner, venue, instrument, symbol, base, pair), joined by ``:``."""
        parts = [source] if source else []
        parts.extend(str(alert.fields[name]) for name in _KEY_FIELDS if name in alert.fields)
        return cls(alert.kind, ":".join(parts), alert.message, severity, alert.fields, ts_ms)


def failure_notice(error: BaseException, ts_ms: int) -> Notice:
    """The notice of the error that ended a run: ``start_refused`` for
    :data:`START_REFUSALS`, else ``agent_failed``; the message is the error's type and text."""
    refused = isinstance(error, START_REFUSALS)
    kind = START_REFUSED if refused else AGENT_FAILED
    what = (
        "start refused (exit 2: a person must act)" if refused else "the agent stopped on an error"
    )
    text = f"{what}: {type(error).__name__}: {error}"
    return Notice(kind, type(error).__name__, text, Severity.ERROR, {}, ts_ms)


def render(notice: Notice, title_prefix: str) -> tuple[str, str]:
    """``(title, body)`` of a notice: ``"<prefix> ERROR: circuit_breaker_tripped"``; the
    message, one ``name: value`` line per field, the time (UTC) and the note."""
    title = f"{title_prefix} {notice.severity.value.upper()}: {notice.kind}".strip()
    message = notice.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    lines = [message, *(f"{name}: {value}" for name, value in notice.fields.items())]
    if notice.ts_ms is not None:
        when = datetime.fromtimestamp(notice.ts_ms / 1000, tz=UTC)
        lines.append(f"at {when.isoformat(timespec='seconds').replace('+00:00', 'Z')}")
    if notice.note:
        lines.append(notice.note)
    return title, "\n".join(lines)


def breaker_notice(
    rule: str, limit_frac: float, value_frac: float, ts_ms: int, flattening: bool
) -> Notice:
    """``circuit_breaker_tripped``: a drawdown breaker (``rule``) tripped at ``value_frac``
    (drawdown, fraction) against ``limit_frac``; keyed by the rule."""
    action = "closing every position" if flattening else "no new positions"
    message = f"{rule} breaker tripped: drawdown {value_frac:.2%}, limit {limit_frac:.2%}; {action}"
    fields = {"limit_frac": limit_frac, "value_frac": value_frac}
    return Notice(CIRCUIT_BREAKER_TRIPPED, rule, message, Severity.ERROR, fields, ts_ms)


def stuck_order_notice(
    strategy: str, client_order_id: str, instrument: str, lookups: int, ts_ms: int
) -> Notice:
    """``unresolved_order_stuck``: no venue answered about an order after ``lookups``
    lookups; keyed by its client order id."""
    message = (
        f"no answer about order {client_order_id} after {lookups} lookups: check it on the venue"
    )
    fields: dict[str, float | int | str] = {
        "strategy": strategy,
        "instrument": instrument,
        "lookups": lookups,
    }
    return Notice(UNRESOLVED_ORDER_STUCK, client_order_id, message, Severity.ERROR, fields, ts_ms)


def reverse_incomplete_notice(
    strategy: str, client_order_id: str, instrument: str, left_qty: str, ts_ms: int
) -> Notice:
    """``unresolved_order_reverse_incomplete``: a late fill of an order could not be fully
    reversed (``left_qty`` base units left, signed); keyed by the order's client order id."""
    message = f"{instrument}: {left_qty} of a late fill could not be reversed; see the position"
    fields = {"strategy": strategy, "instrument": instrument, "left_qty": left_qty}
    kind = UNRESOLVED_ORDER_REVERSE_INCOMPLETE
    return Notice(kind, client_order_id, message, Severity.ERROR, fields, ts_ms)


def past_budget_notice(
    strategy: str,
    intent_id: str,
    unhedged_usd_s: float,
    naked_budget_usd_s: float,
    unhedged_usd: float,
    ts_ms: int,
) -> Notice:
    """``pair_past_budget``: a pair stayed unbalanced past its strategy's
    ``naked_budget_usd_s`` (the engine completes or unwinds it now); keyed by strategy and
    intent. Amounts: USD·s integrated so far, the budget, USD unhedged now."""
    message = (
        f"{strategy} {intent_id}: unhedged {unhedged_usd:,.2f} USD, {unhedged_usd_s:,.0f} USD·s "
        f"past the budget of {naked_budget_usd_s:,.0f} USD·s; completing or unwinding it"
    )
    fields: dict[str, float | int | str] = {
        "strategy": strategy,
        "intent_id": intent_id,
        "unhedged_usd_s": round(unhedged_usd_s, 3),
        "naked_budget_usd_s": naked_budget_usd_s,
        "unhedged_usd": round(unhedged_usd, 2),
    }
    key = f"{strategy}:{intent_id}"
    return Notice(PAIR_PAST_BUDGET, key, message, Severity.WARNING, fields, ts_ms)


def unwind_failed_notice(
    strategy: str, intent_id: str, instruments: Sequence[str], ts_ms: int
) -> Notice:
    """``pair_unwind_failed``: a pair's leg could not complete and its unwind did not finish
    (or a leg's outcome is unknown); keyed by strategy and intent."""
    legs = ", ".join(instruments)
    message = f"{strategy} {intent_id}: a leg failed and the unwind did not finish ({legs})"
    fields = {"strategy": strategy, "intent_id": intent_id, "instruments": legs}
    key = f"{strategy}:{intent_id}"
    return Notice(PAIR_UNWIND_FAILED, key, message, Severity.WARNING, fields, ts_ms)
