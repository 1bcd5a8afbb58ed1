"""The journal readers the summary's ledger replay and statistics read equal the straightforward
decoding, value for value (the summary's figures are computed from them):

- :class:`agent.journal.journal.InstrumentIds` (each instrument text parsed once per read)
  against ``InstrumentId.parse`` of every row's text;
- :meth:`Journal.iter_fills` and :meth:`Journal.iter_funding_payments` against the former
  row-by-row decoding, kept here;
- :meth:`Journal.equity_curve` against the same columns of :meth:`Journal.equity_series`;
- :func:`agent.reporting.report.build_summary` against the summary built from the former feed
  (``equity_series``) on a random run's journal.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.journal.journal import (
    FILLS_IN_BOOKING_ORDER_SQL,
    FUNDING_IN_BOOKING_ORDER_SQL,
    EquityMark,
    InstrumentIds,
    Journal,
    JournalFill,
    JournalFunding,
)
from agent.portfolio.ledger import Portfolio
from agent.reporting.report import build_summary
from agent.reporting.summary import format_summary, summary_to_dict
from venues.model import (
    Fill,
    FundingPayment,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    Side,
)

IDS = [
    InstrumentId(venue, kind, symbol)
    for venue in ("binance", "bybit")
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for symbol in ("BTCUSDT", "ETHUSDT")
]
CASH = {"binance": D(50_000), "bybit": D(30_000), "reserve": D(20_000)}
STRATEGIES = ("carry", "stat_arb", "hedger")

_PART = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=4)


@given(
    st.lists(
        st.tuples(_PART, st.sampled_from(list(InstrumentKind)), _PART), min_size=1, max_size=30
    )
)
def test_instrument_ids_are_parse_of_each_text(
    parts: list[tuple[str, InstrumentKind, str]],
) -> None:
    ids = InstrumentIds()
    for venue, kind, symbol in parts:
        text = f"{venue}:{kind.value}:{symbol}"
        iid = ids[text]
        expected = InstrumentId.parse(text)
        assert type(iid) is InstrumentId
        assert (iid, iid.venue, iid.kind, iid.symbol) == (expected, venue, kind, symbol)
    assert set(ids) == {f"{v}:{k.value}:{s}" for v, k, s in parts}


@pytest.mark.parametrize("text", ["binance:perp", "binance:future:BTCUSDT", "::", "a:perp:b:c"])
def test_instrument_ids_refuse_what_parse_refuses(text: str) -> None:
    ids = InstrumentIds()
    with pytest.raises(ValueError, match=r"instrument id|future"):
        ids[text]
    assert not ids


def _former_fill(row: Any) -> JournalFill:
    """The decoding ``Journal.iter_fills`` did before the instrument ids were shared."""
    fill = Fill(
        instrument_id=InstrumentId.parse(row[6]),
        client_order_id=row[3],
        venue_order_id=row[4],
        trade_id=row[5],
        side=Side(row[7]),
        qty=D(row[8]),
        price=D(row[9]),
        fee_usd=D(row[10]),
        liquidity=Liquidity(row[12]),
        ts_event_ms=row[13],
        reference_price=None if row[11] is None else D(row[11]),
    )
    return JournalFill(row[0], row[1], row[2], fill)


def _former_funding(row: Any) -> JournalFunding:
    """The decoding ``Journal.iter_funding_payments`` did before the ids were shared."""
    payment = FundingPayment(
        InstrumentId.parse(row[2]), row[3], row[4], row[5], D(row[6]), D(row[7]), D(row[8])
    )
    return JournalFunding(row[0], row[1], payment)


def _price(rng: random.Random, iid: InstrumentId) -> D:
    """Within ±20 % of the instrument's level, 2 to 4 decimals (quote units)."""
    level = 60_000 if iid.symbol == "BTCUSDT" else 3_000
    return (
        D(round(level * rng.uniform(0.8, 1.2) * 10_000))
        .scaleb(-4)
        .quantize(D(1).scaleb(-rng.randint(2, 4)))
    )


def _fill(rng: random.Random, n: int, iid: InstrumentId) -> Fill:
    price = _price(rng, iid)
    reference = None if rng.random() < 0.2 else price + D(rng.randint(-50, 50)).scaleb(-2)
    return Fill(
        instrument_id=iid,
        client_order_id=f"c{n}",
        venue_order_id=f"v{n}",
        trade_id=f"t{n}",
        side=rng.choice(list(Side)),
        qty=D(rng.randint(1, 10**4)).scaleb(-rng.randint(5, 7)),
        price=price,
        fee_usd=D(rng.randint(-100, 10_000)).scaleb(-rng.randint(2, 8)),
        liquidity=rng.choice(list(Liquidity)),
        ts_event_ms=1_000 * n,
        reference_price=reference,
    )


def _payment(rng: random.Random, portfolio: Portfolio, ts_ms: int) -> FundingPayment:
    iid = rng.choice([i for i in IDS if i.kind is InstrumentKind.PERP])
    rate = rng.choice([0.0001, -0.00025, 1.3e-5, 0.0, -0.0, rng.uniform(-0.003, 0.003)])
    held = sum(portfolio.holders(iid).values(), D(0))
    mark = _price(rng, iid)
    amount = D(repr(-rate)) * held * mark + D(rng.randint(-5, 5)).scaleb(-rng.randint(2, 9))
    return FundingPayment(iid, ts_ms, rate, 28_800, held, mark, amount)


