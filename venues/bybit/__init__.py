"""Bybit v5 adapter (USDT linear perpetuals and spot): constants, signing and parsing.

``constants`` holds URLs, paths, limits and retCode sets; ``auth`` the pure signing
functions; ``parse`` REST payloads → ``venues.model`` value types; ``book`` the WebSocket
``tickers`` snapshot/delta merger and private-stream parsers.
"""
