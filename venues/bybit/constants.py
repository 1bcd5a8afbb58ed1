"""Bybit v5 constants: URLs, paths, WebSocket heartbeat, limits and retCode sets.

Source: the Bybit v5 API docs, by page below ``<v5>`` = https://bybit-exchange.github.io/docs/v5:
``/guide`` ("Integration Guidance": base URLs, authentication), ``/ws/connect`` (websocket
URLs, auth, heartbeat), ``/rate-limit``, ``/error``, ``/order/create-order``,
``/market/instrument`` and the other endpoint pages; and the official SDK pybit
(https://github.com/bybit-exchange/pybit, ``pybit/_http_manager.py``). Scope:
``category=linear`` (USDT perps) and ``category=spot``.
"""

from __future__ import annotations

import re
from typing import Final

VENUE: Final = "bybit"

# --- REST base URLs (<v5>/guide) -----------------------------------------------------------
REST_BASE_URL: Final = "https://api.bybit.com"
REST_BASE_URL_ALT: Final = "https://api.bytick.com"
REST_BASE_URL_TESTNET: Final = "https://api-testnet.bybit.com"
#: Demo trading (mainnet demo account); public market data comes from mainnet.
REST_BASE_URL_DEMO: Final = "https://api-demo.bybit.com"

# --- REST paths (<v5>/market/..., /order/..., /position, /account/...) ---------------------
PATH_SERVER_TIME: Final = "/v5/market/time"
PATH_INSTRUMENTS: Final = "/v5/market/instruments-info"
PATH_TICKERS: Final = "/v5/market/tickers"
PATH_FUNDING_HISTORY: Final = "/v5/market/funding/history"
PATH_KLINE: Final = "/v5/market/kline"
PATH_MARK_PRICE_KLINE: Final = "/v5/market/mark-price-kline"
PATH_ORDER_CREATE: Final = "/v5/order/create"
PATH_ORDER_CREATE_BATCH: Final = "/v5/order/create-batch"
PATH_ORDER_CANCEL: Final = "/v5/order/cancel"
PATH_ORDER_CANCEL_ALL: Final = "/v5/order/cancel-all"
PATH_ORDER_REALTIME: Final = "/v5/order/realtime"
PATH_ORDER_HISTORY: Final = "/v5/order/history"
PATH_EXECUTION_LIST: Final = "/v5/execution/list"
PATH_POSITION_LIST: Final = "/v5/position/list"
PATH_SET_LEVERAGE: Final = "/v5/position/set-leverage"
PATH_SWITCH_POSITION_MODE: Final = "/v5/position/switch-mode"
PATH_WALLET_BALANCE: Final = "/v5/account/wallet-balance"
PATH_SET_MARGIN_MODE: Final = "/v5/account/set-margin-mode"
PATH_TRANSACTION_LOG: Final = "/v5/account/transaction-log"

CATEGORY_LINEAR: Final = "linear"
CATEGORY_SPOT: Final = "spot"
ACCOUNT_TYPE_UNIFIED: Final = "UNIFIED"
#: transaction-log ``type`` of a USDT-perp funding settlement (``funding`` > 0 = received).
TRANSACTION_TYPE_SETTLEMENT: Final = "SETTLEMENT"
CONTRACT_TYPE_LINEAR_PERPETUAL: Final = "LinearPerpetual"
STATUS_TRADING: Final = "Trading"

# --- Signing headers (<v5>/guide "Authentication") -----------------------------------------
HEADER_API_KEY: Final = "X-BAPI-API-KEY"
HEADER_TIMESTAMP: Final = "X-BAPI-TIMESTAMP"
HEADER_SIGN: Final = "X-BAPI-SIGN"
HEADER_RECV_WINDOW: Final = "X-BAPI-RECV-WINDOW"
HEADER_SIGN_TYPE: Final = "X-BAPI-SIGN-TYPE"
SIGN_TYPE_HMAC: Final = "2"  # what pybit sends for HMAC keys
DEFAULT_RECV_WINDOW_MS: Final = 5_000
#: The server accepts ``server_time - recv_window <= timestamp < server_time + 1000``.
MAX_CLOCK_AHEAD_MS: Final = 1_000
WS_AUTH_PREFIX: Final = "GET/realtime"

# --- Rate limits (<v5>/rate-limit) ---------------------------------------------------------
HEADER_LIMIT_STATUS: Final = "X-Bapi-Limit-Status"  # requests remaining in the window
HEADER_LIMIT: Final = "X-Bapi-Limit"  # limit of the window
HEADER_LIMIT_RESET_MS: Final = "X-Bapi-Limit-Reset-Timestamp"  # epoch ms when it resets
IP_LIMIT_REQUESTS: Final = 600
IP_LIMIT_WINDOW_S: Final = 5.0
#: After HTTP 403 "access too frequent" the IP is banned; wait at least this long.
IP_BAN_WAIT_S: Final = 600.0
#: Wait used for retCode 10006 when the reset header is absent (per-UID windows are 1 s).
DEFAULT_RETRY_AFTER_S: Final = 1.0
ORDER_CREATE_PER_S_LINEAR: Final = 10
ORDER_CREATE_PER_S_SPOT: Final = 20
#: Batch orders per request: the docs disagree (20 vs 10); 10 is safe for linear and spot.
MAX_BATCH_ORDERS: Final = 10

