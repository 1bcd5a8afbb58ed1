"""``zerobeta status``: a run's state from its journal, as one stable JSON object.

:func:`read_status` opens the journal read-only (:mod:`agent.control.journal_view`: it works
on a finished journal and on one a running agent is writing) and :func:`build_status` turns its
facts into a :class:`Status`; :func:`status_to_dict` gives the JSON (``status_version`` 1) that
``zerobeta status --json`` prints and ``/status`` serves; :mod:`agent.control.status_text` the
table.

What the journal provides (as of its last committed transaction):

- ``mode``, ``source``, ``venues``, ``strategies``: the run's metadata;
- ``first_ms`` / ``last_ms`` / ``span_s``: its first and last row (agent clock: simulated for a
  replay), ``finished`` once the run wrote its end;
- ``equity_usd`` and ``exposure`` (net delta, gross notional): the newest equity snapshot
  (hourly by default), with its time;
- ``pnl``: total and today's P&L by stream, for the portfolio and each strategy. "Today" is the
  UTC day of the status clock (``clock``: wall time for a run on live data, the journal's last
  row for a replay): newest snapshot minus the newest one at or before 00:00 UTC (the initial
  equity when the run started today);
- ``positions``: open legs grouped by strategy and the pair intent that opened them, each with
  its size, average entry (reference-price cost, the ledger's), mark, unrealized P&L, funding
  booked since it opened and the perp's newest funding settlement with the next one
  (settlement + interval). The mark is the newest price the journal holds — a run's final
  marks, a funding settlement's mark or a fill — with its time and source; between settlements
  it can be hours old, which the live endpoint's ``live.positions`` is not;
- ``risk``: breakers tripped, and daily and total drawdown against their limits (headroom).
  Drawdown references (day-open equity, high-water mark) come from the resume checkpoint when
  the run writes one (live runs, replays with ``journal.overwrite = false``), else from the
  snapshots (approximate: the risk engine also sees the marks between snapshots). Limits come
  from the configuration given (None without one);
- ``kill_switch``: the latest ``zerobeta halt`` / ``resume`` (halted or not, mode, when, by
  whom); a halt stays in force across restarts until a resume; None if there was none;
- ``orders``: orders sent, rejected by a venue, unresolved (latest state not final) and
  intents refused by a risk rule;
- ``last_step_ms`` / ``last_step_age_s``: the newest step (checkpoint, else last snapshot) and
  its age on the status clock;
- ``safety``: from the resume checkpoint (None without one: a replay with ``overwrite``): the
  venues held unhealthy (opening there refused), the perps near liquidation (opening more
  refused) and each held perp's distance to its liquidation price at that step
  (:mod:`agent.engine.safety`).

What only the running agent knows comes from its HTTP endpoint (``/status``, :mod:`.server`)
under ``live``: the engine's ledger now (equity, positions with current marks), the latest
funding rates the market data holds (settled; predicted where the venue streams them), stream
health (newest mark per venue and its age, marks received and dropped), health checks, process
uptime, and the safety guard now (each venue's health, each held perp's distance to
liquidation). A journal read without a running agent has ``live: null``.

Money is exact Decimal, printed as a string (``"1234.5"``); rates, fractions and seconds are
JSON numbers; times are integer epoch ms UTC (``*_ms``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.control.journal_view import (
    DAY_MS,
    STREAMS,
    JournalFacts,
    LatestFunding,
    OpenLeg,
    read_facts,
)
from agent.errors import JournalError
from agent.journal.halt import HALT_KEY, HaltRecord
from agent.portfolio.ledger import Portfolio, ledger_context
from venues.model import InstrumentKind, funding_rate_per_hour

STATUS_VERSION = 1
"""Version of the JSON layout; a key is only ever added within a version."""
RESERVE = "reserve"
"""Cash account of the off-venue reserve (not a venue)."""
STREAM_KEYS = {c: "total_usd" if c == "total_pnl_usd" else c for c in STREAMS}
"""Snapshot column → JSON key of a P&L stream (USD; fees and slippage positive = cost)."""


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Drawdown breaker limits, fractions (``[risk]`` of the run's configuration)."""

    daily_drawdown_frac: float
    total_drawdown_frac: float


@dataclass(frozen=True, slots=True)
class FundingStatus:
    """A perp's newest settled funding the journal holds and the settlement after it.

    ``rate`` per interval (fraction; positive: longs pay), ``rate_per_hour`` normalized,
    ``next_funding_in_s`` from the status clock.
    """

    rate: float
    interval_s: int
    rate_per_hour: float
    ts_funding_ms: int
    next_funding_ms: int
    next_funding_in_s: float


