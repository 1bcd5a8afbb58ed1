"""BinanceUsdmVenue.prepare_account against recorded payloads served by respx (no network).

Fixtures ``change_margin_type.json``, ``change_leverage.json``, ``position_risk_v3_hedge.json``,
``errors.json`` (``-4046``, ``-4059``). Bodies not recorded use the documented shapes (Binance USD-M
"Get Current Position Mode"
https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Get-Current-Position-Mode,
"Error Codes" https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code):
``{"dualSidePosition": bool}`` and ``{"code", "msg"}`` errors.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.unit.conftest import FakeClock
from venues.binance.auth import sign
from venues.binance.client import BinanceUsdmVenue
from venues.binance.rest import BinanceUsdmRest, make_rest_client
from venues.errors import AccountSetupError
from venues.model import InstrumentId, InstrumentKind
from venues.ratelimit import RateLimiter

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance-usdm"
BASE_URL = "https://fapi.example.test"
API_KEY = "k3y-VALUE-never-shown-0123456789"
API_SECRET = "s3cret-VALUE-never-shown-9876543210"
NOW_MS = 1_700_000_000_000
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
DUAL = "/fapi/v1/positionSide/dual"
MARGIN = "/fapi/v1/marginType"
LEVERAGE = "/fapi/v1/leverage"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def error_body(code: int) -> dict[str, Any]:
    return next(e for e in load("errors.json") if e["code"] == code)


def params(request: httpx.Request) -> dict[str, str]:
    query = request.url.query.decode()
    payload, _, signature = query.rpartition("&signature=")
    assert signature == sign(payload, API_SECRET)  # every call here is SIGNED
    assert request.headers["X-MBX-APIKEY"] == API_KEY
    return dict(parse_qsl(payload))


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


@pytest.fixture
async def venue(router: respx.MockRouter, clock: FakeClock) -> AsyncIterator[BinanceUsdmVenue]:
    client = make_rest_client(
        BASE_URL,
        transport=httpx.MockTransport(router.handler),
        limiter=RateLimiter(2400, 60.0, clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
    )
    v = BinanceUsdmVenue(
        BinanceUsdmRest(client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS)
    )
    yield v
    await v.close()


def leverage_answer(symbol: str, leverage: int) -> dict[str, Any]:
    return {**load("change_leverage.json"), "symbol": symbol, "leverage": leverage}


async def test_one_way_account_sets_cross_and_leverage(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    dual = router.get(DUAL).respond(json={"dualSidePosition": False})
    margin = router.post(MARGIN).respond(json=load("change_margin_type.json"))
    leverage = router.post(LEVERAGE).respond(json=load("change_leverage.json"))  # 21x
    changes = await venue.prepare_account([BTC], Decimal(21))
    assert changes == [
        "BTCUSDT: margin type → CROSSED",
        "BTCUSDT: leverage 21x (max notional 1000000 USDT)",
    ]
    assert dual.call_count == 1
    assert params(margin.calls.last.request) == {
        "symbol": "BTCUSDT",
        "marginType": "CROSSED",
        "recvWindow": "5000",
        "timestamp": str(NOW_MS),
    }
    sent = params(leverage.calls.last.request)
    assert (sent["symbol"], sent["leverage"]) == ("BTCUSDT", "21")


async def test_margin_already_cross_is_no_change(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get(DUAL).respond(json={"dualSidePosition": False})
    router.post(MARGIN).respond(400, json=error_body(-4046))  # "No need to change margin type."

    def answer(request: httpx.Request) -> httpx.Response:
        sent = params(request)
        return httpx.Response(200, json=leverage_answer(sent["symbol"], int(sent["leverage"])))

    leverage = router.post(LEVERAGE).mock(side_effect=answer)
    changes = await venue.prepare_account([BTC, ETH, BTC], Decimal("3"))
    assert changes == [
        "BTCUSDT: leverage 3x (max notional 1000000 USDT)",
        "ETHUSDT: leverage 3x (max notional 1000000 USDT)",
    ]
    assert [params(c.request)["symbol"] for c in leverage.calls] == ["BTCUSDT", "ETHUSDT"]


async def test_hedge_mode_without_positions_is_switched(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get(DUAL).respond(json={"dualSidePosition": True})
    switch = router.post(DUAL).respond(json=load("change_margin_type.json"))  # {200, success}
    router.get("/fapi/v3/positionRisk").respond(json=[])
    router.get("/fapi/v1/openOrders").respond(json=[])
    router.post(MARGIN).respond(400, json=error_body(-4046))
    router.post(LEVERAGE).respond(json=leverage_answer("BTCUSDT", 2))
    changes = await venue.prepare_account([BTC], Decimal("2.0"))
    assert changes[0] == "position mode: hedge → one-way"
    assert params(switch.calls.last.request)["dualSidePosition"] == "false"


async def test_hedge_mode_with_positions_raises_without_switching(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get(DUAL).respond(json={"dualSidePosition": True})
    switch = router.post(DUAL).respond(json=load("change_margin_type.json"))
    router.get("/fapi/v3/positionRisk").respond(json=load("position_risk_v3_hedge.json"))
    router.get("/fapi/v1/openOrders").respond(json=[load("query_order.json")])
    margin = router.post(MARGIN).respond(json=load("change_margin_type.json"))
    with pytest.raises(AccountSetupError) as info:
        await venue.prepare_account([BTC], Decimal(2))
    message = str(info.value)
    # The hedge fixture holds a 30 ADAUSDT long and a 1 COMPUSDT short.
    assert "hedge" in message
    assert "one-way" in message.lower()
    assert "ADAUSDT" in message
    assert "COMPUSDT" in message
    assert "1 open orders" in message
    assert switch.call_count == 0
    assert margin.call_count == 0


async def test_hedge_switch_refused_by_venue(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get(DUAL).respond(json={"dualSidePosition": True})
    router.get("/fapi/v3/positionRisk").respond(json=[])
    router.get("/fapi/v1/openOrders").respond(json=[])
    refusal = {"code": -4068, "msg": "Position side cannot be changed if there exists position."}
    router.post(DUAL).respond(400, json=refusal)
    with pytest.raises(AccountSetupError, match="one-way"):
        await venue.prepare_account([BTC], Decimal(2))


async def test_hedge_already_off_answer_is_no_change(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get(DUAL).respond(json={"dualSidePosition": True})
    router.get("/fapi/v3/positionRisk").respond(json=[])
    router.get("/fapi/v1/openOrders").respond(json=[])
    router.post(DUAL).respond(400, json=error_body(-4059))  # set meanwhile
    router.post(MARGIN).respond(400, json=error_body(-4046))
    router.post(LEVERAGE).respond(json=leverage_answer("BTCUSDT", 2))
    assert await venue.prepare_account([BTC], Decimal(2)) == [
        "BTCUSDT: leverage 2x (max notional 1000000 USDT)"
    ]


async def test_isolated_with_position_raises_naming_symbol(
    venue: BinanceUsdmVenue, router: respx.MockRouter
) -> None:
    router.get(DUAL).respond(json={"dualSidePosition": False})
    blocked = {"code": -4048, "msg": "Margin type cannot be changed if there exists position."}
    router.post(MARGIN).respond(400, json=blocked)
    with pytest.raises(AccountSetupError, match="ETHUSDT is isolated"):
        await venue.prepare_account([ETH], Decimal(2))


@pytest.mark.parametrize("leverage", [Decimal("2.5"), Decimal(0), Decimal(126)])
async def test_bad_leverage_is_refused_before_any_request(
    venue: BinanceUsdmVenue, leverage: Decimal
) -> None:
    with pytest.raises(AccountSetupError, match=r"whole number 1\.\.125"):
        await venue.prepare_account([BTC], leverage)
