"""OKX API v5 constants: URLs, paths, WebSocket heartbeat, limits and error-code sets.

Source: the OKX API v5 docs, ``<okx>`` = https://www.okx.com/docs-v5/en/, sections "Overview"
(``#overview-...``: production and demo URLs, REST authentication, WebSocket, rate limits), "Public
Data" (``#public-data-rest-api-...``), "Order Book Trading" (``#order-book-trading-...``), "Trading
Account" (``#trading-account-rest-api-...``) and "Error Code" (``#error-code``). Scope:
USDT-margined perpetual swaps (``instType=SWAP``) and spot (``instType=SPOT``).
"""

from __future__ import annotations

import re
from typing import Final

VENUE: Final = "okx"

# --- REST (<okx>#overview-production-trading-services, #overview-demo-trading-services) ----
REST_BASE_URL: Final = "https://www.okx.com"
#: Demo trading uses the production host plus this header (value "1") and a demo API key.
SIMULATED_TRADING_HEADER: Final = "x-simulated-trading"
SIMULATED_TRADING_VALUE: Final = "1"

HEADER_KEY: Final = "OK-ACCESS-KEY"
HEADER_SIGN: Final = "OK-ACCESS-SIGN"
HEADER_TIMESTAMP: Final = "OK-ACCESS-TIMESTAMP"
HEADER_PASSPHRASE: Final = "OK-ACCESS-PASSPHRASE"  # noqa: S105 (a header name, not a secret)
#: Optional place/amend header: epoch ms after which the server drops the request.
HEADER_EXP_TIME: Final = "expTime"

# Public market data (<okx>#public-data-rest-api-..., #order-book-trading-market-data-...)
PATH_SERVER_TIME: Final = "/api/v5/public/time"
PATH_INSTRUMENTS: Final = "/api/v5/public/instruments"
PATH_FUNDING_RATE: Final = "/api/v5/public/funding-rate"
PATH_FUNDING_RATE_HISTORY: Final = "/api/v5/public/funding-rate-history"
PATH_MARK_PRICE: Final = "/api/v5/public/mark-price"
PATH_CANDLES: Final = "/api/v5/market/candles"
PATH_HISTORY_CANDLES: Final = "/api/v5/market/history-candles"
PATH_MARK_PRICE_CANDLES: Final = "/api/v5/market/mark-price-candles"
PATH_TICKER: Final = "/api/v5/market/ticker"

# Private (<okx>#order-book-trading-trade-..., #trading-account-rest-api-...)
PATH_PLACE_ORDER: Final = "/api/v5/trade/order"
PATH_BATCH_ORDERS: Final = "/api/v5/trade/batch-orders"
PATH_CANCEL_ORDER: Final = "/api/v5/trade/cancel-order"
PATH_ORDER: Final = "/api/v5/trade/order"
PATH_ORDERS_PENDING: Final = "/api/v5/trade/orders-pending"
PATH_ORDERS_HISTORY: Final = "/api/v5/trade/orders-history"
PATH_POSITIONS: Final = "/api/v5/account/positions"
PATH_BALANCE: Final = "/api/v5/account/balance"
PATH_ACCOUNT_CONFIG: Final = "/api/v5/account/config"
PATH_SET_LEVERAGE: Final = "/api/v5/account/set-leverage"
PATH_SET_POSITION_MODE: Final = "/api/v5/account/set-position-mode"
PATH_BILLS: Final = "/api/v5/account/bills"
PATH_BILLS_ARCHIVE: Final = "/api/v5/account/bills-archive"

# --- WebSocket (<okx>#overview-websocket) --------------------------------------------------
WS_PUBLIC_URL: Final = "wss://ws.okx.com:8443/ws/v5/public"
WS_PRIVATE_URL: Final = "wss://ws.okx.com:8443/ws/v5/private"
WS_BUSINESS_URL: Final = "wss://ws.okx.com:8443/ws/v5/business"
WS_PUBLIC_URL_DEMO: Final = "wss://wspap.okx.com:8443/ws/v5/public"
WS_PRIVATE_URL_DEMO: Final = "wss://wspap.okx.com:8443/ws/v5/private"
WS_BUSINESS_URL_DEMO: Final = "wss://wspap.okx.com:8443/ws/v5/business"