def _write_run(path: Path, seed: int) -> None:
    """A random run's journal, as the engine writes it: fills (on two instruments at least),
    funding payments (some the ledger cannot fully attribute), marks, equity snapshots (one
    written after a later one at times: a resumed run), run metadata and final marks."""
    rng = random.Random(seed)
    portfolio = Portfolio(CASH)
    t0_ms = 1_700_000_000_000
    with Journal.open(path) as journal:
        cash_json = json.dumps({k: str(v) for k, v in CASH.items()})
        journal.record_meta({"initial_cash_json": cash_json, "window_first_ms": str(t0_ms)})
        snapshots = [t0_ms + 6 * 3_600_000 * step for step in range(rng.randint(2, 40))]
        if len(snapshots) > 3 and rng.random() < 0.5:
            snapshots[-2], snapshots[-3] = snapshots[-3], snapshots[-2]
        for j, iid in enumerate(rng.sample(IDS, 2)):  # two instruments at least: ids shared
            fill = _fill(rng, 100_000 + j, iid)
            strategy = rng.choice(STRATEGIES)
            portfolio.apply_fill(strategy, fill, iid.kind)
            journal.record_fill(snapshots[0], strategy, fill)
        for n, ts_ms in enumerate(snapshots):
            for k in range(rng.randint(0, 3)):
                if rng.random() < 0.6:
                    fill = _fill(rng, 10 * n + k, rng.choice(IDS))
                    strategy = rng.choice(STRATEGIES)
                    portfolio.apply_fill(strategy, fill, fill.instrument_id.kind)
                    journal.record_fill(ts_ms, strategy, fill)
                else:
                    pay = _payment(rng, portfolio, ts_ms)
                    journal.record_funding(ts_ms, pay, portfolio.apply_funding(pay))
            marks = {i: _price(rng, i) for i in rng.sample(IDS, 3)}
            portfolio.mark(marks)
            btc = rng.uniform(20_000, 90_000)
            journal.record_equity_snapshot(ts_ms, portfolio, btc)
        final = {i: _price(rng, i) for i in IDS}
        portfolio.mark(final)
        journal.record_equity_snapshot(snapshots[-1], portfolio, 60_000.0)
        final_json = json.dumps({str(k): str(v) for k, v in final.items()}, sort_keys=True)
        journal.record_meta({"window_last_ms": str(snapshots[-1]), "final_marks_json": final_json})


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_readers_and_summary_equal_the_former_decoding(seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.sqlite"
        _write_run(path, seed)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            fill_rows = conn.execute(FILLS_IN_BOOKING_ORDER_SQL).fetchall()
            funding_rows = conn.execute(FUNDING_IN_BOOKING_ORDER_SQL).fetchall()
        assert len({r[6] for r in fill_rows} | {r[2] for r in funding_rows}) > 1 or not fill_rows
        with Journal.open(path) as journal:
            assert list(journal.iter_fills()) == [_former_fill(r) for r in fill_rows]
            payments = list(journal.iter_funding_payments())
            assert payments == [_former_funding(r) for r in funding_rows]
            series = journal.equity_series()
            curve = journal.equity_curve()
            assert curve == [EquityMark(p.ts_ms, p.equity_usd, p.btc_price) for p in series]
            # digit for digit: same exponents too (the ledger check compares Decimals)
            assert [str(m.equity_usd) for m in curve] == [str(p.equity_usd) for p in series]
        summary = build_summary(path)
        with pytest.MonkeyPatch.context() as patch:  # the summary fed as before: equity_series
            patch.setattr(Journal, "equity_curve", _curve_from_series)
            former = build_summary(path)
    assert summary_to_dict(summary) == summary_to_dict(former)
    assert format_summary(summary) == format_summary(former)
    assert summary == former


def _curve_from_series(journal: Journal) -> list[EquityMark]:
    return [EquityMark(p.ts_ms, p.equity_usd, p.btc_price) for p in journal.equity_series()]


def test_the_equity_curve_is_the_series_columns_in_row_order() -> None:
    """Rows in the order written (a resumed run's step before its killed run's tick), a
    snapshot without a BTC price, equities of different exponents."""
    with Journal.open(":memory:") as journal:
        portfolio = Portfolio({"binance": D("1000.50")})
        for ts_ms, btc in ((3_000, 50_000.5), (2_000, None), (4_000, 51_000.0)):
            journal.record_equity_snapshot(ts_ms, portfolio, btc)
            fill = Fill(IDS[0], f"c{ts_ms}", "v", f"t{ts_ms}", Side.BUY, D("0.010"), D("100.25"),
                        D("0.0001"), Liquidity.TAKER, ts_ms)  # fmt: skip
            portfolio.apply_fill("carry", fill, InstrumentKind.PERP)
        curve = journal.equity_curve()
        assert curve == [
            EquityMark(3_000, D("1000.50"), 50_000.5),
            EquityMark(2_000, D("1000.4999"), None),  # the 0.0001 USD fee
            EquityMark(4_000, D("1000.4998"), 51_000.0),
        ]
        assert curve == _curve_from_series(journal)
        assert [str(m.equity_usd) for m in curve] == ["1000.50", "1000.49990", "1000.49980"]
