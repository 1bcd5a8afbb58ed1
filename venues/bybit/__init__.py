"""Bybit v5 adapter (unified account: USDT linear perpetuals and spot).

``constants`` URLs, paths, limits and retCode sets; ``auth`` the pure signing functions;
``parse``/``parse_account``/``parse_exec`` REST and WS payloads → ``venues.model`` value types;
``book`` the WebSocket ``tickers`` snapshot/delta merger and private-stream parsers; ``rest``
one method per endpoint (signing and retCode mapping); ``orders`` the order body; ``history``
backwards paging of funding history and klines; ``account_setup`` position/margin mode and
leverage; ``streams`` the websocket streams; ``client`` :class:`BybitVenue` and
``create_venue``.
"""
