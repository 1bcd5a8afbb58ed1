"""The invariants of a live run under chaos, from the journal (SQLite, opened read-only) and the
exchange's own books, and the figures the harness prints.

* **duplicate orders**: client order ids the exchange received more than once (a re-sent order);
* **lost fills**: exchange trades (by trade id) missing from the journal's ``fills``;
* **positions**: the journal's position per instrument (signed sum of its fills) against the
  exchange's;
* **unresolved intents**: intents with an order the agent's last checkpoint still lists as
  unresolved, or whose journaled fills differ from what the exchange executed for it;
* **unbalanced pairs**: from the exchange's trades in time order, the stretches during which the
  account's net notional (Σ qty × mark) exceeds half a flip leg — one leg of a pair filled, the
  other not; each stretch is attributed to the intent of the trade that opened it;
* **reaction times**: unknown outcome → the first lookup of that order; mark jump → the first
  order re-hedging the standing pair after it (``rebalance-`` or ``core-``; virtual seconds;
  the agent runs ``speed`` × real time).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.chaos.exchange import PricePath, Records
from tests.chaos.faults import MarkJump

ZERO = Decimal(0)
PERP_PREFIX = "binance:perp:"
FINAL = ("filled", "canceled", "rejected", "expired")


@dataclass
class JournalView:
    """What the journal holds (committed rows only)."""

    positions: dict[str, Decimal]
    trade_ids: set[str]
    booked_by_cid: dict[str, Decimal]
    order_context: dict[str, tuple[str, str, str, int]]  # cid -> strategy, intent, leg, attempt
    last_status: dict[str, str]
    unresolved_cids: list[str]
    pairs_sent: int
    halts: int = 0
    """Position checks that halted opening (``reconciliation`` rows ``halted_opening``)."""


def read_journal(path: Path) -> JournalView:
    """Read ``path`` read-only (``mode=ro``: the agent may be writing it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        positions: dict[str, Decimal] = {}
        booked: dict[str, Decimal] = {}
        trade_ids: set[str] = set()
        rows = conn.execute("SELECT client_order_id, trade_id, instrument, side, qty FROM fills")
        for cid, trade_id, instrument, side, qty in rows:
            signed = Decimal(qty) if side == "buy" else -Decimal(qty)
            symbol = str(instrument).removeprefix(PERP_PREFIX)
            positions[symbol] = positions.get(symbol, ZERO) + signed
            booked[cid] = booked.get(cid, ZERO) + abs(signed)
            trade_ids.add(str(trade_id))
        context: dict[str, tuple[str, str, str, int]] = {}
        last: dict[str, str] = {}
        for cid, strategy, intent, leg, attempt, status in conn.execute(
            "SELECT client_order_id, strategy, intent_id, leg, attempt, status FROM orders"
            " ORDER BY id"
        ):
            context.setdefault(cid, (strategy, intent, leg, int(attempt)))
            last[cid] = status
        (pairs,) = conn.execute(
            "SELECT count(*) FROM (SELECT intent_id FROM orders WHERE attempt = 0"
            " AND leg IN ('0', '1') AND status = 'pending_new'"
            " GROUP BY strategy, intent_id HAVING count(*) = 2)"
        ).fetchone()
        (halts,) = conn.execute(
            "SELECT count(*) FROM reconciliation WHERE action = 'halted_opening'"
        ).fetchone()
        resume = conn.execute(
            "SELECT value FROM run_meta WHERE key = 'resume_json' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    unresolved = []
    if resume is not None:
        unresolved = [o["client_order_id"] for o in json.loads(resume[0])["unresolved_orders"]]
    return JournalView(
        positions, trade_ids, booked, context, last, unresolved, int(pairs), int(halts)
    )


def pairs_sent(path: Path) -> int:
    """Paired orders the agent sent so far (intents whose two legs went out), 0 without a
    journal yet."""
    if not path.exists():
        return 0
    try:
        return read_journal(path).pairs_sent
    except sqlite3.OperationalError:
        return 0


@dataclass(frozen=True, slots=True)
class PositionCheck:
    """One comparison of the journal's positions with the exchange's."""

    when: str
    equal: bool
    journal: Mapping[str, Decimal]
    exchange: Mapping[str, Decimal]


def positions_equal(journal: JournalView, snapshot: Mapping[str, Any], when: str) -> PositionCheck:
    exchange = {s: q for s, q in snapshot["positions"].items()}
    symbols = set(exchange) | set(journal.positions)
    equal = all(journal.positions.get(s, ZERO) == exchange.get(s, ZERO) for s in symbols)
    return PositionCheck(when, equal, dict(journal.positions), exchange)


@dataclass
class Episode:
    """A stretch of one-legged exposure: virtual start/end ms, the intent that opened it."""

    start_ms: int
    end_ms: int | None
    intent: str


def unbalanced_episodes(
    trades: Sequence[Mapping[str, Any]],
    prices: PricePath,
    context: Mapping[str, tuple[str, str, str, int]],
    threshold_usd: Decimal,
) -> list[Episode]:
    """Stretches during which |Σ position × mark| > ``threshold_usd`` (module docstring); the
    last one has ``end_ms`` None if it is still open."""
    position: dict[str, Decimal] = {}
    episodes: list[Episode] = []
    current: Episode | None = None
    for trade in sorted(trades, key=lambda t: (t["time"], t["id"])):
        if "qty_signed" in trade:  # an operator's adjustment
            qty = Decimal(trade["qty_signed"])
        else:
            qty = Decimal(trade["qty"]) * (1 if trade["side"] == "BUY" else -1)
        position[trade["symbol"]] = position.get(trade["symbol"], ZERO) + qty
        ts = int(trade["time"])
        net = sum((q * prices.price(s, ts) for s, q in position.items()), ZERO)
        if abs(net) > threshold_usd and current is None:
            intent = context.get(trade["clientOrderId"], ("", "?", "", 0))[1]
            current = Episode(ts, None, intent)
            episodes.append(current)
        elif abs(net) <= threshold_usd and current is not None:
            current.end_ms = ts
            current = None
    return episodes


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0–100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def lookup_reactions_s(records: Records) -> list[float]:
    """Virtual seconds from each unknown outcome to the first lookup of that order after it
    (an order never looked up is left out: see the ``never looked up`` figure)."""
    out = []
    for event in records.unknown:
        after = [ts for ts in records.lookups.get(event.cid, []) if ts >= event.ts_ms]
        if after:
            out.append((min(after) - event.ts_ms) / 1000)
    return out


def never_looked_up(records: Records) -> int:
    return sum(
        1
        for e in records.unknown
        if not any(ts >= e.ts_ms for ts in records.lookups.get(e.cid, []))
    )


def breach_reactions_s(
    records: Records, jumps: Iterable[MarkJump], context: Mapping[str, tuple[str, str, str, int]]
) -> list[float]:
    """Virtual seconds from each mark jump to the first order after it that re-hedges the
    standing pair: a ``drift_rebalance`` intent (``rebalance-``: the agent's ``drift_check =
    "ratio"`` at a mark tick) or the churn's hourly ``core`` intent."""
    core_posts = sorted(
        p.ts_ms
        for p in records.posts
        if context.get(p.cid, ("", "", "", 0))[1].startswith(("core-", "rebalance-"))
    )
    out = []
    for jump in jumps:
        after = [ts for ts in core_posts if ts >= jump.ts_ms]
        if after:
            out.append((after[0] - jump.ts_ms) / 1000)
    return out


@dataclass
class Figures:
    """What a chaos run prints (:func:`format_table`)."""

    paired_orders: int = 0
    orders_received: int = 0
    kills: int = 0
    kills_by_kind: dict[str, int] = field(default_factory=dict)
    kills_between_legs: int = 0
    restarts: int = 0
    refused_starts: list[str] = field(default_factory=list)
    operator_repairs: int = 0
    opening_halts: int = 0
    duplicate_orders: int = 0
    lost_fills: int = 0
    unresolved_intents: int = 0
    position_checks: list[PositionCheck] = field(default_factory=list)
    unbalanced_past_budget: int | None = None
    unbalanced_at_end: int = 0
    longest_unbalanced_s: float = 0.0
    longest_unbalanced_intent: str = ""
    longest_unbalanced_up_s: float = 0.0
    down_s: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    lookup_reaction_s: list[float] = field(default_factory=list)
    never_looked_up: int = 0
    breach_reaction_s: list[float] = field(default_factory=list)
    speed: float = 1.0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def position_mismatches(self) -> int:
        return sum(1 for c in self.position_checks if not c.equal)


def evaluate(
    figures: Figures,
    journal: JournalView,
    snapshot: Mapping[str, Any],
    records: Records,
    prices: PricePath,
    *,
    threshold_usd: Decimal,
    budget_s: float | None,
    jumps_from_ms: int = 0,
    down_ms: Sequence[tuple[int, int | None]] = (),
) -> Figures:
    """Fill the end-of-run figures of ``figures`` from the final journal and exchange.

    ``down_ms`` are the virtual stretches the agent was down (a kill to the restarted agent's
    position check; an open one runs to the end): no process can act on a pair then, so an
    episode's time against the budget is its time with the agent up. The longest episode is
    also printed with the down time in it."""
    counts: Mapping[str, int] = snapshot["post_counts"]
    figures.orders_received = sum(counts.values())
    figures.duplicate_orders = sum(n - 1 for n in counts.values() if n > 1)
    figures.notes.extend(f"sent {n} times: {cid}" for cid, n in sorted(counts.items()) if n > 1)
    exchange_ids = {str(t["id"]) for t in snapshot["trades"]}
    figures.lost_fills = len(exchange_ids - journal.trade_ids)
    figures.paired_orders = journal.pairs_sent
    figures.opening_halts = journal.halts
    unresolved = {journal.order_context.get(c, ("", c, "", 0))[1] for c in journal.unresolved_cids}
    for cid, (_, executed) in snapshot["orders"].items():
        if journal.booked_by_cid.get(cid, ZERO) != executed:
            unresolved.add(journal.order_context.get(cid, ("", cid, "", 0))[1])
    figures.unresolved_intents = len(unresolved)
    adjustments = [
        {"time": a["time"], "id": -1, "symbol": a["symbol"], "qty_signed": a["qty"],
         "clientOrderId": "operator"}
        for a in snapshot["adjustments"]
    ]  # fmt: skip
    timeline = [*snapshot["trades"], *adjustments]
    episodes = unbalanced_episodes(timeline, prices, journal.order_context, threshold_usd)
    end_ms = int(snapshot["ts_ms"])
    down = [(start, end_ms if stop is None else stop) for start, stop in down_ms]
    figures.down_s = sum(stop - start for start, stop in down) / 1000
    durations = [((e.end_ms or end_ms) - e.start_ms) / 1000 for e in episodes]
    up_durations = [
        d - overlap_ms(e.start_ms, e.end_ms or end_ms, down) / 1000
        for e, d in zip(episodes, durations, strict=True)
    ]
    figures.unbalanced_at_end = sum(1 for e in episodes if e.end_ms is None)
    if durations:
        longest = max(range(len(durations)), key=durations.__getitem__)
        figures.longest_unbalanced_s = durations[longest]
        figures.longest_unbalanced_intent = episodes[longest].intent
        figures.longest_unbalanced_up_s = max(up_durations)
    if budget_s is not None:
        over = [
            (e, d, up)
            for e, d, up in zip(episodes, durations, up_durations, strict=True)
            if up > budget_s
        ]
        figures.unbalanced_past_budget = len(over)
        figures.notes.extend(
            f"unbalanced {up:,.0f} s with the agent up ({d:,.0f} s in all) from {e.start_ms}"
            f" ({e.intent})"
            for e, d, up in over[:20]
        )
    figures.faults = dict(sorted(records.faults.items()))
    figures.lookup_reaction_s = lookup_reactions_s(records)
    figures.never_looked_up = never_looked_up(records)
    end_jumps = [j for j in prices.jumps_until(end_ms) if j.ts_ms >= jumps_from_ms]
    figures.breach_reaction_s = breach_reactions_s(records, end_jumps, journal.order_context)
    return figures


def overlap_ms(start_ms: int, end_ms: int, windows: Iterable[tuple[int, int]]) -> int:
    """Milliseconds of ``[start_ms, end_ms)`` inside the (disjoint) ``windows``."""
    return sum(max(0, min(end_ms, stop) - max(start_ms, start)) for start, stop in windows)


def executed_but_pending(journal: JournalView, snapshot: Mapping[str, Any]) -> list[str]:
    """Orders the exchange executed that the journal holds only as ``pending_new`` (written
    ahead, never resolved): ``cid (intent leg attempt): executed qty`` each."""
    out = []
    for cid, (status, executed) in snapshot["orders"].items():
        if executed > 0 and journal.last_status.get(cid) == "pending_new":
            _, intent, leg, attempt = journal.order_context[cid]
            out.append(f"{cid} ({intent} leg {leg} attempt {attempt}): {status} {executed}")
    return out


def _pct(values: Sequence[float], speed: float) -> str:
    p50, p99 = percentile(values, 50), percentile(values, 99)
    if p50 is None or p99 is None:
        return "n/a (none measured)"
    return (
        f"p50 {p50:,.1f} s  p99 {p99:,.1f} s virtual "
        f"(= {p50 / speed * 1000:,.1f} / {p99 / speed * 1000:,.1f} ms real), n={len(values)}"
    )


def format_table(figures: Figures) -> str:
    """The invariants and figures as a small table (one ``name  value`` line each)."""
    budget = (
        "n/a (no leg-risk budget configured)"
        if figures.unbalanced_past_budget is None
        else str(figures.unbalanced_past_budget)
    )
    rows = [
        ("paired orders", f"{figures.paired_orders:,}"),
        ("orders received by the exchange", f"{figures.orders_received:,}"),
        ("SIGKILLs", f"{figures.kills} ({_kinds(figures.kills_by_kind)})"),
        ("restarts", f"{figures.restarts}"),
        (
            "refused starts",
            f"{len(figures.refused_starts)} (operator repaired {figures.operator_repairs})",
        ),
        ("duplicate orders", f"{figures.duplicate_orders}"),
        ("lost fills", f"{figures.lost_fills}"),
        ("unresolved intents at the end", f"{figures.unresolved_intents}"),
        ("pairs unbalanced past their budget", f"{budget} (time with the agent up)"),
        ("pairs unbalanced at the end", f"{figures.unbalanced_at_end}"),
        (
            "longest unbalanced pair",
            f"{figures.longest_unbalanced_s:,.0f} s virtual ({figures.longest_unbalanced_intent});"
            f" with the agent up {figures.longest_unbalanced_up_s:,.0f} s",
        ),
        ("agent down (kill to checked restart)", f"{figures.down_s:,.0f} s virtual"),
        (
            "journal positions == exchange's",
            f"{len(figures.position_checks) - figures.position_mismatches}"
            f"/{len(figures.position_checks)} checks",
        ),
        ("opening halted by a position mismatch", f"{figures.opening_halts}"),
        ("faults injected", f"{sum(figures.faults.values()):,}"),
        ("reaction: unknown outcome -> lookup", _pct(figures.lookup_reaction_s, figures.speed)),
        ("unknown outcomes never looked up", f"{figures.never_looked_up}"),
        ("reaction: mark breach -> order", _pct(figures.breach_reaction_s, figures.speed)),
        ("speed / wall time", f"x{figures.speed:g} / {figures.wall_s:,.0f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [
        f"  positions differ {c.when}: journal {_positions(c.journal)}"
        f" exchange {_positions(c.exchange)}"
        for c in figures.position_checks
        if not c.equal
    ]
    lines += [f"  refused start: {r}" for r in figures.refused_starts]
    lines += [f"  note: {n}" for n in figures.notes]
    lines.append("  faults: " + ", ".join(f"{k} {v}" for k, v in figures.faults.items()))
    return "\n".join(lines)


def _kinds(kinds: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"


def _positions(positions: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{s} {q}" for s, q in sorted(positions.items()))
