"""Binance constants: base URLs, REST and WebSocket paths, weights, error-code sets.

Two products share this package: USDⓈ-M futures (``fapi``, perps) and spot (``api``). Every
value cites Binance's public documentation, by page below the two roots:

* ``<usdm>`` = https://developers.binance.com/docs/derivatives/usds-margined-futures
  (``/general-info``: base URL, signing, limits, HTTP codes; ``/market-data/rest-api/...``,
  ``/trade/rest-api/...``, ``/account/rest-api/...``, ``/user-data-streams``,
  ``/websocket-market-streams``, ``/error-code``);
* ``<spot>`` = https://github.com/binance/binance-spot-api-docs/blob/master
  (``rest-api.md``, ``web-socket-streams.md``, ``web-socket-api.md``, ``errors.md``).

Live rate limits come from ``exchangeInfo.rateLimits`` at startup; the numbers here are the
documented defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

VENUE: Final = "binance"

# --- USD-M futures base URLs (<usdm>/general-info, /websocket-market-streams) ------------
USDM_REST_URL: Final = "https://fapi.binance.com"
USDM_REST_DEMO_URL: Final = "https://demo-fapi.binance.com"  # docs and SDK "DEMO"
USDM_REST_TESTNET_URL: Final = "https://testnet.binancefuture.com"  # SDK "TESTNET"
USDM_WS_URL: Final = "wss://fstream.binance.com"
USDM_WS_TESTNET_URL: Final = "wss://fstream.binancefuture.com"  # routed paths unverified
USDM_WS_API_URL: Final = "wss://ws-fapi.binance.com/ws-fapi/v1"
USDM_WS_API_TESTNET_URL: Final = "wss://testnet.binancefuture.com/ws-fapi/v1"

# Routed WebSocket paths (legacy unrouted /ws and /stream retired 2026-04-23: they stay
# connected but deliver nothing for market streams). One connection per category.
USDM_WS_PUBLIC_PATH: Final = "/public"  # high-frequency: depth, bookTicker
USDM_WS_MARKET_PATH: Final = "/market"  # markPrice, kline, aggTrade, ticker, forceOrder
USDM_WS_PRIVATE_PATH: Final = "/private"  # user data, ``?listenKey=<key>``
WS_RAW_SUFFIX: Final = "/ws"  # ``<route>/ws/<stream>``: bare event frames
WS_COMBINED_SUFFIX: Final = "/stream"  # ``<route>/stream?streams=a/b``: {"stream","data"}

# --- USD-M REST paths (<usdm>/market-data/rest-api, /trade/rest-api, /account/rest-api) ---
USDM_TIME: Final = "/fapi/v1/time"
USDM_EXCHANGE_INFO: Final = "/fapi/v1/exchangeInfo"
USDM_PREMIUM_INDEX: Final = "/fapi/v1/premiumIndex"
USDM_FUNDING_RATE: Final = "/fapi/v1/fundingRate"
USDM_FUNDING_INFO: Final = "/fapi/v1/fundingInfo"
USDM_KLINES: Final = "/fapi/v1/klines"
USDM_MARK_PRICE_KLINES: Final = "/fapi/v1/markPriceKlines"
USDM_BOOK_TICKER: Final = "/fapi/v1/ticker/bookTicker"
USDM_ORDER: Final = "/fapi/v1/order"  # POST new, GET query, DELETE cancel
USDM_USER_TRADES: Final = "/fapi/v1/userTrades"  # fills of an order (official docs; not in pack)
USDM_BATCH_ORDERS: Final = "/fapi/v1/batchOrders"
USDM_OPEN_ORDERS: Final = "/fapi/v1/openOrders"
USDM_ALL_OPEN_ORDERS: Final = "/fapi/v1/allOpenOrders"
USDM_ALGO_ORDER: Final = "/fapi/v1/algoOrder"  # conditional types since 2025-12-09
USDM_POSITION_RISK: Final = "/fapi/v3/positionRisk"
USDM_BALANCE: Final = "/fapi/v3/balance"
USDM_ACCOUNT: Final = "/fapi/v3/account"
USDM_LEVERAGE: Final = "/fapi/v1/leverage"
USDM_MARGIN_TYPE: Final = "/fapi/v1/marginType"
USDM_POSITION_MODE: Final = "/fapi/v1/positionSide/dual"
USDM_INCOME: Final = "/fapi/v1/income"
USDM_LISTEN_KEY: Final = "/fapi/v1/listenKey"

# --- Spot base URLs and paths (<spot>/rest-api.md, web-socket-streams.md) ----------------
SPOT_REST_URL: Final = "https://api.binance.com"
SPOT_REST_TESTNET_URL: Final = "https://testnet.binance.vision"
SPOT_REST_DEMO_URL: Final = "https://demo-api.binance.com"
SPOT_REST_MARKET_DATA_URL: Final = "https://data-api.binance.vision"
SPOT_WS_URL: Final = "wss://stream.binance.com:9443"
SPOT_WS_TESTNET_URL: Final = "wss://stream.testnet.binance.vision"
SPOT_WS_API_URL: Final = "wss://ws-api.binance.com:443/ws-api/v3"  # user data since 2026-02
SPOT_WS_API_TESTNET_URL: Final = "wss://ws-api.testnet.binance.vision/ws-api/v3"

SPOT_TIME: Final = "/api/v3/time"
SPOT_EXCHANGE_INFO: Final = "/api/v3/exchangeInfo"
SPOT_KLINES: Final = "/api/v3/klines"
SPOT_BOOK_TICKER: Final = "/api/v3/ticker/bookTicker"
SPOT_AVG_PRICE: Final = "/api/v3/avgPrice"
SPOT_ORDER: Final = "/api/v3/order"
SPOT_OPEN_ORDERS: Final = "/api/v3/openOrders"
SPOT_ACCOUNT: Final = "/api/v3/account"

# --- Signing and timing (<usdm>/general-info "SIGNED", <spot>/rest-api.md "SIGNED") ------
API_KEY_HEADER: Final = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW_MS: Final = 5_000
MAX_RECV_WINDOW_MS: Final = 60_000  # spot maximum; keep ≤ 5000 on fapi (docs advice)
LISTEN_KEY_KEEPALIVE_S: Final = 30 * 60  # key valid 60 min; PUT every ~30 min

# --- Client order ids ---------------------------------------------------------------------
USDM_CLIENT_ORDER_ID_RE: Final = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
SPOT_CLIENT_ORDER_ID_RE: Final = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")  # no . : /

# --- Funding (<usdm>/market-data/rest-api/Get-Funding-Rate-Info) -------------------------
DEFAULT_FUNDING_INTERVAL_S: Final = 8 * 3_600  # symbols absent from /fapi/v1/fundingInfo

# --- Kline intervals: seconds → Binance code (<usdm>, <spot> "Kline/Candlestick data") ---
# "1M" (calendar month) has no fixed length and is left out; "1s" exists on spot only.
KLINE_INTERVALS_S: Final[dict[int, str]] = {
    60: "1m", 180: "3m", 300: "5m", 900: "15m", 1_800: "30m",
    3_600: "1h", 7_200: "2h", 14_400: "4h", 21_600: "6h", 28_800: "8h", 43_200: "12h",
    86_400: "1d", 259_200: "3d", 604_800: "1w",
}  # fmt: skip
SPOT_ONLY_KLINE_INTERVALS_S: Final[dict[int, str]] = {1: "1s"}

# --- Rate limits: documented defaults; exchangeInfo.rateLimits is authoritative ----------
USDM_REQUEST_WEIGHT_PER_MIN: Final = 2_400
USDM_ORDERS_PER_MIN: Final = 1_200
USDM_ORDERS_PER_10S: Final = 300
USDM_FUNDING_REQUESTS_PER_5MIN: Final = 500  # fundingRate + fundingInfo shared bucket, per IP
SPOT_REQUEST_WEIGHT_PER_MIN: Final = 6_000
SPOT_ORDERS_PER_S: Final = 10
USED_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"
RETRY_AFTER_HEADER: Final = "Retry-After"
DEFAULT_RETRY_AFTER_S: Final = 60.0  # when a 429/-1003 carries no Retry-After

# Request weight per call (IP weight). Orders weigh 0 IP on fapi (order counters instead).
USDM_WEIGHTS: Final[dict[str, int]] = {
    USDM_TIME: 1,
    USDM_EXCHANGE_INFO: 1,
    USDM_FUNDING_RATE: 1,
    USDM_FUNDING_INFO: 1,
    USDM_ORDER: 1,
    USDM_BATCH_ORDERS: 5,
    USDM_POSITION_RISK: 5,
    USDM_BALANCE: 5,
    USDM_ACCOUNT: 5,
    USDM_INCOME: 30,
    USDM_POSITION_MODE: 30,
    USDM_USER_TRADES: 5,
}
USDM_PREMIUM_INDEX_WEIGHT_ONE: Final = 1
USDM_PREMIUM_INDEX_WEIGHT_ALL: Final = 10
USDM_OPEN_ORDERS_WEIGHT_ONE: Final = 1
USDM_OPEN_ORDERS_WEIGHT_ALL: Final = 40
USDM_KLINES_MAX_LIMIT: Final = 1_500
SPOT_KLINES_MAX_LIMIT: Final = 1_000
FUNDING_RATE_MAX_LIMIT: Final = 1_000
INCOME_MAX_LIMIT: Final = 1_000
BATCH_ORDERS_MAX: Final = 5

SPOT_WEIGHTS: Final[dict[str, int]] = {
    SPOT_TIME: 1,
    SPOT_EXCHANGE_INFO: 20,
    SPOT_KLINES: 2,
    SPOT_ORDER: 1,  # POST/DELETE; GET query weighs 4
    SPOT_ACCOUNT: 20,
}
SPOT_QUERY_ORDER_WEIGHT: Final = 4


def usdm_klines_weight(limit: int) -> int:
    """IP weight of ``GET /fapi/v1/klines`` (and mark/index klines) for ``limit`` rows.

    Source: Binance USDⓈ-M "Kline/Candlestick Data",
    https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data:
    [1,100)→1, [100,500)→2, [500,1000]→5, >1000→10.
    """
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    return 5 if limit <= 1_000 else 10


def mark_price_stream(symbol: str, *, one_second: bool = True) -> str:
    """Stream name of one symbol's mark price + funding: ``btcusdt@markPrice@1s`` (1 s) or
    ``btcusdt@markPrice`` (3 s). Route: ``/market``. Source: Binance USDⓈ-M "Mark Price Stream",
    https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream."""
    return f"{symbol.lower()}@markPrice{'@1s' if one_second else ''}"


def usdm_market_stream_url(streams: Sequence[str], base_url: str = USDM_WS_URL) -> str:
    """Combined-stream URL on the routed ``/market`` path:
    ``wss://fstream.binance.com/market/stream?streams=a/b`` (Binance USDⓈ-M "Websocket Market
    Streams",
    https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams).

    Raises
    ------
    ValueError
        If ``streams`` is empty or longer than 1024 (per-connection cap).
    """
    if not 0 < len(streams) <= WS_MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"need 1..{WS_MAX_STREAMS_PER_CONNECTION} streams, got {len(streams)}")
    return f"{base_url}{USDM_WS_MARKET_PATH}{WS_COMBINED_SUFFIX}?streams={'/'.join(streams)}"


def usdm_private_url(listen_key: str, base_url: str = USDM_WS_URL) -> str:
    """User-data URL ``wss://fstream.binance.com/private/ws?listenKey=<key>`` (query-param form
    mandatory since the 2026 migration; Binance USDⓈ-M "User Data Streams",
    https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams). The
    listenKey is not an API secret but still should not be logged in full."""
    return f"{base_url}{USDM_WS_PRIVATE_PATH}{WS_RAW_SUFFIX}?listenKey={listen_key}"


# --- WebSocket limits (<usdm>/websocket-market-streams, <spot>/web-socket-streams.md) ----
WS_MAX_STREAMS_PER_CONNECTION: Final = 1_024
USDM_WS_MAX_INCOMING_MSG_PER_S: Final = 10
SPOT_WS_MAX_INCOMING_MSG_PER_S: Final = 5
WS_CONNECTION_LIFETIME_S: Final = 24 * 3_600
MARK_PRICE_STREAM_PERIOD_S: Final = 3.0  # ``@markPrice``; ``@markPrice@1s`` is 1 s

# --- Error codes (<usdm>/error-code, <spot>/errors.md; fixtures errors.json) -------------
RATE_LIMIT_CODES: Final = frozenset({-1003, -1008, -1015})  # -1015 too many new orders
CLOCK_SKEW_CODES: Final = frozenset({-1021, -5028})  # resync clock, re-sign, retry
OUTCOME_UNKNOWN_CODES: Final = frozenset({-1006, -1007})  # query by client order id
UNAVAILABLE_CODES: Final = frozenset({-1001, -1016})  # disconnected / service shutting down
AUTH_CODES: Final = frozenset({-1002, -1022, -2014, -2015})
INSUFFICIENT_MARGIN_CODES: Final = frozenset({-2018, -2019})
DUPLICATE_CLIENT_ORDER_ID_CODES: Final = frozenset({-4116})
UNKNOWN_ORDER_CODES: Final = frozenset({-2011, -2013, -2026})
INVALID_ORDER_CODES: Final = frozenset(
    {
        -1013,  # spot "Filter failure: ..."
        -1100,  # illegal characters (e.g. newClientOrderId)
        -1102, -1106, -1111,  # missing / unwanted param, precision too high
        -1121,  # invalid symbol
        -2021, -2022,  # would immediately trigger / reduce-only rejected
        -4003, -4005,  # quantity below zero / above max
        -4014, -4023,  # price not on tick / qty not on step
        -4015,  # client order id invalid
        -4061,  # positionSide does not match account mode
        -4120,  # conditional type sent to non-algo endpoint
        -4164,  # notional below MIN_NOTIONAL
        -5021, -5022,  # FOK / post-only rejected
    }
)  # fmt: skip
# A post-only order that would have taken liquidity: USD-M GTX -5022 (<usdm>/error-code);
# spot LIMIT_MAKER -2010 with SPOT_POST_ONLY_MSG (<spot>/errors.md).
POST_ONLY_CROSS_CODES: Final = frozenset({-5022})
NEW_ORDER_REJECTED_CODE: Final = -2010  # spot (and fapi) matching-engine reject; read msg
ALREADY_SET_CODES: Final = frozenset({-4046, -4059})  # margin type / position mode unchanged

# Spot packs several reasons into -2010; the msg text tells them apart (<spot>/errors.md).
SPOT_DUPLICATE_MSG: Final = "duplicate order sent"
SPOT_INSUFFICIENT_BALANCE_MSG: Final = "insufficient balance"
FILTER_FAILURE_MSG: Final = "filter failure"
SPOT_POST_ONLY_MSG: Final = "order would immediately match and take"

# --- USD-M account setup, user data stream (<usdm>/trade/rest-api, /user-data-streams) ---
USDM_SETUP_POST_WEIGHT: Final = 1  # POST marginType / leverage / positionSide/dual
USDM_LISTEN_KEY_WEIGHT: Final = 1  # POST / PUT / DELETE listenKey
USDM_MARGIN_TYPE_CROSSED: Final = "CROSSED"
USDM_MAX_LEVERAGE: Final = 125
LISTEN_KEY_KEEPALIVE_RETRY_S: Final = 60.0  # after a failed PUT; the key is valid 60 min
LISTEN_KEY_MISSING_CODE: Final = -1125  # "This listenKey does not exist." → create a new one
MARGIN_TYPE_BLOCKED_CODES: Final = frozenset({-4047, -4048})  # open orders / open position
POSITION_MODE_BLOCKED_CODES: Final = frozenset({-4067, -4068})  # open orders / open position
USDM_WS_SUBSCRIBE_ID: Final = 1  # id of the one SUBSCRIBE sent per connection
MARK_STREAM_WATCHDOG_S: Final = 10.0  # ``@markPrice@1s``: ten missed updates → dead
USER_STREAM_WATCHDOG_S: Final = 3_600.0  # a quiet account sends nothing for long; a dead
# TCP connection is caught sooner by websocket ping frames
USER_EVENT_LISTEN_KEY_EXPIRED: Final = "listenKeyExpired"
USER_EVENT_ORDER: Final = "ORDER_TRADE_UPDATE"
USER_EVENT_ACCOUNT: Final = "ACCOUNT_UPDATE"
ACCOUNT_UPDATE_FUNDING_FEE: Final = "FUNDING_FEE"  # ``a.m`` reason of a funding settlement
