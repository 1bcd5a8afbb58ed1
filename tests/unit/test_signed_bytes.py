"""The signature covers exactly the bytes the venue receives, for awkward parameter values.

Every signed REST request goes through a ``httpx.MockTransport`` that keeps the request's raw
target (``url.raw_path``: what httpcore writes on the request line) and body. The signature it
carries is compared with an HMAC computed here, with ``hmac`` directly, over those received
bytes; the received query is also decoded here to check that the venue reads back the values
that were meant. The values hold spaces, ``+``, ``&``, ``=``, ``#``, ``%`` and non-ASCII text:
the characters on which httpx versions encode a ``params`` mapping differently (a space is ``+``
from httpx 0.28, a lone ``%`` stays raw in 0.27) or which cut a raw query (``#``, ``&``).

Meant to pass under the lowest and the highest httpx that ``pyproject.toml`` admits (0.27.0 and
0.29.0 when written; see the comment on the httpx requirement there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from pydantic import SecretStr

from tests.unit.conftest import FakeClock
from venues.binance.rest import BinanceUsdmRest
from venues.binance.rest import make_rest_client as make_binance_client
from venues.binance.spot_rest import BinanceSpotRest, make_spot_rest_client
from venues.bybit.rest import BybitRest
from venues.bybit.rest import make_rest_client as make_bybit_client
from venues.http import RestClient
from venues.okx.rest import OkxRest
from venues.okx.rest import make_rest_client as make_okx_client
from venues.ratelimit import RateLimiter

BASE_URL = "https://venue.example.test"
API_KEY = "k3y-VALUE-0123456789"
API_SECRET = "s3cret-VALUE-9876543210"
PASSPHRASE = "pass phrase"
NOW_MS = 1_700_000_000_000

AWKWARD = [
    "two words",
    "1+1=2",
    "k&v=w",
    "frag#ment",
    "100%",
    "50%25",
    "plain-ASCII_id.~",
    "名前１２３",
    "é ü+&=#%/?:@",
]


class Capture:
    """Transport answering ``{}`` (HTTP 200) and keeping each request as it was received."""

    def __init__(self, answer: Any = None) -> None:
        self.requests: list[httpx.Request] = []
        self._answer = {} if answer is None else answer

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return httpx.Response(200, json=self._answer)

        return httpx.MockTransport(handle)

    @property
    def target(self) -> bytes:
        """The last request's raw target: path and query bytes as sent."""
        return self.requests[-1].url.raw_path

    @property
    def query(self) -> bytes:
        return self.target.partition(b"?")[2]


def decode_pairs(query: bytes) -> list[tuple[str, str]]:
    """How a server reads a percent-encoded query: split on ``&`` and the first ``=``, then
    percent-decode (UTF-8). Written here so it does not share code with the encoder."""
    assert query.isascii()
    assert not set(query.decode()) & set(" +#"), query
    pairs = []
    for item in query.decode().split("&"):
        key, _, value = item.partition("=")
        pairs.append((unquote(key, errors="strict"), unquote(value, errors="strict")))
    return pairs


def hmac_sha256(secret: str, message: bytes) -> hmac.HMAC:
    return hmac.new(secret.encode(), message, hashlib.sha256)


def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(10_000, 1.0, clock=clock, sleep=clock.sleep)


# --- Binance: HMAC hex of the query string before "&signature=" -------------------------------


def binance_usdm(capture: Capture, clock: FakeClock) -> BinanceUsdmRest:
    client = make_binance_client(
        BASE_URL, transport=capture.transport(), limiter=limiter(clock), sleep=clock.sleep
    )
    return BinanceUsdmRest(client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS)


def binance_spot(capture: Capture, clock: FakeClock) -> BinanceSpotRest:
    client = make_spot_rest_client(
        BASE_URL, transport=capture.transport(), limiter=limiter(clock), sleep=clock.sleep
    )
    return BinanceSpotRest(client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS)


def assert_binance_signed(capture: Capture, sent: dict[str, str]) -> None:
    payload, separator, signature = capture.query.rpartition(b"&signature=")
    assert separator, capture.target
    assert signature.decode() == hmac_sha256(API_SECRET, payload).hexdigest()
    assert capture.requests[-1].headers["X-MBX-APIKEY"] == API_KEY
    expected = [*sent.items(), ("recvWindow", "5000"), ("timestamp", str(NOW_MS))]
    assert decode_pairs(payload) == expected


@pytest.mark.parametrize("value", AWKWARD)
@pytest.mark.parametrize("product", ["usdm", "spot"])
async def test_binance_order_post_signs_the_received_query(
    value: str, product: str, clock: FakeClock
) -> None:
    capture = Capture()
    rest = (binance_usdm if product == "usdm" else binance_spot)(capture, clock)
    params = {"symbol": value, "side": "BUY", "type": "MARKET", "newClientOrderId": value[::-1]}
    await rest.post_order(params)
    assert capture.requests[-1].method == "POST"
    assert capture.requests[-1].content == b""  # everything signed is in the query
    assert_binance_signed(capture, params)
    await rest.aclose()


@pytest.mark.parametrize("value", AWKWARD)
async def test_binance_signed_get_signs_the_received_query(value: str, clock: FakeClock) -> None:
    capture = Capture()
    rest = binance_usdm(capture, clock)
    await rest.get_order(value, value)
    assert_binance_signed(capture, {"symbol": value, "origClientOrderId": value})
    await rest.aclose()


# --- Bybit: HMAC hex of timestamp + key + recvWindow + (query | body) -------------------------


BYBIT_OK = {"retCode": 0, "retMsg": "OK", "result": {}, "retExtInfo": {}, "time": NOW_MS}


