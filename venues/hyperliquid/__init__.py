"""Hyperliquid perpetuals (HyperCore, first perp dex) adapter.

``constants`` URLs and limits, ``auth`` EIP-712 signing (optional extra ``zerobeta[hyperliquid]``,
imported lazily), ``parse``/``parse_account``/``parse_extra`` raw payloads → ``venues.model`` value
types, ``orders`` the order boundary (cloids, tick/lot, market orders as bounded IOC), ``rest`` the
``/info`` and ``/exchange`` requests, ``streams`` the websocket, ``client`` the
:class:`~venues.hyperliquid.client.HyperliquidVenue` and ``create_venue``. Reference: the
Hyperliquid API docs (GitBook) https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api
and the official Python SDK https://github.com/hyperliquid-dex/hyperliquid-python-sdk; recorded
payloads in ``tests/fixtures/hyperliquid/``.
"""
