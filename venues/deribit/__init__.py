"""Deribit API v2 adapter (BTC/ETH options and perpetuals), venue name ``deribit``.

``constants`` URLs, JSON-RPC method names, credit limits and error-code sets; ``auth`` the
pure signing functions (``client_signature``, ``deri-hmac-sha256``); ``fields`` typed JSON
readers; ``types`` Deribit's own value types (instruments of every kind, positions, account
summary, order requests in venue units); ``parse``/``parse_account``/``parse_errors`` JSON-RPC
payloads → value types; ``rest`` JSON-RPC 2.0 over HTTP (token session, credit buckets);
``streams`` JSON-RPC 2.0 over websocket (subscriptions, heartbeat, the account stream);
``client`` Deribit in its own units (options, inverse contracts, account greeks); ``units`` the
conversions to the common model (inverse USD contracts ↔ coins, coin option prices ↔ USD);
``parse_funding`` continuous perpetual funding as payments; ``venue`` the common ``Venue``
(:func:`~venues.deribit.venue.create_venue`) and the live option chain source. Our instrument
symbol is Deribit's ``instrument_name`` (``BTC_USDC-PERPETUAL``, ``BTC-27DEC24-100000-C``). Source: https://docs.deribit.com/.
"""
