"""Purple Flea constants: base URL, paths, field values, rate limit and assumed defaults.

The only source is the Purple Flea API as described in the project's SEEDS ("Purple Flea
trading API (as documented in the sources)", restated in ``venues/purpleflea/API_NOTES.md``):
a bearer-token HTTPS JSON API (keys prefixed ``pf_live_``), base ``…/v1``, and the
endpoint table reproduced below. Everything that table does not state is an **assumption**,
marked ``# ASSUMPTION`` here and listed in ``venues/purpleflea/API_NOTES.md``. No recorded
payload exists; ``tests/fixtures/purpleflea/`` holds payloads *constructed* from the table.
"""

from __future__ import annotations

from typing import Final

VENUE: Final = "purpleflea"

# --- base URL ---------------------------------------------------------------------------
# ASSUMPTION: the SEEDS give only "…/v1". purpleflea.com/api-reference (Bearer auth,
# pf_live_ keys) shows api.purpleflea.com; verify before trading live (API_NOTES.md §1).
REST_URL: Final = "https://api.purpleflea.com/v1"

# --- auth (SEEDS: bearer token, keys prefixed pf_live_) ----------------------------------
AUTH_HEADER: Final = "Authorization"
AUTH_SCHEME: Final = "Bearer"
API_KEY_PREFIX: Final = "pf_live_"

# --- paths (SEEDS endpoint table; relative to the /v1 base) ------------------------------
ORDERS: Final = "/orders"  # POST single order
ORDERS_PAIR: Final = "/orders/pair"  # POST atomic pair
ORDERS_PAIR_CLOSE: Final = "/orders/pair/{pair_id}/close"  # POST close all legs
PORTFOLIO_POSITIONS: Final = "/portfolio/positions"  # GET open positions
PORTFOLIO_RISK: Final = "/portfolio/risk"  # GET risk metrics incl. portfolio_beta
MARKET_BETAS: Final = "/market/betas"  # GET 63-day betas for all tickers
SIGNALS_FACTORS: Final = "/signals/factors"  # GET factor exposure scores
PRICES: Final = "/prices"  # GET ?symbols= → {prices: [{symbol, price}]}
PERPS_FUNDING_RATES: Final = "/perps/funding-rates"  # GET {rates: [{symbol, venue, rate}]}
PERPS_BASIS: Final = "/perps/basis"  # GET ?symbol= → {spot_price, venues: [{venue, basis_pct}]}
PERPS_ORDER: Final = "/perps/order"  # POST perp order → fill_price

# --- documented field values -------------------------------------------------------------
EXECUTION_MODE_ATOMIC_PAIR: Final = "atomic_pair"
PAIR_LEG_LONG: Final = "long"
PAIR_LEG_SHORT: Final = "short"
SIDE_BUY: Final = "buy"
SIDE_SELL: Final = "sell"
ORDER_TYPE_MARKET: Final = "market"
ORDER_TYPE_LIMIT: Final = "limit"

# --- assumed field names (not in the SEEDS; API_NOTES.md §3) -----------------------------
STRATEGY_TAG_FIELD: Final = "strategy_tag"  # ASSUMPTION: "a strategy tag"
METADATA_CLIENT_ORDER_ID: Final = "client_order_id"  # our key inside the free-form metadata
ORDER_ID_FIELD: Final = "order_id"  # ASSUMPTION: optional in order answers
PAIR_FILLED_AT_FIELD: Final = "filled_at"  # ASSUMPTION: the one timestamp of both legs
PRICES_SYMBOLS_SEPARATOR: Final = ","  # ASSUMPTION: ?symbols=BTC,ETH

# --- rate limit -----------------------------------------------------------------------------
# ASSUMPTION: the SEEDS state none. purpleflea.com/api-reference lists the trading API at
# 120 requests/min per key (burst 200); every endpoint is taken as weight 1.
REQUESTS_PER_MIN: Final = 120
RATE_WINDOW_S: Final = 60.0
REQUEST_WEIGHT: Final = 1
DEFAULT_RETRY_AFTER_S: Final = 1.0  # a 429 without a usable Retry-After header, seconds

# --- assumed defaults for what the API does not report -------------------------------------
# ASSUMPTION: the accepted values of the perp order's ``venue`` are not documented;
# purpleflea.com says its perps run on Hyperliquid.
DEFAULT_PERP_VENUE: Final = "hyperliquid"
PERCENT: Final = 100  # basis_pct is a percentage: (perp − spot) / spot × 100 (ASSUMPTION)
