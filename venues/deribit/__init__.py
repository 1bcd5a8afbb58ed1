"""Deribit API v2 adapter (BTC/ETH options and perpetuals), venue name ``deribit``.

``constants`` URLs, JSON-RPC method names, credit limits and error-code sets; ``auth`` the
pure signing functions (``client_signature``, ``deri-hmac-sha256``); ``fields`` typed JSON
readers; ``types`` Deribit's own value types (instruments of every kind, positions, account
summary, order requests in venue units); ``parse``/``parse_account``/``parse_errors`` JSON-RPC
payloads → value types; ``rest`` JSON-RPC 2.0 over HTTP (token session, credit buckets);
``streams`` JSON-RPC 2.0 over websocket (subscriptions, heartbeat); ``client`` the ``Venue``
(:func:`create_venue`). Our instrument symbol is Deribit's ``instrument_name``
(``BTC_USDC-PERPETUAL``, ``BTC-27DEC24-100000-C``). Source: https://docs.deribit.com/.
"""