def bybit(capture: Capture, clock: FakeClock) -> BybitRest:
    client = make_bybit_client(
        BASE_URL,
        now_ms=lambda: NOW_MS,
        transport=capture.transport(),
        limiter=limiter(clock),
        sleep=clock.sleep,
    )
    limiters = {c: limiter(clock) for c in ("linear", "spot")}
    return BybitRest(
        client, SecretStr(API_KEY), SecretStr(API_SECRET), lambda: NOW_MS, order_limiters=limiters
    )


def assert_bybit_signed(request: httpx.Request, payload: bytes) -> None:
    h = request.headers
    assert (h["X-BAPI-API-KEY"], h["X-BAPI-TIMESTAMP"], h["X-BAPI-RECV-WINDOW"]) == (
        API_KEY,
        str(NOW_MS),
        "5000",
    )
    prefix = f"{NOW_MS}{API_KEY}5000".encode()
    assert h["X-BAPI-SIGN"] == hmac_sha256(API_SECRET, prefix + payload).hexdigest()


@pytest.mark.parametrize("value", AWKWARD)
async def test_bybit_get_signs_the_received_query(value: str, clock: FakeClock) -> None:
    capture = Capture(BYBIT_OK)
    rest = bybit(capture, clock)
    await rest.get_order_realtime("linear", symbol=value, order_link_id=value[::-1])
    assert_bybit_signed(capture.requests[-1], capture.query)
    assert decode_pairs(capture.query) == [  # sorted by key, as signed
        ("category", "linear"),
        ("limit", "50"),
        ("openOnly", "0"),
        ("orderLinkId", value[::-1]),
        ("symbol", value),
    ]
    await rest.aclose()


@pytest.mark.parametrize("value", AWKWARD)
async def test_bybit_post_signs_the_received_body(value: str, clock: FakeClock) -> None:
    capture = Capture(BYBIT_OK)
    rest = bybit(capture, clock)
    body = {"category": "linear", "symbol": value, "orderLinkId": value}
    await rest.post_order_create("linear", body)
    request = capture.requests[-1]
    assert_bybit_signed(request, request.content)
    assert json.loads(request.content)["symbol"] == value
    await rest.aclose()


async def test_bybit_cursor_goes_back_as_bybit_sent_it(clock: FakeClock) -> None:
    # Bybit's nextPageCursor is URL-encoded (fixture order_realtime.json); the parser decodes it
    # and the next query must carry Bybit's text again, not "%253D".
    capture = Capture(BYBIT_OK)
    rest = bybit(capture, clock)
    sent_by_bybit = "page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26"
    await rest.get_order_realtime("linear", cursor=unquote(sent_by_bybit))
    assert f"cursor={sent_by_bybit}&".encode() in capture.query
    assert_bybit_signed(capture.requests[-1], capture.query)
    await rest.aclose()


# --- OKX (checked, unchanged): Base64 HMAC of timestamp + METHOD + requestPath(?query) + body -


@pytest.mark.parametrize("value", AWKWARD)
async def test_okx_get_signs_the_received_target(value: str, clock: FakeClock) -> None:
    capture = Capture({"code": "0", "msg": "", "data": []})
    client = make_okx_client(
        BASE_URL, transport=capture.transport(), limiter=limiter(clock), sleep=clock.sleep
    )
    rest = OkxRest(
        client,
        SecretStr(API_KEY),
        SecretStr(API_SECRET),
        SecretStr(PASSPHRASE),
        lambda: NOW_MS,
        clock=clock,
        sleep=clock.sleep,
    )
    await rest.get_order(value, value[::-1])
    h = capture.requests[-1].headers
    message = h["OK-ACCESS-TIMESTAMP"].encode() + b"GET" + capture.target
    digest = hmac_sha256(API_SECRET, message).digest()
    assert h["OK-ACCESS-SIGN"] == base64.b64encode(digest).decode()
    # OKX encodes a space as "+" (urlencode): unambiguous, since a literal "+" is "%2B".
    query = capture.query.replace(b"+", b"%20")
    assert dict(decode_pairs(query)) == {"instId": value, "clOrdId": value[::-1]}
    await client.aclose()


# --- the transport: a query is sent verbatim or refused ---------------------------------------


@pytest.fixture
def rest_client(clock: FakeClock) -> tuple[RestClient, Capture]:
    capture = Capture()
    client = RestClient(
        "test", BASE_URL + "/prefix", limiter=limiter(clock), transport=capture.transport()
    )
    return client, capture


async def test_query_is_sent_byte_for_byte(rest_client: tuple[RestClient, Capture]) -> None:
    client, capture = rest_client
    query = "b=x%20y&a=%2B%26%3D%23%25&c=%E5%90%8D"
    await client.request("GET", "/v1/thing", query=query, idempotent=True)
    assert capture.target == b"/prefix/v1/thing?" + query.encode()


@pytest.mark.parametrize("query", ["a=x y", "a=名", "a=1#2"])
async def test_a_query_httpx_would_change_is_refused_before_sending(
    rest_client: tuple[RestClient, Capture], query: str
) -> None:
    client, capture = rest_client
    with pytest.raises(ValueError, match="not percent-encoded") as raised:
        await client.request("GET", "/v1/thing", query=query, idempotent=True)
    assert query not in str(raised.value)  # a query may carry a signature: never in a message
    assert capture.requests == []


async def test_params_and_query_are_exclusive(rest_client: tuple[RestClient, Capture]) -> None:
    client, _ = rest_client
    with pytest.raises(ValueError, match="params or query"):
        await client.request("GET", "/v1/thing", params={"a": "1"}, query="a=1", idempotent=True)
