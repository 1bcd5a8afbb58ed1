"""Hyperliquid (HyperCore perpetuals) constants: URLs, limits, heartbeat, formats.

Source: the Hyperliquid GitBook, API pages below ``<api>`` =
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api: "Info endpoint"
(``/info-endpoint``, ``/info-endpoint/perpetuals``), "Exchange endpoint" (``/exchange-endpoint``),
"Signing" (``/signing``), "Nonces and API wallets" (``/nonces-and-api-wallets``), "Websocket"
(``/websocket``, ``/websocket/timeouts-and-heartbeats``), "Rate limits and user limits"
(``/rate-limits-and-user-limits``), "Error responses" (``/error-responses``), "Tick and lot size"
(``/tick-and-lot-size``); "Trading → Funding"
https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding; and the official SDK
https://github.com/hyperliquid-dex/hyperliquid-python-sdk (``hyperliquid/utils/constants.py``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

VENUE: Final = "hyperliquid"

# --- base URLs (<api>/websocket; SDK constants) ---
# The network also changes signing: phantom-agent source "a"/"b".
MAINNET_REST_URL: Final = "https://api.hyperliquid.xyz"
TESTNET_REST_URL: Final = "https://api.hyperliquid-testnet.xyz"
MAINNET_WS_URL: Final = "wss://api.hyperliquid.xyz/ws"
TESTNET_WS_URL: Final = "wss://api.hyperliquid-testnet.xyz/ws"
INFO_PATH: Final = "/info"
EXCHANGE_PATH: Final = "/exchange"
WS_PATH: Final = "/ws"

# --- signing (<api>/signing) ---
PHANTOM_AGENT_SOURCE_MAINNET: Final = "a"
PHANTOM_AGENT_SOURCE_TESTNET: Final = "b"
L1_DOMAIN_NAME: Final = "Exchange"
L1_DOMAIN_VERSION: Final = "1"
L1_CHAIN_ID: Final = 1337
ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
USER_SIGNED_DOMAIN_NAME: Final = "HyperliquidSignTransaction"
USER_SIGNED_CHAIN_ID_HEX: Final = "0x66eee"  # the SDK's ``signatureChainId``
WIRE_DECIMALS: Final = 8  # float_to_wire: at most 8 decimals, trailing zeros stripped

# --- nonces (<api>/nonces-and-api-wallets): ms timestamps, inside (block time − 2 d, + 1 d) ---
NONCE_MAX_PAST_MS: Final = 2 * 86_400_000
NONCE_MAX_FUTURE_MS: Final = 86_400_000
NONCES_KEPT_PER_SIGNER: Final = 100

# --- client order ids (<api>/exchange-endpoint): cloid = "0x" + 32 hex digits (128 bit) ---
CLOID_PREFIX: Final = "0x"
CLOID_HEX_DIGITS: Final = 32

# --- instruments and funding (<api>/info-endpoint/perpetuals, /tick-and-lot-size, Funding) ---
QUOTE_ASSET: Final = "USDC"  # every perp settles in USDC (collateralToken 0)
PERP_PRICE_MAX_DECIMALS: Final = 6  # price decimals ≤ 6 − szDecimals
PRICE_MAX_SIG_FIGS: Final = 5  # non-integer prices ≤ 5 significant figures
MIN_ORDER_NOTIONAL_USD: Final = Decimal(10)
FUNDING_INTERVAL_S: Final = 3_600  # paid every full UTC hour, rate is per hour
FUNDING_INTEREST_RATE_PER_HOUR: Final = 0.0000125  # 0.01 % / 8 h; the funding floor in calm markets
FUNDING_CAP_PER_HOUR: Final = 0.04
HIP3_DEX_SEPARATOR: Final = ":"  # builder-deployed (HIP-3) perps are named "dex:COIN"
SPOT_KEY_PREFIX: Final = "@"  # allMids spot keys: "@107"; "PURR/USDC" also spot
FUNDING_HISTORY_MAX_ROWS: Final = 500  # per response, page with startTime = last.time + 1
CANDLES_MAX_AVAILABLE: Final = 5_000

# --- IP rate limits, REST and WS together (<api>/rate-limits-and-user-limits) ---
IP_WEIGHT_PER_MIN: Final = 1_200
EXCHANGE_BASE_WEIGHT: Final = 1  # + floor(batch_length / 40)
EXCHANGE_BATCH_WEIGHT_DIVISOR: Final = 40
INFO_WEIGHT_DEFAULT: Final = 20
INFO_WEIGHT: Final[dict[str, int]] = {
    "l2Book": 2,
    "allMids": 2,
    "clearinghouseState": 2,
    "orderStatus": 2,
    "spotClearinghouseState": 2,
    "exchangeStatus": 2,
    "userRole": 60,
}
HTTP_STATUS_RATE_LIMITED: Final = 429

# --- address (per-user) limits on actions (<api>/rate-limits-and-user-limits) ---
ADDRESS_INITIAL_REQUEST_BUDGET: Final = 10_000  # + 1 request per USDC of cumulative volume
ADDRESS_EXHAUSTED_INTERVAL_S: Final = 10.0  # one request per 10 s once the budget is spent
MAX_OPEN_ORDERS_DEFAULT: Final = 1_000

# --- WebSocket (<api>/websocket, /websocket/timeouts-and-heartbeats, rate limits) ---
WS_PING: Final[dict[str, str]] = {"method": "ping"}
WS_PONG_CHANNEL: Final = "pong"
WS_SERVER_IDLE_TIMEOUT_S: Final = 60.0  # server closes after 60 s without sending to us
WS_PING_INTERVAL_S: Final = 50.0  # the SDK's interval; keeps us inside the 60 s window
WS_CONNECTED_TEXT: Final = "Websocket connection established."  # non-JSON first frame
WS_MAX_CONNECTIONS: Final = 10
WS_MAX_NEW_CONNECTIONS_PER_MIN: Final = 30
WS_MAX_SUBSCRIPTIONS: Final = 1_000
WS_MAX_UNIQUE_USERS: Final = 10
WS_MAX_MESSAGES_PER_MIN: Final = 2_000
WS_MAX_INFLIGHT_POSTS: Final = 100

# --- error text prefixes (<api>/error-responses; live strings carry suffixes like " asset=4") ---
ERR_RATE_LIMIT_PREFIXES: Final = ("Too many cumulative requests sent", "Too many requests")
ERR_INSUFFICIENT_MARGIN_PREFIXES: Final = ("Insufficient margin",)
ERR_DUPLICATE_CLOID_PREFIXES: Final = ("Order has duplicate cloid", "Duplicate cloid")
ERR_POST_ONLY_CROSS_PREFIXES: Final = ("Post only order would have immediately matched",)
ERR_INVALID_ORDER_PREFIXES: Final = (
    "Price must be divisible by tick size",
    "Order must have minimum value",
    "Order has invalid price",
    "Order has invalid size",
    "Reduce only order would increase position",
    "Order could not immediately match",
    "Invalid TP/SL price",
    "No liquidity available for market order",
    "Order price too far from oracle",
    "Order would cause position to exceed margin tier limit",
    "Order would increase open interest",
    "Order rejected due to price more aggressive than oracle",
)
ERR_ORDER_NOT_FOUND_PREFIXES: Final = ("Order was never placed, already canceled, or filled",)
ERR_AUTH_PREFIXES: Final = (
    "User or API Wallet",
    "Unable to recover signer",
    "Must deposit before performing actions",
)
ERR_NONCE_PREFIXES: Final = ("Invalid nonce",)
