"""Orders and account state of the OKX fake (``tests/fakes/okx.py``), in OKX's payload shapes.

Orders by ``clOrdId`` (a known id → ``sCode 51016``), market orders filled at the seeded
price, SWAP positions in contracts, fills, funding bills (``type 8``), a USDT balance, account
level / position mode / leverage. Every answer copies a recorded fixture row of
``tests/fixtures/okx-v5/`` as template.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parent.parent / "fixtures" / "okx-v5"
NOW_MS = 1_700_000_000_000


def load(name: str) -> Any:
    """A fixture of ``tests/fixtures/okx-v5/``, decoded."""
    return json.loads((FIXTURES / name).read_text())


def _template(name: str) -> dict[str, Any]:
    return dict(load(name)["data"][0])


def ok(rows: list[Any]) -> httpx.Response:
    """A success envelope ``{"code": "0", "msg": "", "data": rows}``."""
    return httpx.Response(200, json={"code": "0", "msg": "", "data": rows})


def error(code: str, status: int = 200, **headers: str) -> httpx.Response:
    """An error envelope with the documented message of ``errors.json`` when recorded."""
    recorded = {e["code"]: e for e in load("errors.json") if e["code"] not in ("1", "2")}
    body = recorded.get(code, {"code": code, "msg": f"error {code}", "data": []})
    return httpx.Response(status, json=body, headers=headers)


def item_failure(cl_ord_id: str, s_code: str, s_msg: str) -> httpx.Response:
    """``code "1"`` "All operations failed" with the item's ``sCode``/``sMsg``."""
    item = {"clOrdId": cl_ord_id, "ordId": "", "tag": "", "ts": str(NOW_MS), "sCode": s_code}
    item["sMsg"] = s_msg
    body = {"code": "1", "msg": "All operations failed", "data": [item]}
    return httpx.Response(200, json=body)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def param(request: httpx.Request, key: str, default: str = "") -> str:
    """Query parameter ``key`` of ``request``."""
    return request.url.params.get(key, default)


