"""Prometheus metrics of a running agent (``/metrics``), with ``prometheus_client``.

Each control surface has its own :class:`prometheus_client.CollectorRegistry` (never the
process-wide default), so two agents in one process — or two tests — never share a sample.
Gauges and counters are read from the engine when scraped (:class:`_EngineCollector` over
:func:`agent.control.probe.engine_now`): nothing is kept in step with the engine, a scrape
shows the ledger as it is between two bookings. The one metric observed as it happens is the
order latency histogram, fed by the order desk's hook
(:attr:`agent.execution.desk.OrderDesk.on_order_latency`: seconds from sending an order to
the venue's answer, accepted or rejected; an order whose outcome is unknown is not observed).

Metrics (USD amounts as floats; ``instrument`` is ``venue:kind:SYMBOL``):

- ``zerobeta_equity_usd``, ``zerobeta_initial_equity_usd``: ledger equity now, at the start;
- ``zerobeta_pnl_usd{stream}``: P&L by stream (``price_spot``, ``price_perp``, ``funding``,
  ``fees`` and ``slippage`` — costs positive —, ``total``, ``realized``, ``unrealized``);
  ``zerobeta_strategy_pnl_usd{strategy,stream}`` the same per strategy;
- ``zerobeta_position_qty{instrument,venue,kind}`` (net, base units),
  ``zerobeta_position_notional_usd{instrument,venue,kind}`` (net × mark, signed),
  ``zerobeta_strategy_position_qty{strategy,instrument}``;
- ``zerobeta_net_delta_usd``, ``zerobeta_gross_notional_usd``: portfolio exposure;
- ``zerobeta_funding_rate{instrument}`` (latest rate per interval, fraction),
  ``zerobeta_funding_rate_per_hour``, ``zerobeta_funding_interval_seconds``,
  ``zerobeta_funding_next_settlement_timestamp_seconds`` (epoch s);
- counters ``zerobeta_orders_sent_total`` (every attempt, unwinds included),
  ``zerobeta_orders_rejected_total`` (by a venue), ``zerobeta_risk_rejections_total``
  (intents a risk rule refused), ``zerobeta_funding_payments_total``;
- ``zerobeta_unresolved_orders``; ``zerobeta_order_latency_seconds{venue}`` (histogram, send →
  answer);
- leg risk (:mod:`agent.execution.exposure`): counter ``zerobeta_unhedged_usd_seconds_total``
  (unhedged notional integrated over time, every pair), counter
  ``zerobeta_pairs_past_budget_total`` (pairs past their ``naked_budget_usd_s``), gauge
  ``zerobeta_open_pairs`` (pairs tracked now, not yet balanced);
- ``zerobeta_risk_halted`` and ``zerobeta_breaker_tripped{rule}`` (1 while opening is blocked),
  ``zerobeta_drawdown_frac{window}`` and ``zerobeta_drawdown_limit_frac{window}`` (``daily``,
  ``total``);
- ``zerobeta_engine_clock_timestamp_seconds`` (simulated in a replay),
  ``zerobeta_last_event_age_seconds`` (wall seconds since the last step or mark),
  ``zerobeta_heartbeat_age_seconds``, ``zerobeta_uptime_seconds``, ``zerobeta_healthy``;
- live data only: ``zerobeta_stream_staleness_seconds{venue}`` (age of the venue's newest
  mark), counters ``zerobeta_marks_received_total``, ``zerobeta_marks_dropped_total``
  (duplicates or older marks, as after a reconnect), ``zerobeta_bars_missing_total``.

- venue health and liquidation (:mod:`agent.engine.safety`): ``zerobeta_venue_healthy{venue}``
  (0 while opening there is refused), ``zerobeta_venue_failing_seconds{venue}``,
  ``zerobeta_liquidation_distance_frac{instrument}`` (``|mark − liquidation| / mark`` of each
  held perp with a liquidation price), ``zerobeta_liquidation_price_usd{instrument}``;
- ``zerobeta_ws_reconnects_total{stream,reason}``: websocket reconnects of every venue stream
  in the process (:func:`venues.ws.reconnect_counts`; ``stream`` as ``binance.ws.marks``,
  ``reason`` ``max_lifetime`` or the error that dropped the connection); the marks a reconnect
  drops on resync show in ``zerobeta_marks_dropped_total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.control.health import Health
from agent.control.probe import EngineNow, Heartbeat
from venues.model import InstrumentId
from venues.ws import reconnect_counts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format served by ``/metrics``."""
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Order latency buckets, seconds (an order times out after ``leg_timeout_s``, 10 s default)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What one scrape reads: the engine now (None before it is built), the heartbeat and the
    health verdict."""

    engine: EngineNow | None
    heartbeat: Heartbeat
    health: Health


class AgentMetrics:
    """A registry of one agent's metrics (module docstring).

    Parameters
    ----------
    read : Callable[[], Reading]
        Called once per scrape.
    """

    def __init__(self, read: Callable[[], Reading]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.order_latency = Histogram(
            "zerobeta_order_latency_seconds",
            "Seconds from sending an order to the venue's answer (accepted or rejected).",
            ["venue"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(_EngineCollector(read))

    def observe_order_latency(self, venue: str, seconds: float) -> None:
        """Record one order's send → answer time (the desk's hook)."""
        self.order_latency.labels(venue=venue).observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


class _EngineCollector(Collector):
    """Gauges and counters read from the engine at scrape time."""

    def __init__(self, read: Callable[[], Reading]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        reading = self._read()
        yield from _process_metrics(reading)
        if reading.engine is not None:
            yield from _ledger_metrics(reading.engine)
            yield from _order_metrics(reading.engine)
            yield from _risk_metrics(reading.engine)
            yield from _funding_metrics(reading.engine)
            yield from _feed_metrics(reading.engine)
            yield from _safety_metrics(reading.engine)


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=value)


def _process_metrics(reading: Reading) -> Iterator[Metric]:
    beat = reading.heartbeat
    yield from _gauge(
        "zerobeta_uptime_seconds", "Seconds since the agent started.", beat.uptime_s()
    )
    yield from _gauge(
        "zerobeta_heartbeat_age_seconds",
        "Seconds since the event-loop heartbeat last ran.",
        beat.heartbeat_age_s(),
    )
    yield from _gauge(
        "zerobeta_last_event_age_seconds",
        "Seconds (wall) since the engine last processed a step or a mark.",
        beat.event_age_s(),
    )
    yield from _gauge(
        "zerobeta_healthy", "1 when /healthz answers 200, else 0.", float(reading.health.ok)
    )
    reconnects = CounterMetricFamily(
        "zerobeta_ws_reconnects",
        "Websocket reconnects of the venue streams, by stream and reason.",
        labels=["stream", "reason"],
    )
    for (stream, reason), count in sorted(reconnect_counts().items()):
        reconnects.add_metric([stream, reason], count)
    yield reconnects


def _ledger_metrics(now: EngineNow) -> Iterator[Metric]:
    yield from _gauge("zerobeta_equity_usd", "Ledger equity, USD.", float(now.equity_usd))
    yield from _gauge(
        "zerobeta_initial_equity_usd", "Equity at the start, USD.", float(now.initial_equity_usd)
    )
    yield from _gauge("zerobeta_net_delta_usd", "Net delta, USD.", float(now.net_delta_usd))
    yield from _gauge(
        "zerobeta_gross_notional_usd", "Gross notional, USD.", float(now.gross_notional_usd)
    )
    pnl = GaugeMetricFamily("zerobeta_pnl_usd", "P&L by stream, USD (costs positive).",
                            labels=["stream"])  # fmt: skip
    for stream, value in now.pnl.items():
        pnl.add_metric([stream.removesuffix("_usd")], float(value))
    yield pnl
    by_strategy = GaugeMetricFamily(
        "zerobeta_strategy_pnl_usd",
        "P&L by strategy and stream, USD.",
        labels=["strategy", "stream"],
    )
    for strategy, streams in now.pnl_by_strategy.items():
        for stream, value in streams.items():
            by_strategy.add_metric([strategy, stream.removesuffix("_usd")], float(value))
    yield by_strategy
    yield from _position_metrics(now)


def _position_metrics(now: EngineNow) -> Iterator[Metric]:
    labels = ["instrument", "venue", "kind"]
    qty = GaugeMetricFamily("zerobeta_position_qty", "Net position, base units.", labels=labels)
    notional = GaugeMetricFamily(
        "zerobeta_position_notional_usd", "Net position × mark, USD (signed).", labels=labels
    )
    for text, value in now.net_positions.items():
        iid = InstrumentId.parse(text)
        label_values = [text, iid.venue, iid.kind.value]
        qty.add_metric(label_values, float(value))
        mark = now.marks.get(text)
        if mark is not None:
            notional.add_metric(label_values, float(value * mark))
    yield qty
    yield notional
    own = GaugeMetricFamily(
        "zerobeta_strategy_position_qty",
        "A strategy's position, base units.",
        labels=["strategy", "instrument"],
    )
    for position in now.positions:
        own.add_metric([position.strategy, position.instrument], float(position.qty))
    yield own


_COUNTERS = (
    ("orders_sent", "zerobeta_orders_sent", "Orders sent (every attempt, unwinds included)."),
    ("orders_rejected", "zerobeta_orders_rejected", "Orders a venue refused."),
    ("risk_rejections", "zerobeta_risk_rejections", "Intents a risk rule refused."),
    ("funding_payments", "zerobeta_funding_payments", "Funding payments booked."),
)


def _order_metrics(now: EngineNow) -> Iterator[Metric]:
    for key, name, doc in _COUNTERS:
        if key in now.counters:
            yield CounterMetricFamily(name, doc, value=now.counters[key])
    yield from _gauge(
        "zerobeta_unresolved_orders",
        "Orders whose outcome is unknown (looked up every step).",
        float(now.counters.get("unresolved_orders", 0)),
    )
    legs = now.leg_risk
    yield CounterMetricFamily(
        "zerobeta_unhedged_usd_seconds",
        "Unhedged notional of the pairs integrated over time, USD·s.",
        value=legs.unhedged_usd_s_total,
    )
    yield CounterMetricFamily(
        "zerobeta_pairs_past_budget",
        "Pairs whose unhedged USD·s passed their naked_budget_usd_s.",
        value=legs.pairs_past_budget,
    )
    yield from _gauge("zerobeta_open_pairs", "Pairs not yet balanced.", float(legs.open_pairs))


def _risk_metrics(now: EngineNow) -> Iterator[Metric]:
    risk = now.risk
    yield from _gauge("zerobeta_risk_halted", "1 while opening is blocked.", float(risk.halted))
    tripped = GaugeMetricFamily(
        "zerobeta_breaker_tripped", "1 for each breaker in effect.", labels=["rule"]
    )
    for rule in sorted(risk.tripped):
        tripped.add_metric([rule], 1.0)
    yield tripped
    drawdown = GaugeMetricFamily(
        "zerobeta_drawdown_frac", "Drawdown from day-open / peak equity.", labels=["window"]
    )
    drawdown.add_metric(["daily"], risk.daily_drawdown_frac)
    drawdown.add_metric(["total"], risk.total_drawdown_frac)
    yield drawdown
    limit = GaugeMetricFamily(
        "zerobeta_drawdown_limit_frac", "Drawdown breaker limits.", labels=["window"]
    )
    limit.add_metric(["daily"], risk.daily_limit_frac)
    limit.add_metric(["total"], risk.total_limit_frac)
    yield limit
    yield from _gauge(
        "zerobeta_engine_clock_timestamp_seconds",
        "The engine's clock, epoch seconds (simulated in a replay).",
        now.engine_clock_ms / 1000,
    )


def _funding_metrics(now: EngineNow) -> Iterator[Metric]:
    labels = ["instrument"]
    families = (
        GaugeMetricFamily(
            "zerobeta_funding_rate", "Latest funding rate per interval.", labels=labels
        ),
        GaugeMetricFamily("zerobeta_funding_rate_per_hour", "The same, per hour.", labels=labels),
        GaugeMetricFamily("zerobeta_funding_interval_seconds", "Funding interval.", labels=labels),
        GaugeMetricFamily(
            "zerobeta_funding_next_settlement_timestamp_seconds",
            "Next funding settlement, epoch seconds.",
            labels=labels,
        ),
    )
    for f in now.funding:
        values = (f.rate, f.rate_per_hour, float(f.interval_s), f.next_funding_ms / 1000)
        for family, value in zip(families, values, strict=True):
            family.add_metric([f.instrument], value)
    yield from families


def _safety_metrics(now: EngineNow) -> Iterator[Metric]:
    healthy = GaugeMetricFamily(
        "zerobeta_venue_healthy",
        "1 while the venue is healthy (0: no new positions).",
        labels=["venue"],
    )
    failing = GaugeMetricFamily(
        "zerobeta_venue_failing_seconds",
        "How long the venue's worst channel has failed, s.",
        labels=["venue"],
    )
    for venue in now.venue_health:
        healthy.add_metric([venue.venue], float(venue.healthy))
        failing.add_metric([venue.venue], venue.failing_s)
    distance = GaugeMetricFamily(
        "zerobeta_liquidation_distance_frac",
        "Distance of a held perp's mark to its liquidation price, fraction of the mark.",
        labels=["instrument"],
    )
    price = GaugeMetricFamily(
        "zerobeta_liquidation_price_usd", "Liquidation price of a held perp.", labels=["instrument"]
    )
    for leg in now.liquidation:
        if leg.distance_frac is not None:
            distance.add_metric([leg.instrument], leg.distance_frac)
        if leg.liquidation_price_usd is not None:
            price.add_metric([leg.instrument], float(leg.liquidation_price_usd))
    yield from (healthy, failing, distance, price)


def _feed_metrics(now: EngineNow) -> Iterator[Metric]:
    feed = now.feed
    if feed is None:
        return
    yield CounterMetricFamily("zerobeta_marks_received", "Marks kept.", value=feed.marks_received)
    yield CounterMetricFamily(
        "zerobeta_marks_dropped", "Marks dropped (duplicate or older).", value=feed.marks_dropped
    )
    yield CounterMetricFamily(
        "zerobeta_bars_missing", "Hourly bars not closed in time.", value=feed.bars_missing
    )
    staleness = GaugeMetricFamily(
        "zerobeta_stream_staleness_seconds", "Age of a venue's newest mark.", labels=["venue"]
    )
    for venue in feed.venues:
        staleness.add_metric([venue.venue], venue.age_s)
    yield staleness
