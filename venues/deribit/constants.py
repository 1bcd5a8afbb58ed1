"""Deribit API v2 constants: URLs, JSON-RPC methods, credit limits and error-code sets.

Source: the Deribit API v2 docs, https://docs.deribit.com/ — "JSON-RPC" and "Authentication"
(https://docs.deribit.com/#json-rpc, https://docs.deribit.com/#authentication), the method
pages under https://docs.deribit.com/#public-get_instruments etc., "Rate Limits"
(https://docs.deribit.com/#rate-limits) and "RPC Error Codes"
(https://docs.deribit.com/#rpc-error-codes).
"""

from __future__ import annotations

from typing import Final

VENUE: Final = "deribit"

# --- URLs (https://docs.deribit.com/#json-rpc) -------------------------------------------
REST_BASE_URL: Final = "https://www.deribit.com"
REST_BASE_URL_TEST: Final = "https://test.deribit.com"
#: Every method is ``POST {REST_BASE_URL}{API_PATH}/{method}`` with the JSON-RPC object as body.
API_PATH: Final = "/api/v2"
WS_URL: Final = "wss://www.deribit.com/ws/api/v2"
WS_URL_TEST: Final = "wss://test.deribit.com/ws/api/v2"
JSONRPC: Final = "2.0"

# --- methods ------------------------------------------------------------------------------
AUTH: Final = "public/auth"
GET_TIME: Final = "public/get_time"
TEST: Final = "public/test"
SET_HEARTBEAT: Final = "public/set_heartbeat"
PUBLIC_SUBSCRIBE: Final = "public/subscribe"
PRIVATE_SUBSCRIBE: Final = "private/subscribe"
GET_INSTRUMENTS: Final = "public/get_instruments"
TICKER: Final = "public/ticker"
GET_INDEX_PRICE: Final = "public/get_index_price"
GET_DELIVERY_PRICES: Final = "public/get_delivery_prices"
GET_FUNDING_RATE_HISTORY: Final = "public/get_funding_rate_history"
GET_CHART_DATA: Final = "public/get_tradingview_chart_data"
BUY: Final = "private/buy"
SELL: Final = "private/sell"
CANCEL_BY_LABEL: Final = "private/cancel_by_label"
GET_ORDER_STATE_BY_LABEL: Final = "private/get_order_state_by_label"
GET_OPEN_ORDERS_BY_CURRENCY: Final = "private/get_open_orders_by_currency"
GET_USER_TRADES_BY_ORDER: Final = "private/get_user_trades_by_order"
GET_USER_TRADES_BY_CURRENCY: Final = "private/get_user_trades_by_currency"
GET_POSITIONS: Final = "private/get_positions"
GET_ACCOUNT_SUMMARY: Final = "private/get_account_summary"
GET_TRANSACTION_LOG: Final = "private/get_transaction_log"

#: Methods that change nothing (sent again on a retryable error); every other is sent once.
READ_ONLY_PREFIXES: Final = ("public/", "private/get_")

# --- auth (https://docs.deribit.com/#public-auth) -----------------------------------------
GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"
GRANT_CLIENT_SIGNATURE: Final = "client_signature"
GRANT_REFRESH_TOKEN: Final = "refresh_token"  # noqa: S105 (a grant name, not a secret)
GRANTS: Final = (GRANT_CLIENT_CREDENTIALS, GRANT_CLIENT_SIGNATURE)
#: Renew the access token this many seconds before ``expires_in`` runs out.
TOKEN_RENEW_MARGIN_S: Final = 60.0
#: A ``client_signature`` timestamp is accepted for 60 s.
SIGNATURE_VALIDITY_S: Final = 60
HMAC_SCHEME: Final = "deri-hmac-sha256"

# --- instruments --------------------------------------------------------------------------
KIND_FUTURE: Final = "future"
KIND_OPTION: Final = "option"
SETTLEMENT_PERPETUAL: Final = "perpetual"
INSTRUMENT_TYPE_LINEAR: Final = "linear"
INSTRUMENT_TYPE_INVERSE: Final = "reversed"
#: ``label`` (our client order id) is free text of at most 64 characters.
LABEL_MAX_LEN: Final = 64
#: Perpetual funding accrues continuously; ``get_funding_rate_history`` reports it per hour.
FUNDING_INTERVAL_S: Final = 3_600
#: Currencies whose perpetuals are listed (``get_instruments`` takes one currency per call).
PERP_CURRENCIES: Final = ("BTC", "ETH", "USDC")
#: ``get_tradingview_chart_data`` ``resolution`` per bar length (minutes as text, ``1D``).
CHART_RESOLUTION_BY_INTERVAL_S: Final[dict[int, str]] = {
    60: "1",
    180: "3",
    300: "5",
    600: "10",
    900: "15",
    1_800: "30",
    3_600: "60",
    7_200: "120",
    10_800: "180",
    21_600: "360",
    43_200: "720",
    86_400: "1D",
}
CHART_MAX_BARS: Final = 5_000
#: Quote currencies counted 1:1 as USD (fees of linear instruments are paid in them).
USD_LIKE: Final = frozenset({"USD", "USDC", "USDT"})

