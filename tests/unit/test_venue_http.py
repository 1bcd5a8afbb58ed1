"""RestClient and RateLimiter: error mapping, retries, rate limiting — no network, no sleeps.

HTTP goes through a respx router plugged into ``httpx.MockTransport`` (``assert_all_mocked``);
time through a fake clock whose ``sleep`` only advances it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from tests.unit.conftest import FakeClock
from venues.errors import (
    AuthError,
    InvalidOrder,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from venues.http import RestClient, parse_retry_after_s
from venues.ratelimit import RateLimiter

BASE_URL = "https://fapi.example.test"
PATH = "/fapi/v1/premiumIndex"
ORDER_PATH = "/fapi/v1/order"
API_KEY = "k3y-VALUE-never-shown-0123456789"
SIGNATURE = "5f1c0ffee0ddba11deadbeef0123456789abcdef"
# Shape of Binance GET /fapi/v1/premiumIndex (USD-M "Mark Price",
# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price),
# values written by hand.
PAYLOAD = {"symbol": "BTCUSDT", "markPrice": "11793.63104562", "lastFundingRate": "0.00038246"}


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(2400, 60.0, clock=clock, sleep=clock.sleep)


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL)


@pytest.fixture
async def client(
    router: respx.MockRouter, limiter: RateLimiter, clock: FakeClock
) -> AsyncIterator[RestClient]:
    async with RestClient(
        "binance",
        BASE_URL,
        limiter=limiter,
        transport=httpx.MockTransport(router.handler),
        sleep=clock.sleep,
        used_weight_header="X-MBX-USED-WEIGHT-1M",
    ) as rest:
        yield rest


async def get(client: RestClient, **kwargs: Any) -> Any:
    return await client.request(
        "GET", PATH, params={"symbol": "BTCUSDT"}, idempotent=True, **kwargs
    )


# --- RateLimiter ---------------------------------------------------------------------------


async def test_acquire_within_capacity_does_not_wait(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    await limiter.acquire(2000)
    await limiter.acquire(400)
    assert clock.sleeps_s == []
    assert limiter.available_weight == pytest.approx(0.0)


async def test_acquire_beyond_capacity_waits_for_refill(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    await limiter.acquire(2400)
    await limiter.acquire(20)
    # 2400 weight / 60 s refills 40 weight/s, so 20 weight takes 0.5 s.
    assert sum(clock.sleeps_s) == pytest.approx(0.5)


async def test_penalize_blocks_until_retry_after(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.penalize(30.0)
    limiter.penalize(5.0)  # a shorter penalty never shortens the one in force
    assert limiter.blocked_for_s == pytest.approx(30.0)
    await limiter.acquire(1)
    assert clock.sleeps_s[0] == pytest.approx(30.0)
    assert clock.now_s >= 1_030.0


def test_update_used_lowers_available_weight(limiter: RateLimiter) -> None:
    limiter.update_used(2000)
    assert limiter.available_weight == pytest.approx(400.0)
    limiter.update_used(10)  # never raises it back above what we already used
    assert limiter.available_weight == pytest.approx(400.0)


async def test_acquire_rejects_impossible_weight(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="weight"):
        await limiter.acquire(2401)


# --- RestClient: success and retries -------------------------------------------------------


async def test_get_returns_decoded_json_and_syncs_used_weight(
    client: RestClient, router: respx.MockRouter, limiter: RateLimiter
) -> None:
    route = router.get(PATH, params={"symbol": "BTCUSDT"}).mock(
        return_value=httpx.Response(200, json=PAYLOAD, headers={"X-MBX-USED-WEIGHT-1M": "2300"})
    )
    assert await get(client) == PAYLOAD
    assert route.call_count == 1
    assert limiter.available_weight == pytest.approx(100.0)


async def test_get_connect_error_then_200_retries_once(
    client: RestClient, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.get(PATH).mock(
        side_effect=[httpx.ConnectError("connection refused"), httpx.Response(200, json=PAYLOAD)]
    )
    assert await get(client) == PAYLOAD
    assert route.call_count == 2
    assert len(clock.sleeps_s) == 1
    assert 0.0 <= clock.sleeps_s[0] <= 10.0  # jittered backoff, capped at backoff_max_s


async def test_get_5xx_then_200_succeeds(client: RestClient, router: respx.MockRouter) -> None:
    route = router.get(PATH).mock(
        side_effect=[httpx.Response(502, text="Bad Gateway"), httpx.Response(200, json=PAYLOAD)]
    )
    assert await get(client) == PAYLOAD
    assert route.call_count == 2


async def test_get_5xx_every_time_raises_after_retry_attempts(
    client: RestClient, router: respx.MockRouter
) -> None:
    route = router.get(PATH).mock(return_value=httpx.Response(503, text="Service Unavailable"))
    with pytest.raises(VenueUnavailable) as info:
        await get(client)
    assert route.call_count == 3
    assert info.value.code == "HTTP 503"
    assert info.value.venue == "binance"


# --- RestClient: rate limits ---------------------------------------------------------------


async def test_429_with_retry_after_raises_rate_limited_and_penalizes(
    client: RestClient, router: respx.MockRouter, limiter: RateLimiter
) -> None:
    route = router.post(ORDER_PATH).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "7"}, json={"code": -1003})
    )
    with pytest.raises(RateLimited) as info:
        await client.request("POST", ORDER_PATH, idempotent=False)
    assert info.value.retry_after_s == 7.0
    assert route.call_count == 1
    assert limiter.blocked_for_s == pytest.approx(7.0)


async def test_418_without_retry_after_defaults_to_one_second(
    client: RestClient, router: respx.MockRouter
) -> None:
    router.post(ORDER_PATH).mock(return_value=httpx.Response(418))
    with pytest.raises(RateLimited) as info:
        await client.request("POST", ORDER_PATH, idempotent=False)
    assert info.value.retry_after_s == 1.0


async def test_get_429_then_200_waits_at_least_retry_after(
    client: RestClient, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.get(PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json=PAYLOAD),
        ]
    )
    assert await get(client) == PAYLOAD
    assert route.call_count == 2
    assert clock.sleeps_s[0] >= 7.0


async def test_retry_after_beyond_cap_is_not_retried(
    client: RestClient, router: respx.MockRouter
) -> None:
    route = router.get(PATH).mock(return_value=httpx.Response(418, headers={"Retry-After": "600"}))
    with pytest.raises(RateLimited):
        await get(client)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("value", "expected_s"),
    [
        ("30", 30.0),
        (" 1.5 ", 1.5),
        (None, 1.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1.0),
        ("-3", 1.0),
    ],
)
def test_parse_retry_after_s(value: str | None, expected_s: float) -> None:
    assert parse_retry_after_s(value) == expected_s


# --- RestClient: writes are never retried --------------------------------------------------


async def test_post_timeout_raises_request_timeout_after_one_call(
    client: RestClient, router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post(ORDER_PATH).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(RequestTimeout) as info:
        await client.request(
            "POST", ORDER_PATH, params={"newClientOrderId": "x1"}, idempotent=False
        )
    assert route.call_count == 1
    assert clock.sleeps_s == []
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


async def test_post_5xx_raises_unavailable_after_one_call(
    client: RestClient, router: respx.MockRouter
) -> None:
    route = router.post(ORDER_PATH).mock(return_value=httpx.Response(503))
    with pytest.raises(VenueUnavailable):
        await client.request("POST", ORDER_PATH, idempotent=False)
    assert route.call_count == 1


async def test_connect_error_maps_to_transport_error_from_httpx(
    client: RestClient, router: respx.MockRouter
) -> None:
    router.post(ORDER_PATH).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        await client.request("POST", ORDER_PATH, idempotent=False)
    assert not isinstance(info.value, RequestTimeout)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# --- RestClient: other failures ------------------------------------------------------------


async def test_classify_error_maps_a_200_error_body(
    router: respx.MockRouter, limiter: RateLimiter, clock: FakeClock
) -> None:
    def classify(response: httpx.Response) -> VenueError | None:
        body = response.json()
        if isinstance(body, dict) and body.get("code") == -4003:
            return InvalidOrder(
                body["msg"], venue="binance", client_order_id="x1", reason="qty", code="-4003"
            )
        return None

    route = router.post(ORDER_PATH).mock(
        return_value=httpx.Response(
            200, json={"code": -4003, "msg": "Quantity less than or equal to zero."}
        )
    )
    async with RestClient(
        "binance",
        BASE_URL,
        limiter=limiter,
        transport=httpx.MockTransport(router.handler),
        classify_error=classify,
        sleep=clock.sleep,
    ) as rest:
        with pytest.raises(InvalidOrder) as info:
            await rest.request("POST", ORDER_PATH, idempotent=False)
    assert info.value.code == "-4003"
    assert info.value.reason == "qty"
    assert route.call_count == 1


async def test_invalid_json_raises_protocol_error_without_retry(
    client: RestClient, router: respx.MockRouter
) -> None:
    route = router.get(PATH).mock(return_value=httpx.Response(200, text="<html>maintenance"))
    with pytest.raises(ProtocolError, match="not JSON"):
        await get(client)
    assert route.call_count == 1


async def test_401_is_auth_error_and_not_retried(
    client: RestClient, router: respx.MockRouter
) -> None:
    route = router.get(PATH).mock(return_value=httpx.Response(401, json={"code": -2015}))
    with pytest.raises(AuthError):
        await get(client)
    assert route.call_count == 1


async def test_other_4xx_is_plain_venue_error_with_status_code(
    client: RestClient, router: respx.MockRouter
) -> None:
    router.get(PATH).mock(return_value=httpx.Response(400, json={"code": -1102}))
    with pytest.raises(VenueError) as info:
        await get(client)
    assert type(info.value) is VenueError
    assert info.value.code == "HTTP 400"
    assert "-1102" in str(info.value)


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.Response(401),
        httpx.Response(400, text="bad"),
        httpx.Response(503),
        httpx.Response(429),
        httpx.Response(200, text="not json"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
    ],
)
async def test_secrets_never_in_errors_or_logs(
    client: RestClient, router: respx.MockRouter, outcome: httpx.Response | Exception
) -> None:
    router.get(PATH).mock(side_effect=[outcome, outcome, outcome])
    with capture_logs() as logs, pytest.raises(VenueError) as info:
        await client.request(
            "GET",
            PATH,
            params={"symbol": "BTCUSDT", "signature": SIGNATURE},
            headers={"X-MBX-APIKEY": API_KEY},
            idempotent=True,
        )
    shown = f"{info.value} {info.value!r} {info.value.__dict__} {logs}"
    assert API_KEY not in shown
    assert SIGNATURE not in shown
    assert repr(client).count(API_KEY) == 0


async def test_json_body_and_content_are_exclusive(client: RestClient) -> None:
    with pytest.raises(ValueError, match="not both"):
        await client.request("POST", ORDER_PATH, json_body={}, content="{}", idempotent=False)


async def test_content_is_sent_byte_for_byte(client: RestClient, router: respx.MockRouter) -> None:
    signed_body = '{"category":"linear","symbol":"BTCUSDT"}'
    route = router.post(ORDER_PATH).mock(return_value=httpx.Response(200, json={"retCode": 0}))
    assert await client.request("POST", ORDER_PATH, content=signed_body, idempotent=False) == {
        "retCode": 0
    }
    assert route.calls.last.request.content == signed_body.encode()
