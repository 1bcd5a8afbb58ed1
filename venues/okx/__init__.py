"""OKX v5 adapter (USDT-margined SWAP perps and SPOT), venue name ``okx``.

``constants`` URLs, paths, limits and error-code sets; ``auth`` the pure signing functions;
``parse``/``parse_account``/``parse_errors`` raw payloads → ``venues.model`` value types
(contracts → base units); ``rest`` the signed endpoint layer; ``orders`` the order boundary
(client order ids, base units ↔ contracts, fills); ``history`` paged reads; ``setup`` live
account checks; ``streams`` websockets; ``client`` the ``Venue`` (:func:`create_venue`).
Our instrument symbol is OKX's ``instId`` (``BTC-USDT-SWAP``, ``BTC-USDT``).
"""
