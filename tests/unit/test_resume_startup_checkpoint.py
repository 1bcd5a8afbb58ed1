"""A resumed live start commits the late fills it books together with a checkpoint listing the
reverses they leave owed (``agent.engine.engine.Engine.reconcile_at_start``).

Found by the chaos harness: a run killed between sending an order and booking its answer is
restarted; the start looks the order up, books its late fill and owes its reverse — and is
killed again before its first step. The next start found the order final in the journal (no
longer unanswered) and a checkpoint without the owed reverse, so nothing sent it and the pair
stayed one-legged until the strategy's next cycle. The Deribit fake of ``tests/fakes/
deribit.py`` and a real SQLite journal; no network."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AsyncExitStack, closing
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.engine.resume import RESUME_KEY
from agent.execution.plan import client_order_id
from strategies.base import PairIntent, TargetPosition
from tests.fakes.deribit import INVERSE, DeribitFake
from tests.unit.test_deribit_live_resume import INDEX_USD, PERP, _config, _engine, _hedger, _venue
from venues.model import HOUR_MS, OrderRequest, Side

D = Decimal


def _checkpoint(path: Path) -> dict[str, Any]:
    """The resume checkpoint as committed (another connection sees committed rows only)."""
    with closing(sqlite3.connect(path)) as db:
        sql = "SELECT value FROM run_meta WHERE key = ? ORDER BY id DESC LIMIT 1"  # latest wins
        (raw,) = db.execute(sql, (RESUME_KEY,)).fetchone()
    return dict(json.loads(raw))


async def test_the_reverse_owed_at_start_up_is_committed_with_the_late_fill(
    tmp_path: Path,
) -> None:
    fake = DeribitFake()
    fake.seed_price(INVERSE, D(INDEX_USD))
    start_ms = fake.now_ms // HOUR_MS * HOUR_MS
    path = tmp_path / "live.sqlite"
    cfg = _config(path)

    # --- the killed run: its first checkpoint, then an intent and its order written ahead and
    # sent; the venue fills it, the answer is never booked
    hedger = _hedger()
    venue = _venue(fake)
    await venue.open()
    request = OrderRequest(client_order_id(hedger.name, "i-cut", "0", 0), PERP, Side.BUY, D("0.01"))
    async with AsyncExitStack() as stack:
        engine = await _engine(cfg, hedger, venue, stack, start_ms - 3 * HOUR_MS)
        engine.checkpoint_start()
        intent = PairIntent("i-cut", (TargetPosition(PERP, 0.01),), "enter", True)
        engine.journal.record_intent(start_ms, hedger.name, intent)
        engine.journal.record_order_request(start_ms, hedger.name, "i-cut", "0", 0, request)
        await venue.place_order(request)
    await venue.close()
    assert _checkpoint(path)["unresolved_orders"] == []

    # --- the restart looks it up and books the late fill; killed right after start-up, the
    # journal must say what is owed
    venue = _venue(fake)
    await venue.open()
    async with AsyncExitStack() as stack:
        engine = await _engine(cfg, _hedger(), venue, stack, start_ms - 2 * HOUR_MS)
        await engine.reconcile_at_start(start_ms + HOUR_MS)
        owed = _checkpoint(path)["unresolved_orders"]
        with closing(sqlite3.connect(path)) as db:
            fills = db.execute(
                "SELECT side, qty FROM fills WHERE client_order_id = ?",
                (request.client_order_id,),
            ).fetchall()
    await venue.close()
    assert [(side, D(qty)) for side, qty in fills] == [("buy", D("0.01"))]
    # a late fill of an opening leg is reversed: 0.01 BTC to sell, reduce-only
    assert [(o["client_order_id"], D(o["reverse_qty"])) for o in owed] == [
        (request.client_order_id, D("-0.01"))
    ]
