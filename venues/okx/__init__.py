"""OKX v5 adapter (USDT-margined SWAP perps and SPOT): constants, signing and parsing.

``constants`` holds URLs, paths, limits and error-code sets; ``auth`` the pure signing
functions; ``parse`` raw payloads → ``venues.model`` value types (contracts → base units).
"""