# --- Pagination / query limits (each endpoint's page under <v5>) ---------------------------
INSTRUMENTS_PAGE_LIMIT: Final = 1_000  # max ``limit``; linear has > 500 symbols: use cursor
FUNDING_HISTORY_LIMIT: Final = 200
KLINE_LIMIT: Final = 1_000
ORDER_REALTIME_LIMIT: Final = 50
POSITION_LIST_LIMIT: Final = 200
TRANSACTION_LOG_LIMIT: Final = 50
TRANSACTION_LOG_MAX_WINDOW_MS: Final = 7 * 24 * 3_600_000

#: Kline ``interval`` codes → bar length, seconds (``M`` is calendar months: not supported).
KLINE_INTERVALS_S: Final[dict[str, int]] = {
    "1": 60, "3": 180, "5": 300, "15": 900, "30": 1_800, "60": 3_600, "120": 7_200,
    "240": 14_400, "360": 21_600, "720": 43_200, "D": 86_400, "W": 604_800,
}  # fmt: skip

# --- Client order id (orderLinkId) rules (<v5>/order/create-order) -------------------------
ORDER_LINK_ID_MAX_LEN: Final = 36
ORDER_LINK_ID_RE: Final = re.compile(r"^[0-9A-Za-z_-]{1,36}$")

# --- WebSocket (<v5>/ws/connect, /websocket/public/ticker) ---------------------------------
WS_PUBLIC_LINEAR_URL: Final = "wss://stream.bybit.com/v5/public/linear"
WS_PUBLIC_SPOT_URL: Final = "wss://stream.bybit.com/v5/public/spot"
WS_PRIVATE_URL: Final = "wss://stream.bybit.com/v5/private"
WS_TRADE_URL: Final = "wss://stream.bybit.com/v5/trade"
WS_PUBLIC_LINEAR_URL_TESTNET: Final = "wss://stream-testnet.bybit.com/v5/public/linear"
WS_PUBLIC_SPOT_URL_TESTNET: Final = "wss://stream-testnet.bybit.com/v5/public/spot"
WS_PRIVATE_URL_TESTNET: Final = "wss://stream-testnet.bybit.com/v5/private"
#: Demo accounts use mainnet public streams and this private host (no trade stream).
WS_PRIVATE_URL_DEMO: Final = "wss://stream-demo.bybit.com/v5/private"
#: Client heartbeat ``{"req_id": ..., "op": "ping"}``; Bybit recommends every 20 s.
WS_PING_INTERVAL_S: Final = 20.0
#: Without pings or data the server drops a connection after about this long.
WS_SERVER_IDLE_TIMEOUT_S: Final = 600.0
WS_OP_PING: Final = "ping"
WS_OP_PONG: Final = "pong"
WS_OP_AUTH: Final = "auth"
WS_OP_SUBSCRIBE: Final = "subscribe"
WS_TOPIC_TICKERS: Final = "tickers.{symbol}"
WS_TOPIC_ORDER: Final = "order"
WS_TOPIC_EXECUTION: Final = "execution"
WS_TOPIC_POSITION: Final = "position"
WS_TOPIC_WALLET: Final = "wallet"
WS_SPOT_MAX_ARGS_PER_SUBSCRIBE: Final = 10
WS_MAX_ARGS_CHARS_PER_CONNECTION: Final = 21_000
#: How far in the future the ``expires`` of a WS auth request is set, ms.
WS_AUTH_EXPIRES_AFTER_MS: Final = 10_000

# --- retCodes (<v5>/error; fixture errors.json) --------------------------------------------
RET_OK: Final = 0
CLOCK_SKEW_CODES: Final = frozenset({10002})  # resync server time, re-sign
RATE_LIMIT_CODES: Final = frozenset({10006})
AUTH_CODES: Final = frozenset({10003, 10004, 10005, 10010})
UNAVAILABLE_CODES: Final = frozenset({10016})
ORDER_NOT_FOUND_CODES: Final = frozenset({110001, 170213})
DUPLICATE_ORDER_LINK_ID_CODES: Final = frozenset({110072, 170141})
INSUFFICIENT_BALANCE_CODES: Final = frozenset({110004, 110007, 110012, 170131})
INVALID_ORDER_CODES: Final = frozenset(
    {10001, 110003, 110017, 110094, 170121, 170130, 170136, 170137, 170140}
)
#: "Position mode / margin mode / leverage not modified": the wanted state already holds.
NOT_MODIFIED_CODES: Final = frozenset({110025, 110026, 110043})
#: pybit's default retry set (``retry_codes``), for reference.
PYBIT_RETRY_CODES: Final = frozenset({10002, 10006, 30034, 30035, 130035, 130150})