class OkxAccount:
    """The private side of the fake; ``prices`` and ``instruments`` are the market's dicts."""

    def __init__(
        self,
        instruments: dict[str, dict[str, Any]],
        prices: dict[str, Decimal],
        now_ms: Callable[[], int],
    ) -> None:
        self.instruments = instruments
        self.prices = prices
        self._now = now_ms
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: dict[str, list[dict[str, Any]]] = {}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # instId → (contracts, avgPx)
        self.bills: list[dict[str, Any]] = []
        self.cash_usdt = Decimal("10000")
        self.account_level = "2"
        self.pos_mode = "long_short_mode"
        self.leverage: dict[str, str] = {}
        self._next_id = 1

    def book_funding(self, inst_id: str, ts: int, rate: Decimal) -> None:
        """Funding bill of the position in ``inst_id`` settled at ``ts`` (none when flat):
        ``pnl = −rate × contracts × ctVal × mark``."""
        contracts, _ = self.positions.get(inst_id, (Decimal(0), Decimal(0)))
        if contracts:
            self._book_funding(inst_id, ts, rate, contracts)

    def _book_funding(self, inst_id: str, ts: int, rate: Decimal, contracts: Decimal) -> None:
        base_qty = contracts * Decimal(self.instruments[inst_id]["ctVal"])
        pnl = -rate * base_qty * self.prices[inst_id]
        bill = _template("bills.json")
        bill.update(
            billId=str(900_000 + len(self.bills)),
            type="8",
            subType="174" if pnl > 0 else "173",
            ts=str(ts),
            fillTime=str(ts),
            instId=inst_id,
            instType="SWAP",
            ccy="USDT",
            sz=_text(abs(contracts)),
            px=_text(self.prices[inst_id]),
            pnl=_text(pnl),
            balChg=_text(pnl),
            fee="0",
            ordId="",
            tradeId="",
            execType="",
            mgnMode="cross",
        )
        self.bills.append(bill)
        self.cash_usdt += pnl

    # --- handlers: orders -----------------------------------------------------------------

    def on_place(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        cl_ord_id, inst_id = body["clOrdId"], body["instId"]
        if cl_ord_id in self.orders:
            return item_failure(cl_ord_id, "51016", "Client order ID already exists.")
        inst = self.instruments[inst_id]
        sz = Decimal(body["sz"])
        if sz < Decimal(inst["minSz"]):
            msg = "Your order should meet or exceed the minimum order amount."
            return item_failure(cl_ord_id, "51020", msg)
        if sz % Decimal(inst["lotSz"]):
            msg = "Order quantity must be a multiple of the lot size."
            return item_failure(cl_ord_id, "51121", msg)
        ord_id = str(312_269_865_356_374_016 + self._next_id)
        self._next_id += 1
        row = _template("order_details.json")
        row.update(
            instId=inst_id,
            instType=inst["instType"],
            ordId=ord_id,
            clOrdId=cl_ord_id,
            side=body["side"],
            ordType=body["ordType"],
            sz=body["sz"],
            px=body.get("px", ""),
            tdMode=body["tdMode"],
            tgtCcy=body.get("tgtCcy", ""),
            state="live",
            accFillSz="0",
            avgPx="",
            fillPx="",
            fillSz="0",
            tradeId="",
            fee="0",
            feeCcy="USDT",
            cTime=str(self._now()),
            uTime=str(self._now()),
        )
        self.orders[cl_ord_id] = row
        self.fills[ord_id] = []
        if body["ordType"] == "market":
            self._fill(row, sz, self.prices[inst_id])
        ack = _template("place_order.json")
        ack.update(clOrdId=cl_ord_id, ordId=ord_id, ts=str(self._now()), sMsg="Order placed")
        return ok([ack])

    def _fill(self, row: dict[str, Any], sz: Decimal, price: Decimal) -> None:
        inst = self.instruments[row["instId"]]
        is_swap = inst["instType"] == "SWAP"
        base_qty = sz * Decimal(inst["ctVal"]) if is_swap else sz
        fee = -(base_qty * price * Decimal("0.0005"))
        trade_id = str(744_876_980 + self._next_id)
        self._next_id += 1
        row.update(
            state="filled",
            accFillSz=_text(sz),
            avgPx=_text(price),
            fillPx=_text(price),
            fillSz=_text(sz),
            tradeId=trade_id,
            fee=_text(fee),
            feeCcy="USDT",
            fillTime=str(self._now()),
            uTime=str(self._now()),
        )
        self.fills[row["ordId"]].append(
            {
                "instType": inst["instType"],
                "instId": row["instId"],
                "tradeId": trade_id,
                "ordId": row["ordId"],
                "clOrdId": row["clOrdId"],
                "billId": trade_id,
                "tag": "",
                "fillPx": _text(price),
                "fillSz": _text(sz),
                "side": row["side"],
                "posSide": "net",
                "execType": "T",
                "feeCcy": "USDT",
                "fee": _text(fee),
                "ts": str(self._now()),
                "fillTime": str(self._now()),
            }
        )
        self.cash_usdt += fee
        if is_swap:
            signed = sz if row["side"] == "buy" else -sz
            old, avg = self.positions.get(row["instId"], (Decimal(0), Decimal(0)))
            new = old + signed
            avg = price if old == 0 or (old > 0) != (signed > 0) else avg
            self.positions[row["instId"]] = (new, avg)

    def on_order(self, request: httpx.Request) -> httpx.Response:
        row = self.orders.get(param(request, "clOrdId"))
        if row is None or row["instId"] != param(request, "instId"):
            return error("51603")
        return ok([copy.deepcopy(row)])

    def on_cancel(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        row = self.orders.get(body["clOrdId"])
        if row is None or row["state"] not in ("live", "partially_filled"):
            msg = "Order cancellation failed as the order has been filled or canceled"
            return item_failure(body["clOrdId"], "51400", msg)
        row.update(state="canceled", uTime=str(self._now()))
        ack = _template("cancel_order.json")
        ack.update(clOrdId=row["clOrdId"], ordId=row["ordId"], ts=str(self._now()))
        return ok([ack])

    def on_pending(self, request: httpx.Request) -> httpx.Response:
        live = [r for r in self.orders.values() if r["state"] in ("live", "partially_filled")]
        return ok(copy.deepcopy(live))

    def on_fills(self, request: httpx.Request) -> httpx.Response:
        return ok(list(self.fills.get(param(request, "ordId"), [])))

    # --- account --------------------------------------------------------------------------

    def on_positions(self, request: httpx.Request) -> httpx.Response:
        rows = []
        for inst_id, (contracts, avg) in self.positions.items():
            row = _template("positions.json")
            row.update(
                instId=inst_id,
                instType="SWAP",
                mgnMode="cross",
                posSide="net",
                pos=_text(contracts),
                availPos=_text(abs(contracts)),
                avgPx=_text(avg),
                markPx=_text(self.prices[inst_id]),
                ccy="USDT",
                uTime=str(self._now()),
            )
            rows.append(row)
        return ok(rows)

    def on_balance(self, request: httpx.Request) -> httpx.Response:
        payload = load("balance.json")
        detail = payload["data"][0]["details"][0]
        detail.update(
            cashBal=_text(self.cash_usdt),
            availBal=_text(self.cash_usdt),
            eq=_text(self.cash_usdt),
            uTime=str(self._now()),
        )
        return httpx.Response(200, json=payload)

    def on_bills(self, request: httpx.Request) -> httpx.Response:
        begin = int(param(request, "begin", "0"))
        limit = int(param(request, "limit", "100"))
        after = param(request, "after")
        rows = sorted(self.bills, key=lambda b: -int(b["billId"]))
        rows = [b for b in rows if int(b["ts"]) >= begin]
        if after:
            rows = [b for b in rows if int(b["billId"]) < int(after)]
        return ok(rows[:limit])

    def on_config(self, request: httpx.Request) -> httpx.Response:
        row = {
            "uid": "44705892343619584",
            "acctLv": self.account_level,
            "posMode": self.pos_mode,
            "autoLoan": False,
            "greeksType": "PA",
            "level": "Lv1",
            "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic",
        }
        return ok([row])

    def on_set_position_mode(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if self.positions and any(c for c, _ in self.positions.values()):
            return error("59000")
        self.pos_mode = body["posMode"]
        return ok([{"posMode": self.pos_mode}])

    def on_leverage_info(self, request: httpx.Request) -> httpx.Response:
        inst_id = param(request, "instId")
        lever = self.leverage.get(inst_id, "10")
        return ok([{"instId": inst_id, "mgnMode": "cross", "posSide": "net", "lever": lever}])

    def on_set_leverage(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.leverage[body["instId"]] = body["lever"]
        row = _template("set_leverage.json")
        row.update(instId=body["instId"], lever=body["lever"], mgnMode=body["mgnMode"], posSide="")
        return ok([row])