@dataclass(frozen=True, slots=True)
class LegStatus:
    """One open leg: signed size (base units), average entry and mark (USD per unit), the
    mark's time and source, notional and unrealized P&L at that mark and funding booked since
    it opened (USD)."""

    instrument: str
    venue: str
    kind: str
    qty: Decimal
    avg_entry_usd: Decimal
    mark_usd: Decimal
    mark_ts_ms: int
    mark_source: str
    notional_usd: Decimal
    unrealized_pnl_usd: Decimal
    funding_usd: Decimal
    opened_ms: int
    funding: FundingStatus | None


@dataclass(frozen=True, slots=True)
class PairStatus:
    """The legs one strategy holds from one pair intent, with their sums (USD)."""

    strategy: str
    intent_id: str
    legs: tuple[LegStatus, ...]
    net_notional_usd: Decimal
    unrealized_pnl_usd: Decimal
    funding_usd: Decimal


@dataclass(frozen=True, slots=True)
class DrawdownStatus:
    """Loss from ``reference_equity_usd`` (day-open equity or high-water mark) as a fraction,
    its breaker limit and the headroom left (``limit − value``; None without limits)."""

    value_frac: float
    limit_frac: float | None
    headroom_frac: float | None
    reference_equity_usd: Decimal


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A breaker (or the position-mismatch halt) in effect: limit and value, when tripped."""

    rule: str
    limit_frac: float
    value_frac: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class RiskStatus:
    """Breakers in effect (``halted``: opening blocked), drawdowns, where the references came
    from (``checkpoint`` or ``snapshots``)."""

    halted: bool
    breakers: tuple[BreakerStatus, ...]
    daily_drawdown: DrawdownStatus
    total_drawdown: DrawdownStatus
    source: str


@dataclass(frozen=True, slots=True)
class KillSwitchStatus:
    """The latest ``zerobeta halt`` / ``resume`` written to the journal
    (:class:`agent.journal.halt.HaltRecord`): ``halted`` while a halt is in force (it survives
    restarts until a resume), its ``mode`` (``reduce_only`` or ``flatten``; ``""`` after a
    resume), when (epoch ms UTC, wall clock of the command) and by whom (user, pid, host)."""

    halted: bool
    mode: str
    at_ms: int
    by: str


@dataclass(frozen=True, slots=True)
class OrdersStatus:
    """Order counts (see :class:`agent.control.journal_view.OrderCounts`)."""

    sent: int
    rejected: int
    unresolved: int
    risk_rejections: int


@dataclass(frozen=True, slots=True)
class PnlStatus:
    """P&L by stream (USD): whole run and today (from ``day_start_ms``), per strategy too."""

    day_start_ms: int
    total: Mapping[str, Decimal]
    today: Mapping[str, Decimal]
    by_strategy: Mapping[str, Mapping[str, Mapping[str, Decimal]]]


@dataclass(frozen=True, slots=True)
class ExposureStatus:
    """Portfolio net delta and gross notional (USD) at the newest snapshot."""

    net_delta_usd: Decimal
    gross_notional_usd: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class LegLiquidationStatus:
    """A held perp's distance to liquidation at the checkpoint's step: the venue's net position
    (base units), mark and liquidation price (USD per unit; None: the venue reports none), the
    distance ``|mark − liquidation| / mark`` and whether it is low (opening more refused)."""

    instrument: str
    qty: Decimal
    mark_usd: Decimal
    liquidation_price_usd: Decimal | None
    distance_frac: float | None
    low: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class SafetyStatus:
    """The safety guard at the checkpoint's step (``ts_ms``): venues held unhealthy,
    instruments near liquidation, each held perp's distance."""

    ts_ms: int
    unhealthy_venues: tuple[str, ...]
    low_instruments: tuple[str, ...]
    legs: tuple[LegLiquidationStatus, ...]