# --- websocket (https://docs.deribit.com/#public-set_heartbeat, #subscriptions) ----------
#: ``public/set_heartbeat`` interval, seconds (Deribit's minimum is 10).
HEARTBEAT_INTERVAL_S: Final = 10
HEARTBEAT_MIN_S: Final = 10
HEARTBEAT_METHOD: Final = "heartbeat"
HEARTBEAT_TEST_REQUEST: Final = "test_request"
SUBSCRIPTION_METHOD: Final = "subscription"
CHANNEL_TICKER: Final = "ticker.{instrument}.{interval}"
CHANNEL_MARKPRICE_OPTIONS: Final = "markprice.options.{index_name}"
CHANNEL_USER_ORDERS: Final = "user.orders.{kind}.{currency}.{interval}"
CHANNEL_USER_TRADES: Final = "user.trades.{kind}.{currency}.{interval}"
CHANNEL_USER_PORTFOLIO: Final = "user.portfolio.{currency}"
#: ``raw`` needs an authorised connection; public streams use ``100ms``.
INTERVAL_PUBLIC: Final = "100ms"
INTERVAL_RAW: Final = "raw"

# --- credit-based rate limits (https://docs.deribit.com/#rate-limits) ---------------------
#: Non-matching-engine requests: each costs 500 credits from a pool of 50,000 refilled at
#: 10,000 credits/s (≈ 20 requests/s sustained, bursts of 100). The account's own numbers are
#: in ``get_account_summary`` ``limits``.
NON_MATCHING_COST_CREDITS: Final = 500
NON_MATCHING_POOL_CREDITS: Final = 50_000
NON_MATCHING_REFILL_CREDITS_S: Final = 10_000
#: Matching-engine requests (buy, sell, cancel*): the lowest tier, 5 requests/s, burst 20.
MATCHING_ENGINE_RATE_S: Final = 5.0
MATCHING_ENGINE_BURST: Final = 20
MATCHING_ENGINE_METHODS: Final = frozenset({BUY, SELL, CANCEL_BY_LABEL})
#: Methods with a limit of their own: ``(requests, window_s)``.
METHOD_LIMITS: Final[dict[str, tuple[int, float]]] = {
    GET_INSTRUMENTS: (1, 1.0),
    GET_TRANSACTION_LOG: (1, 1.0),
}
#: ``public/get_delivery_prices`` rows per page (one a day, newest first; the maximum is 1000).
DELIVERY_PRICES_PAGE: Final = 31
#: The inverse options' delivery index (their ``price_index``) of a base coin: ``btc_usd``.
OPTION_INDEX_FORMAT: Final = "{base}_usd"
#: ``private/get_transaction_log`` rows per page (its maximum).
TRANSACTION_LOG_PAGE: Final = 250
#: ``10028`` carries no wait: credits refill within a second.
RATE_LIMIT_RETRY_AFTER_S: Final = 1.0

# --- error codes (https://docs.deribit.com/#rpc-error-codes; fixture errors.json) ---------
CODE_AUTHORIZATION_REQUIRED: Final = 10000
CODE_NOT_ENOUGH_FUNDS: Final = 10009
CODE_TOO_MANY_REQUESTS: Final = 10028
CODE_ORDER_NOT_FOUND: Final = 10004
CODE_UNAUTHORIZED: Final = 13009
CODE_NON_UNIQUE_LABEL: Final = 13032
CODE_POST_ONLY_REJECT: Final = 11054  # post_only_reject: reject_post_only hit (a re-quote)
CODE_TIMED_OUT: Final = 13888
#: 10028 too_many_requests, 10047 matching_engine_queue_full, 10066 too_many_concurrent.
RATE_LIMIT_CODES: Final = frozenset({CODE_TOO_MANY_REQUESTS, 10047, 10066})
#: 10000 authorization_required, 13004 invalid_credentials, 13009 unauthorized, 13021
#: forbidden, 13403 scope_exceeded.
AUTH_CODES: Final = frozenset({CODE_AUTHORIZATION_REQUIRED, 13004, CODE_UNAUTHORIZED, 13021, 13403})
#: Retry later; a write's outcome is unknown: 10040 retry, 10041 settlement_in_progress,
#: 11051 system_maintenance, 13028 temporarily_unavailable.
UNAVAILABLE_CODES: Final = frozenset({10040, 10041, 11051, 13028})
#: Order lookups/cancels of an unknown or finished order: 10004 order_not_found, 10010
#: already_closed, 11008 already_filled, 11044 not_open_order.
ORDER_NOT_FOUND_CODES: Final = frozenset({CODE_ORDER_NOT_FOUND, 10010, 11008, 11044})
INSUFFICIENT_MARGIN_CODES: Final = frozenset({CODE_NOT_ENOUGH_FUNDS})
#: The order breaks the instrument's rules or the request is malformed: 10002 qty_too_low,
#: 10005/10007 price_too_low/high, 10012/13019 book closed, 10020/13020 unknown instrument,
#: 10043 price_wrong_tick, 11029/11043/11049/11050 invalid arguments, 11054
#: post_only_reject, JSON-RPC -32602 invalid params, -32600 request too large, -32000
#: missing params.
INVALID_ORDER_CODES: Final = frozenset(
    {10002, 10005, 10007, 10012, 13019, 10020, 13020, 10043, 11029, 11043, 11049, 11050, 11054}
    | {-32602, -32600, -32000}
)
