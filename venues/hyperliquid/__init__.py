"""Hyperliquid perpetuals (HyperCore, first perp dex) adapter.

``constants`` URLs and limits, ``auth`` EIP-712 signing (optional extra
``zerobeta[hyperliquid]``), ``parse`` raw payloads → ``venues.model`` value types.
Reference: ``/work/shared/venues/hyperliquid.md`` (offline pack).
"""
