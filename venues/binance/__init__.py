"""Binance adapter: USDⓈ-M futures (``fapi``, perps) and spot (``api``).

Modules: ``constants`` (URLs, paths, weights, error-code sets), ``auth`` (pure HMAC signing),
``parse`` (raw payload → ``venues.model`` types; ``parse_account`` and ``parse_errors`` are
re-exported from it). References: ``/work/shared/venues/binance-usdm.md``,
``/work/shared/venues/binance-spot.md``.
"""