#: The server closes a connection after 30 s without a push; send the text frame ``ping``
#: when nothing arrived for this many seconds (must be < 30) and expect the text ``pong``.
WS_IDLE_PING_S: Final = 20.0
WS_PONG_TIMEOUT_S: Final = 5.0
WS_PING: Final = "ping"
WS_PONG: Final = "pong"
#: WS login signs ``timestamp_s + "GET" + WS_LOGIN_PATH`` with the timestamp in SECONDS.
WS_LOGIN_METHOD: Final = "GET"
WS_LOGIN_PATH: Final = "/users/self/verify"
#: Login timestamps older than this are rejected (documented for WS login only).
TIMESTAMP_VALIDITY_S: Final = 30
WS_MAX_CONNECTS_PER_S: Final = 3
WS_MAX_OPS_PER_HOUR: Final = 480

CHANNEL_MARK_PRICE: Final = "mark-price"
CHANNEL_FUNDING_RATE: Final = "funding-rate"
CHANNEL_TICKERS: Final = "tickers"
CHANNEL_ORDERS: Final = "orders"
CHANNEL_POSITIONS: Final = "positions"
CHANNEL_ACCOUNT: Final = "account"

# --- Instrument types and request limits ---------------------------------------------------
INST_TYPE_SWAP: Final = "SWAP"
INST_TYPE_SPOT: Final = "SPOT"
MAX_BATCH_ORDERS: Final = 20
FUNDING_HISTORY_MAX_LIMIT: Final = 400
CANDLES_MAX_LIMIT: Final = 300
HISTORY_CANDLES_MAX_LIMIT: Final = 100
BILLS_MAX_LIMIT: Final = 100

#: ``bar`` parameter per candle interval. Bars of 6 h and more use the UTC-aligned ``utc``
#: variants (plain ``1D`` is aligned to UTC+8).
CANDLE_BAR_BY_INTERVAL_S: Final[dict[int, str]] = {
    60: "1m",
    180: "3m",
    300: "5m",
    900: "15m",
    1_800: "30m",
    3_600: "1H",
    7_200: "2H",
    14_400: "4H",
    21_600: "6Hutc",
    43_200: "12Hutc",
    86_400: "1Dutc",
}

#: Bills: type 8 = funding fee; subType 173 = expense (paid), 174 = income (received).
BILL_TYPE_FUNDING: Final = "8"
BILL_SUBTYPE_FUNDING_EXPENSE: Final = "173"
BILL_SUBTYPE_FUNDING_INCOME: Final = "174"

# --- Client order id (<okx>#order-book-trading-trade-post-place-order) ---------------------
CLIENT_ORDER_ID_MAX_LEN: Final = 32
#: ``clOrdId``: case-sensitive alphanumerics only (no ``-`` / ``_``), 1..32 characters.
CLIENT_ORDER_ID_PATTERN: Final = re.compile(r"\A[A-Za-z0-9]{1,32}\Z")

# --- Error codes (<okx>#error-code, fixture errors.json) -----------------------------------
CODE_OK: Final = "0"
CODE_ALL_FAILED: Final = "1"
CODE_PARTIAL: Final = "2"
#: Top-level codes under which per-item ``sCode`` must be read.
WRITE_RESULT_CODES: Final = frozenset({CODE_OK, CODE_ALL_FAILED, CODE_PARTIAL})

CODE_TIMESTAMP_EXPIRED: Final = "50102"
CODE_DUPLICATE_CLIENT_ORDER_ID: Final = "51016"
CODE_INSUFFICIENT_BALANCE: Final = "51008"
CODE_BELOW_MIN_SIZE: Final = "51020"
CODE_WS_LOGIN_FAILED: Final = "60009"

#: Throttled: 50011 rate limit, 50061 sub-account order limit, 50013 system busy (HTTP 429).
RATE_LIMIT_CODES: Final = frozenset({"50011", "50061", "50013"})
#: Request windows are 2 s; wait one window when throttled without a Retry-After.
RATE_LIMIT_RETRY_AFTER_S: Final = 2.0
#: Server-side failures: 50001 unavailable, 50026 system error; 50004 endpoint timeout and
#: 51149 order timed out leave a write's outcome UNKNOWN (look the order up before resending).
OUTCOME_UNKNOWN_CODES: Final = frozenset({"50004", "51149"})
UNAVAILABLE_CODES: Final = frozenset({"50001", "50026"}) | OUTCOME_UNKNOWN_CODES
#: 50100-50120: API key frozen / environment mismatch / timestamp expired / missing headers /
#: invalid key, signature or passphrase / IP not allowed; 60009 WS login failed.
AUTH_CODES: Final = frozenset({str(c) for c in range(50100, 50121)} | {CODE_WS_LOGIN_FAILED})
INSUFFICIENT_MARGIN_CODES: Final = frozenset({CODE_INSUFFICIENT_BALANCE})
#: Order violates instrument/account rules: parameter error, unknown instrument, price band,
#: account mode, min size, lot size, nothing to reduce.
INVALID_ORDER_CODES: Final = frozenset(
    {"51000", "51001", "51006", "51010", CODE_BELOW_MIN_SIZE, "51121", "51169"}
)
#: Cancel/query of an order that is done or unknown.
ORDER_NOT_FOUND_CODES: Final = frozenset({"51400", "51503", "51603"})

