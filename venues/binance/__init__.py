"""Binance adapter: USDⓈ-M futures (``fapi``, perps) and spot (``api``).

Modules: ``constants`` (URLs, paths, weights, error-code sets), ``auth`` (pure HMAC signing),
``parse`` (raw payload → ``venues.model`` types; ``parse_account`` and ``parse_errors`` are
re-exported from it), ``decode`` (typed msgspec decoding of mark frames straight from the
wire, falling back to ``parse``). References: Binance USDⓈ-M futures API docs
https://developers.binance.com/docs/derivatives/usds-margined-futures and the spot API docs
(official repository https://github.com/binance/binance-spot-api-docs); recorded payloads in
``tests/fixtures/binance-usdm/`` and ``tests/fixtures/binance-spot/``.
"""
