"""dYdX v4 Indexer constants: URLs, paths, limits, candle resolutions, websocket policy.

Source: the dYdX v4 Indexer's documentation in the dydxprotocol/v4-chain repository, ``<api>`` =
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/api-documentation.md
(base URLs, GetPerpetualMarkets, GetHistoricalFunding, GetCandles) and ``<ws>`` =
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/websocket-documentation.md
(``v4_markets``); the Indexer source (``<comlink>`` =
https://github.com/dydxprotocol/v4-chain/tree/main/indexer/services/comlink/src: rate limits, error
bodies); the dYdX docs https://docs.dydx.exchange (source
https://github.com/dydxprotocol/v4-documentation, ``docs/pages/``: ``concepts/trading/funding.mdx``,
``quantums.mdx``, ``limits/rate-limits.mdx``). Market data only: the Indexer needs no
authentication.

Symbols: an :class:`~venues.model.InstrumentId` of this venue keeps the dYdX **ticker** as its
symbol (``InstrumentId("dydx", PERP, "BTC-USD")``), exactly as the Indexer spells it in paths,
query strings and websocket maps; :func:`venues.model.base_asset` maps it to ``BTC`` (suffix
``-USD``), which is how the agent matches it with ``BTCUSDT`` on other venues.
"""

from __future__ import annotations

from typing import Final

VENUE: Final = "dydx"

# --- base URLs (<api>): the REST base is without /v4, paths carry it (as the official client)
REST_URL: Final = "https://indexer.dydx.trade"
WS_URL: Final = "wss://indexer.dydx.trade/v4/ws"
TESTNET_REST_URL: Final = "https://indexer.v4testnet.dydx.exchange"
TESTNET_WS_URL: Final = "wss://indexer.v4testnet.dydx.exchange/v4/ws"

# --- endpoints (<api>) ----------------------------------------------------------------
PERPETUAL_MARKETS: Final = "/v4/perpetualMarkets"
HISTORICAL_FUNDING: Final = "/v4/historicalFunding/{ticker}"
CANDLES: Final = "/v4/candles/perpetualMarkets/{ticker}"

PAGE_LIMIT: Final = 1000
"""Largest ``limit`` of historicalFunding and candles (<api>; more → HTTP 400)."""

FUNDING_INTERVAL_S: Final = 3_600
"""Funding ticks at the start of every hour and every Indexer rate is a 1-hour rate (docs
"Funding", ``concepts/trading/funding.mdx``)."""

USDC_ATOMIC_RESOLUTION: Final = -6
"""Atomic resolution of the quote asset USDC, in the subtick formula (docs "Quantums",
``concepts/trading/quantums.mdx``)."""

QUOTE_ASSET: Final = "USDC"

CANDLE_RESOLUTIONS: Final[dict[int, str]] = {
    60: "1MIN",
    300: "5MINS",
    900: "15MINS",
    1_800: "30MINS",
    3_600: "1HOUR",
    14_400: "4HOURS",
    86_400: "1DAY",
}
"""Candle ``resolution`` code per bar length in seconds (<api> GetCandles)."""

LISTED_STATUSES: Final = frozenset({"ACTIVE", "PAUSED", "CANCEL_ONLY", "POST_ONLY"})
"""Market statuses :meth:`load_instruments` keeps; ``INITIALIZING`` and ``FINAL_SETTLEMENT``
markets have no live book and are left out (<api> GetPerpetualMarkets, market status)."""

# --- rate limits (<comlink>, docs rate-limits.mdx): one bucket per group, per IP ------
RATE_WINDOW_S: Final = 10.0
DEFAULT_REQUESTS_PER_WINDOW: Final = 100  # markets and everything without its own bucket
FUNDING_REQUESTS_PER_WINDOW: Final = 100  # historicalFunding has its own bucket
CANDLES_REQUESTS_PER_WINDOW: Final = 1_000
RETRY_AFTER_HEADER: Final = "Retry-After"  # milliseconds on the Indexer, not seconds
DEFAULT_RETRY_AFTER_S: Final = 1.0

# --- websocket (<ws>) -----------------------------------------------------------------
MARKETS_CHANNEL: Final = "v4_markets"
WATCHDOG_S: Final = 60.0
"""No frame for this long → reconnect. ``v4_markets`` pushes oracle prices every few seconds
and trading fields every 30 s (the Indexer refreshes ``nextFundingRate`` every 30 s), so a
silent minute means a dead feed."""
PROTOCOL_PING_INTERVAL_S: Final = 20.0
PROTOCOL_PING_TIMEOUT_S: Final = 10.0
"""The server pings every 30 s and closes without a pong within 10 s (code 1011); the
``websockets`` library answers those pings itself. Our own ping frames detect a dead TCP path
from the client side. A JSON ``{"type":"ping"}`` gets no reply, so none is sent (Indexer
websocket server, ``indexer/services/socks`` in v4-chain)."""