# --- Endpoints used by the client beyond the pack's tables ----------------------------------
#: ``GET /api/v5/trade/fills`` (transaction details, last 3 days; 60 req / 2 s per user):
#: rows ``instId, tradeId, ordId, clOrdId, billId, fillPx, fillSz, side, posSide, execType
#: (T taker / M maker), feeCcy, fee (negative = charged), ts, fillTime``.
PATH_FILLS: Final = "/api/v5/trade/fills"
#: ``GET /api/v5/account/leverage-info?instId=..&mgnMode=cross`` (20 req / 2 s per user).
PATH_LEVERAGE_INFO: Final = "/api/v5/account/leverage-info"
FILLS_MAX_LIMIT: Final = 100
ORDERS_PENDING_MAX_LIMIT: Final = 100
#: ``/account/bills`` covers the last 7 days; older funding is in ``bills-archive`` (3 months).
BILLS_RECENT_WINDOW_MS: Final = 7 * 24 * 3_600_000

#: Account level (``GET /api/v5/account/config`` ``acctLv``): 1 = Spot mode (no swaps),
#: 2 = Futures (single-currency margin), 3 = Multi-currency margin, 4 = Portfolio margin.
ACCOUNT_LEVEL_SPOT: Final = "1"
ACCOUNT_LEVEL_NAMES: Final[dict[str, str]] = {
    "1": "Spot mode",
    "2": "Futures mode",
    "3": "Multi-currency margin mode",
    "4": "Portfolio margin mode",
}
POS_MODE_NET: Final = "net_mode"
MGN_MODE_CROSS: Final = "cross"
TD_MODE_CASH: Final = "cash"

#: Per-endpoint request limits ``(requests, window_s)`` keyed by ``(method, path)``
#: (each endpoint's section and <okx>#overview-rate-limits: public ones per IP (+instId),
#: private per user (+instId)).
#: One bucket per endpoint here, shared over instruments: stricter than the venue's.
ENDPOINT_LIMITS: Final[dict[tuple[str, str], tuple[int, float]]] = {
    ("GET", PATH_SERVER_TIME): (10, 2.0),
    ("GET", PATH_INSTRUMENTS): (20, 2.0),
    ("GET", PATH_FUNDING_RATE): (10, 2.0),
    ("GET", PATH_FUNDING_RATE_HISTORY): (10, 2.0),
    ("GET", PATH_MARK_PRICE): (10, 2.0),
    ("GET", PATH_TICKER): (20, 2.0),
    ("GET", PATH_CANDLES): (40, 2.0),
    ("GET", PATH_HISTORY_CANDLES): (20, 2.0),
    ("POST", PATH_PLACE_ORDER): (60, 2.0),
    ("GET", PATH_ORDER): (60, 2.0),
    ("POST", PATH_CANCEL_ORDER): (60, 2.0),
    ("GET", PATH_ORDERS_PENDING): (60, 2.0),
    ("GET", PATH_FILLS): (60, 2.0),
    ("GET", PATH_POSITIONS): (10, 2.0),
    ("GET", PATH_BALANCE): (10, 2.0),
    ("GET", PATH_ACCOUNT_CONFIG): (5, 2.0),
    ("POST", PATH_SET_POSITION_MODE): (5, 2.0),
    ("POST", PATH_SET_LEVERAGE): (20, 2.0),
    ("GET", PATH_LEVERAGE_INFO): (20, 2.0),
    ("GET", PATH_BILLS): (5, 1.0),
    ("GET", PATH_BILLS_ARCHIVE): (5, 2.0),
}
#: The transport's own bucket only carries ``Retry-After`` penalties across endpoints; the
#: per-endpoint buckets above do the throttling.
GLOBAL_LIMIT: Final = (1_000, 2.0)