@dataclass(frozen=True)
class Status:
    """A run's state from its journal (module docstring); ``live`` is filled by the running
    agent's endpoint, None otherwise (``live_error`` then says why)."""

    journal: str
    mode: str
    source: str
    finished: bool
    clock: str
    now_ms: int
    first_ms: int | None
    last_ms: int | None
    span_s: float
    venues: tuple[str, ...]
    strategies: tuple[str, ...]
    initial_equity_usd: Decimal | None
    equity_usd: Decimal | None
    equity_ts_ms: int | None
    pnl: PnlStatus
    exposure: ExposureStatus | None
    positions: tuple[PairStatus, ...]
    risk: RiskStatus | None
    kill_switch: KillSwitchStatus | None
    orders: OrdersStatus
    last_step_ms: int | None
    last_step_age_s: float | None
    status_version: int = STATUS_VERSION
    live: Mapping[str, Any] | None = field(default=None)
    live_error: str | None = None
    safety: SafetyStatus | None = None


def read_status(path: Path, *, limits: RiskLimits | None, wall_ms: int | None) -> Status:
    """The status of the journal at ``path`` (read-only; see the module docstring).

    Parameters
    ----------
    path : Path
    limits : RiskLimits | None
        The run's drawdown limits, for the headroom; None leaves them out.
    wall_ms : int | None
        Wall time, epoch ms UTC: the status clock of a run on live data.

    Raises
    ------
    JournalError
        If the journal cannot be opened or read, or its fills cannot be booked.
    """
    return build_status(read_facts(path, wall_ms), limits)


def build_status(facts: JournalFacts, limits: RiskLimits | None) -> Status:
    """Turn a journal's facts into a :class:`Status`.

    Raises
    ------
    JournalError
        If the journaled fills and payments cannot be booked into a ledger.
    """
    latest = facts.latest
    last_step_ms = _last_step_ms(facts)
    return Status(
        journal=facts.path,
        mode=facts.meta.get("mode", ""),
        source=facts.meta.get("source", ""),
        finished=facts.finished,
        clock=facts.clock,
        now_ms=facts.now_ms,
        first_ms=facts.first_ms,
        last_ms=facts.last_ms,
        span_s=_span_s(facts),
        venues=_venues(facts),
        strategies=tuple(s for s in facts.meta.get("strategies", "").split(",") if s),
        initial_equity_usd=_initial_equity(facts),
        equity_usd=None if latest is None else latest.equity_usd,
        equity_ts_ms=None if latest is None else latest.ts_ms,
        pnl=_pnl(facts),
        exposure=None
        if latest is None
        else ExposureStatus(latest.net_delta_usd, latest.gross_notional_usd, latest.ts_ms),
        positions=_positions(facts),
        risk=_risk(facts, limits),
        kill_switch=_kill_switch(facts),
        orders=OrdersStatus(
            facts.orders.sent,
            facts.orders.rejected,
            facts.orders.unresolved,
            facts.orders.risk_rejections,
        ),
        last_step_ms=last_step_ms,
        last_step_age_s=None if last_step_ms is None else (facts.now_ms - last_step_ms) / 1000,
        safety=_safety(facts.checkpoint),
    )


# ---- parts -------------------------------------------------------------------------------


def _span_s(facts: JournalFacts) -> float:
    if facts.first_ms is None or facts.last_ms is None:
        return 0.0
    return (facts.last_ms - facts.first_ms) / 1000


def _venues(facts: JournalFacts) -> tuple[str, ...]:
    names = {v for v in facts.initial_cash_usd if v != RESERVE}
    names |= {leg.instrument.venue for leg in facts.legs}
    return tuple(sorted(names))


def _initial_equity(facts: JournalFacts) -> Decimal | None:
    if facts.latest is not None:
        return facts.latest.initial_equity_usd
    text = facts.meta.get("initial_equity_usd")
    return None if text is None else Decimal(text)


def _last_step_ms(facts: JournalFacts) -> int | None:
    checkpoint = facts.checkpoint or {}
    step = checkpoint.get("last_step_ms")
    if isinstance(step, int):
        return step
    return None if facts.latest is None else facts.latest.ts_ms


