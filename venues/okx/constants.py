"""OKX API v5 constants: URLs, paths, WebSocket heartbeat, limits and error-code sets.

Source: the offline pack ``/work/shared/venues/okx-v5.md`` (okx.com/docs-v5/en, sections
"Overview", "Public data", "Order book trading", "Trading account", "Error code").
Scope: USDT-margined perpetual swaps (``instType=SWAP``) and spot (``instType=SPOT``).
"""

from __future__ import annotations

import re
from typing import Final

VENUE: Final = "okx"

# --- REST (okx-v5.md §1) -------------------------------------------------------------------
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

# Public market data (okx-v5.md §3)
PATH_SERVER_TIME: Final = "/api/v5/public/time"
PATH_INSTRUMENTS: Final = "/api/v5/public/instruments"
PATH_FUNDING_RATE: Final = "/api/v5/public/funding-rate"
PATH_FUNDING_RATE_HISTORY: Final = "/api/v5/public/funding-rate-history"
PATH_MARK_PRICE: Final = "/api/v5/public/mark-price"
PATH_CANDLES: Final = "/api/v5/market/candles"
PATH_HISTORY_CANDLES: Final = "/api/v5/market/history-candles"
PATH_MARK_PRICE_CANDLES: Final = "/api/v5/market/mark-price-candles"
PATH_TICKER: Final = "/api/v5/market/ticker"

# Private (okx-v5.md §4)
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

# --- WebSocket (okx-v5.md §1, §5) --------------------------------------------------------
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

# --- Client order id (okx-v5.md §4, §7) ------------------------------------------------------
CLIENT_ORDER_ID_MAX_LEN: Final = 32
#: ``clOrdId``: case-sensitive alphanumerics only (no ``-`` / ``_``), 1..32 characters.
CLIENT_ORDER_ID_PATTERN: Final = re.compile(r"\A[A-Za-z0-9]{1,32}\Z")

# --- Error codes (okx-v5.md §6, fixture errors.json) ---------------------------------------
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
