"""``zerobeta status`` for a terminal: a compact, fixed-width rendering of a
:class:`~agent.control.status.Status` (USD with thousands separators and 2 decimals, fractions
as %, times as UTC minutes, ages in s / min / h / d).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from agent.control.status import DrawdownStatus, LegStatus, PairStatus, SafetyStatus, Status

_STREAM_COLUMNS = (
    ("total_usd", "total"),
    ("price_spot_usd", "spot"),
    ("price_perp_usd", "perp"),
    ("funding_usd", "funding"),
    ("fees_usd", "fees"),
    ("slippage_usd", "slippage"),
)


def _usd(amount: Decimal | None) -> str:
    if amount is None:
        return "-"
    text = f"{amount:,.2f}"
    return text[1:] if text == "-0.00" else text


def _price(amount: Decimal) -> str:
    return f"{amount:,.6g}" if abs(amount) < 1 else f"{amount:,.4f}".rstrip("0").rstrip(".")


def _qty(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def _pct(frac: float | None) -> str:
    return "-" if frac is None else f"{frac:.2%}"


def _utc(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400.0), ("h", 3_600.0), ("min", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` columns left-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _header(s: Status) -> list[str]:
    state = "finished" if s.finished else "running or stopped"
    clock = "wall clock" if s.clock == "wall" else "journal clock (simulated in a replay)"
    pairs = [
        ("run", f"{s.mode or '?'} on {s.source or '?'} data, {state}"),
        ("journal", s.journal),
        ("span", f"{_utc(s.first_ms)} → {_utc(s.last_ms)} UTC ({_age(s.span_s)})"),
        ("now", f"{_utc(s.now_ms)} UTC, {clock}"),
        ("venues", ", ".join(s.venues) or "-"),
        (
            "equity",
            f"{_usd(s.equity_usd)} USD (initial {_usd(s.initial_equity_usd)}; "
            f"snapshot {_utc(s.equity_ts_ms)})",
        ),
    ]
    if s.exposure is not None:
        pairs.append(
            (
                "exposure",
                f"net delta {_usd(s.exposure.net_delta_usd)} USD, "
                f"gross {_usd(s.exposure.gross_notional_usd)} USD",
            )
        )
    o = s.orders
    pairs += [
        (
            "orders",
            f"{o.sent:,} sent, {o.rejected:,} rejected, {o.unresolved:,} unresolved, "
            f"{o.risk_rejections:,} risk rejections",
        ),
        ("last step", f"{_utc(s.last_step_ms)} UTC ({_age(s.last_step_age_s)} ago)"),
    ]
    width = max(len(k) for k, _ in pairs)
    return ["zerobeta status", *(f"  {k.ljust(width)}  {v}" for k, v in pairs)]


def _drawdown(name: str, d: DrawdownStatus) -> str:
    text = f"{name} drawdown {_pct(d.value_frac)}"
    if d.limit_frac is not None:
        text += f" of {_pct(d.limit_frac)} (headroom {_pct(d.headroom_frac)})"
    return text


def _risk(s: Status) -> list[str]:
    if s.risk is None:
        return ["risk", "  no equity snapshot yet", *_kill_switch(s)]
    r = s.risk
    state = "HALTED (opening blocked): " if r.halted else "ok"
    if r.halted:
        state += ", ".join(f"{b.rule} {_pct(b.value_frac)} at {_utc(b.ts_ms)}" for b in r.breakers)
    return [
        f"risk ({r.source})",
        f"  {state}",
        f"  {_drawdown('daily', r.daily_drawdown)}; {_drawdown('total', r.total_drawdown)}",
        *_kill_switch(s),
    ]


def _kill_switch(s: Status) -> list[str]:
    k = s.kill_switch
    if k is None:
        return []
    if k.halted:
        return [
            f"  KILL SWITCH: halted ({k.mode}) at {_utc(k.at_ms)} by {k.by}"
            " (`zerobeta resume` lifts it)"
        ]
    return [f"  kill switch: resumed at {_utc(k.at_ms)} by {k.by}"]


def _pnl(s: Status) -> list[str]:
    rows: list[tuple[str, Mapping[str, Decimal], Mapping[str, Decimal]]] = [
        ("portfolio", s.pnl.total, s.pnl.today)
    ]
    rows += [(name, v["total"], v["today"]) for name, v in s.pnl.by_strategy.items()]
    headers = ["P&L (USD)", "today", *(label for _, label in _STREAM_COLUMNS)]
    cells = [
        [name, _usd(today.get("total_usd")), *(_usd(total.get(k)) for k, _ in _STREAM_COLUMNS)]
        for name, total, today in rows
    ]
    return [f"P&L — today since {_utc(s.pnl.day_start_ms)} UTC", *_table(headers, cells)]


def _funding_cell(leg: LegStatus) -> tuple[str, str]:
    f = leg.funding
    if f is None:
        return "-", "-"
    return f"{f.rate_per_hour * 8:.4%}", _age(f.next_funding_in_s)


def _positions(pairs: Sequence[PairStatus]) -> list[str]:
    if not pairs:
        return ["positions", "  none open"]
    headers = ["strategy / intent", "instrument", "qty", "entry", "mark", "notional",
               "unrealized", "funding", "rate/8h", "next"]  # fmt: skip
    rows: list[list[str]] = []
    for pair in pairs:
        for i, leg in enumerate(pair.legs):
            name = f"{pair.strategy} {pair.intent_id}" if i == 0 else ""
            rate, next_in = _funding_cell(leg)
            rows.append([
                name, leg.instrument, _qty(leg.qty), _price(leg.avg_entry_usd),
                _price(leg.mark_usd), _usd(leg.notional_usd), _usd(leg.unrealized_pnl_usd),
                _usd(leg.funding_usd), rate, next_in,
            ])  # fmt: skip
    oldest = min(leg.mark_ts_ms for p in pairs for leg in p.legs)
    note = f"  marks: newest price in the journal, oldest from {_utc(oldest)} UTC"
    return ["positions (rate/8h: latest settled funding per 8 h; next: next settlement)",
            *_table(headers, rows, left=2), note]  # fmt: skip


def _distance(frac: float | None) -> str:
    return "-" if frac is None else f"{frac:.1%}"


def _safety(safety: SafetyStatus | None) -> list[str]:
    if safety is None:
        return ["venues and liquidation", "  no checkpoint (written by live and resumable runs)"]
    unhealthy = ", ".join(safety.unhealthy_venues)
    lines = [
        f"venues and liquidation (checkpoint {_utc(safety.ts_ms)} UTC)",
        f"  venues: {'UNHEALTHY (opening there refused): ' + unhealthy if unhealthy else 'ok'}",
    ]
    if not safety.legs:
        return [*lines, "  no perp held"]
    headers = ["instrument", "qty", "mark", "liquidation", "distance", ""]
    rows = [
        [leg.instrument, _qty(leg.qty), _price(leg.mark_usd),
         "-" if leg.liquidation_price_usd is None else _price(leg.liquidation_price_usd),
         _distance(leg.distance_frac), "LOW: opening refused" if leg.low else ""]
        for leg in safety.legs
    ]  # fmt: skip
    return [*lines, *(f"  {line}" for line in _table(headers, rows))]


def _live_safety(engine: Mapping[str, Any]) -> list[str]:
    venues = [
        f"{v['venue']} ok"
        if v["healthy"]
        else f"{v['venue']} UNHEALTHY ({v['channel']} failing {_age(v['failing_s'])})"
        for v in engine.get("venue_health", [])
    ]
    legs = sorted(
        (leg for leg in engine.get("liquidation", []) if leg["distance_frac"] is not None),
        key=lambda leg: leg["distance_frac"],
    )
    nearest = ", ".join(
        f"{leg['instrument']} {_distance(leg['distance_frac'])}{' LOW' if leg['low'] else ''}"
        for leg in legs[:3]
    )
    return [
        f"  venues: {', '.join(venues) or 'no call yet'}",
        f"  nearest liquidation: {nearest or 'none (no perp with a liquidation price)'}",
    ]


def _live(live: Mapping[str, Any] | None, error: str | None) -> list[str]:
    if live is None:
        return ["live", f"  not available: {error or 'no running agent'}"]
    process = live.get("process", {})
    health = live.get("health", {})
    lines = [
        "live (the running agent's endpoint)",
        f"  health {health.get('status', '?')}"
        + "".join(f"; {reason}" for reason in health.get("reasons", [])),
        f"  uptime {_age(process.get('uptime_s'))}, last step or mark "
        f"{_age(process.get('last_event_age_s'))} ago",
    ]
    engine = live.get("engine") or {}
    if engine:
        lines.append(f"  equity now {_usd(Decimal(engine['equity_usd']))} USD")
    feed = engine.get("feed")
    if feed:
        streams = ", ".join(f"{v['venue']} {_age(v['age_s'])}" for v in feed.get("venues", []))
        lines.append(f"  newest mark per venue: {streams or 'none yet'}")
    if engine:
        lines += _live_safety(engine)
    return lines


def format_status(status: Status) -> str:
    """The status as plain aligned text sections (no trailing newline)."""
    sections = [
        _header(status),
        _risk(status),
        _pnl(status),
        _positions(status.positions),
        _safety(status.safety),
        _live(status.live, status.live_error),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)