def _streams(values: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {STREAM_KEYS[c]: values.get(c, Decimal(0)) for c in STREAMS}


def _difference(now: Mapping[str, Decimal], then: Mapping[str, Decimal]) -> dict[str, Decimal]:
    with ledger_context():
        return {STREAM_KEYS[c]: now.get(c, Decimal(0)) - then.get(c, Decimal(0)) for c in STREAMS}


def _pnl(facts: JournalFacts) -> PnlStatus:
    """Whole-run and today's streams; "today" starts from the newest snapshot at or before
    00:00 UTC, or from zero P&L when the run began today."""
    zero: dict[str, Decimal] = {}
    latest = facts.latest.streams if facts.latest is not None else zero
    day_open = facts.day_open.streams if facts.day_open is not None else zero
    by_strategy = {
        name: {
            "total": _streams(streams),
            "today": _difference(streams, facts.strategy_day_open.get(name, zero)),
        }
        for name, streams in sorted(facts.strategy_latest.items())
    }
    return PnlStatus(
        facts.day_start_ms, _streams(latest), _difference(latest, day_open), by_strategy
    )


def _ledger(facts: JournalFacts) -> Portfolio:
    """The ledger rebuilt from the journaled events (the same accounting that booked them)."""
    cash = dict(facts.initial_cash_usd)
    for leg in facts.legs:
        cash.setdefault(leg.instrument.venue, Decimal(0))
    if not cash:
        cash[RESERVE] = Decimal(0)
    try:
        return Portfolio.replay(cash, facts.events)
    except (ValueError, ArithmeticError) as err:
        raise JournalError(f"cannot rebuild the ledger: {err}", path=facts.path) from err


def _positions(facts: JournalFacts) -> tuple[PairStatus, ...]:
    if not facts.legs:
        return ()
    ledger = _ledger(facts)
    groups: dict[tuple[str, str], list[LegStatus]] = {}
    for leg in facts.legs:
        groups.setdefault((leg.strategy, leg.intent_id), []).append(_leg(facts, ledger, leg))
    pairs = []
    with ledger_context():
        for (strategy, intent_id), legs in sorted(groups.items()):
            pairs.append(
                PairStatus(
                    strategy,
                    intent_id,
                    tuple(legs),
                    sum((g.notional_usd for g in legs), Decimal(0)),
                    sum((g.unrealized_pnl_usd for g in legs), Decimal(0)),
                    sum((g.funding_usd for g in legs), Decimal(0)),
                )
            )
    return tuple(pairs)


def _leg(facts: JournalFacts, ledger: Portfolio, leg: OpenLeg) -> LegStatus:
    iid = leg.instrument
    seen = facts.prices[iid]  # a leg has fills, so the journal has a price for it
    avg = ledger.avg_cost(leg.strategy, iid)
    with ledger_context():
        entry = avg if avg is not None else seen.price
        notional = leg.qty * seen.price
        unrealized = leg.qty * (seen.price - entry)
    funding = facts.funding.get(iid) if iid.kind is InstrumentKind.PERP else None
    return LegStatus(
        instrument=str(iid),
        venue=iid.venue,
        kind=iid.kind.value,
        qty=leg.qty,
        avg_entry_usd=entry,
        mark_usd=seen.price,
        mark_ts_ms=seen.ts_ms,
        mark_source=seen.source,
        notional_usd=notional,
        unrealized_pnl_usd=unrealized,
        funding_usd=leg.funding_usd,
        opened_ms=leg.opened_ms,
        funding=None if funding is None else funding_status(funding, facts.now_ms),
    )


def funding_status(latest: LatestFunding, now_ms: int) -> FundingStatus:
    """``latest`` with the first settlement after ``now_ms`` (every ``interval_s`` from it)."""
    step_ms = max(latest.interval_s, 1) * 1000
    next_ms = latest.ts_funding_ms + step_ms
    if next_ms <= now_ms:
        next_ms += (now_ms - next_ms) // step_ms * step_ms + step_ms
    return FundingStatus(
        rate=latest.rate,
        interval_s=latest.interval_s,
        rate_per_hour=funding_rate_per_hour(latest.rate, max(latest.interval_s, 1)),
        ts_funding_ms=latest.ts_funding_ms,
        next_funding_ms=next_ms,
        next_funding_in_s=(next_ms - now_ms) / 1000,
    )


# ---- risk --------------------------------------------------------------------------------


def _kill_switch(facts: JournalFacts) -> KillSwitchStatus | None:
    """The latest halt or resume record; None if the journal has none (or only a malformed
    one, which the running agent refuses the same way)."""
    text = facts.meta.get(HALT_KEY)
    if text is None:
        return None
    try:
        record = HaltRecord.from_json(text)
    except ValueError:
        return None
    by = f"{record.user or '?'}, pid {record.pid} on host {record.host or '?'}"
    return KillSwitchStatus(record.halted, record.mode, record.at_ms, by)


def _risk(facts: JournalFacts, limits: RiskLimits | None) -> RiskStatus | None:
    """Breakers and drawdowns: the checkpoint's risk state when it is of today, else derived
    from the snapshots and the breaker events."""
    latest = facts.latest
    if latest is None:
        return None
    equity = latest.equity_usd
    state = (facts.checkpoint or {}).get("risk")
    today = facts.day_start_ms // DAY_MS
    if isinstance(state, Mapping) and state.get("day_index") == today:
        day_open = Decimal(repr(float(state["day_open_equity_usd"])))
        peak = Decimal(repr(float(state["peak_equity_usd"])))
        breakers = _checkpoint_breakers(state.get("tripped", {}))
        source = "checkpoint"
    else:
        day_open = (
            latest.initial_equity_usd if facts.day_open is None else facts.day_open.equity_usd
        )
        peak = max(facts.peak_equity_usd or equity, equity)
        breakers = _event_breakers(facts, today)
        source = "snapshots"
    daily_limit = None if limits is None else limits.daily_drawdown_frac
    total_limit = None if limits is None else limits.total_drawdown_frac
    return RiskStatus(
        halted=bool(breakers),
        breakers=breakers,
        daily_drawdown=_drawdown(equity, day_open, daily_limit),
        total_drawdown=_drawdown(equity, peak, total_limit),
        source=source,
    )


def _checkpoint_breakers(tripped: Any) -> tuple[BreakerStatus, ...]:
    if not isinstance(tripped, Mapping):
        return ()
    return tuple(
        BreakerStatus(str(rule), float(v[0]), float(v[1]), int(v[2]))
        for rule, v in sorted(tripped.items())
        if isinstance(v, Sequence) and len(v) == 3
    )


def _event_breakers(facts: JournalFacts, today: int) -> tuple[BreakerStatus, ...]:
    """The total breaker stays tripped; the daily one only on the day it tripped."""
    tripped: dict[str, BreakerStatus] = {}
    for row in facts.breakers:
        if row.rule == "daily_drawdown" and row.ts_ms // DAY_MS != today:
            continue
        tripped.setdefault(
            row.rule, BreakerStatus(row.rule, row.limit_frac, row.value_frac, row.ts_ms)
        )
    return tuple(tripped[r] for r in sorted(tripped))


def _drawdown(equity: Decimal, reference: Decimal, limit: float | None) -> DrawdownStatus:
    value = 1.0 - float(equity / reference) if reference > 0 else 0.0
    headroom = None if limit is None else limit - value
    return DrawdownStatus(value, limit, headroom, reference)


# ---- safety -------------------------------------------------------------------------------


def _safety(checkpoint: Mapping[str, Any] | None) -> SafetyStatus | None:
    """The checkpoint's ``safety`` part (:meth:`agent.engine.safety.SafetyGuard.state`); None
    without one or when it cannot be read (a checkpoint of another release)."""
    part = (checkpoint or {}).get("safety")
    if not isinstance(part, Mapping):
        return None
    try:
        venues = tuple(sorted(str(v) for v in part["venue_health"]["unhealthy_venues"]))
        liquidation = part["liquidation"]
        low = tuple(sorted(str(i) for i in liquidation["low_instruments"]))
        rows = liquidation["legs"].items()
        legs = tuple(_leg_liquidation(str(i), row, i in low) for i, row in rows)
        ts_ms = int((checkpoint or {})["last_step_ms"])
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
        return None
    return SafetyStatus(ts_ms, venues, low, tuple(sorted(legs, key=lambda leg: leg.instrument)))


def _leg_liquidation(instrument: str, row: Sequence[Any], low: bool) -> LegLiquidationStatus:
    qty, mark, liquidation, distance, ts_ms = row
    return LegLiquidationStatus(
        instrument=instrument,
        qty=Decimal(qty),
        mark_usd=Decimal(mark),
        liquidation_price_usd=None if liquidation is None else Decimal(liquidation),
        distance_frac=None if distance is None else float(distance),
        low=low,
        ts_ms=int(ts_ms),
    )


# ---- JSON --------------------------------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """Exact fixed-point text of ``value`` without trailing zeros (``"-0"`` becomes ``"0"``)."""
    if value == 0:
        return "0"
    with ledger_context():  # normalize() rounds to the context's precision
        return format(value.normalize(), "f")


def jsonable(value: object) -> object:
    """Decimal → exact text, non-finite float → None, dataclass/Mapping → dict (keys as
    str), tuple/list → list; everything else unchanged."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value


def status_to_dict(status: Status) -> dict[str, Any]:
    """The JSON object of ``status`` (keys as the :class:`Status` fields; module docstring):
    serializable with ``json.dumps(..., allow_nan=False)``."""
    result = jsonable(status)
    assert isinstance(result, dict)  # a dataclass always maps to a dict
    return result
