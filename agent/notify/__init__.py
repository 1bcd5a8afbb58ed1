"""Alerts that reach a person: the copy of an alert sent to Telegram, Slack, Discord, e-mail or
a webhook (through apprise), while the journal keeps the record and the log the line.

Owns what a notification says (:mod:`.notice`: :class:`Notice`, :class:`Severity`, the kinds
sent by default), which ones go out (:mod:`.gate`: kinds, deduplication, rate limit), the
queue and the task that sends them off the trading path (:mod:`.dispatcher`:
:class:`AlertDispatcher`, built by :func:`build_dispatcher` from ``[alerts]``), the memory
of the last run-ending notice that keeps a crash loop from paging at every restart
(:mod:`.failure_memory`), and the boundary to apprise with the redaction of its URLs, which
carry tokens (:mod:`.sender`).

May import ``agent.config`` (``[alerts]``), ``agent.errors`` and ``strategies.base`` (the
``Alert`` a notice copies); the parts that raise alerts import this package, never the
reverse.
"""

from agent.notify.dispatcher import (
    DISCARD,
    AlertCounts,
    AlertDispatcher,
    AlertSink,
    DiscardAlerts,
    build_dispatcher,
)
from agent.notify.notice import (
    AGENT_FAILED,
    ALERTS_SUPPRESSED,
    CIRCUIT_BREAKER_TRIPPED,
    FUNDING_FLIP_CLOSE,
    FUNDING_INTERVAL_CHANGED,
    KILL_SWITCH,
    LIQUIDATION_DISTANCE_LOW,
    MARGIN_LOW,
    PAGED_KINDS,
    PAIR_UNWIND_FAILED,
    POSITION_MISMATCH,
    START_REFUSALS,
    START_REFUSED,
    UNRESOLVED_ORDER_REVERSE_INCOMPLETE,
    UNRESOLVED_ORDER_STUCK,
    VENUE_RECOVERED,
    VENUE_UNHEALTHY,
    Notice,
    Severity,
    breaker_notice,
    failure_notice,
    past_budget_notice,
    render,
    reverse_incomplete_notice,
    stuck_order_notice,
    unwind_failed_notice,
)
from agent.notify.sender import AppriseSender, NoticeSender, UrlRedactor

__all__ = [
    "AGENT_FAILED",
    "ALERTS_SUPPRESSED",
    "CIRCUIT_BREAKER_TRIPPED",
    "DISCARD",
    "FUNDING_FLIP_CLOSE",
    "FUNDING_INTERVAL_CHANGED",
    "KILL_SWITCH",
    "LIQUIDATION_DISTANCE_LOW",
    "MARGIN_LOW",
    "PAGED_KINDS",
    "PAIR_UNWIND_FAILED",
    "POSITION_MISMATCH",
    "START_REFUSALS",
    "START_REFUSED",
    "UNRESOLVED_ORDER_REVERSE_INCOMPLETE",
    "UNRESOLVED_ORDER_STUCK",
    "VENUE_RECOVERED",
    "VENUE_UNHEALTHY",
    "AlertCounts",
    "AlertDispatcher",
    "AlertSink",
    "AppriseSender",
    "DiscardAlerts",
    "Notice",
    "NoticeSender",
    "Severity",
    "UrlRedactor",
    "breaker_notice",
    "build_dispatcher",
    "failure_notice",
    "past_budget_notice",
    "render",
    "reverse_incomplete_notice",
    "stuck_order_notice",
    "unwind_failed_notice",
]
