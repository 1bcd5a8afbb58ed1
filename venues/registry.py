"""Venue name → client, built lazily so a run only imports the venues it uses.

Every venue package exposes ``create_venue(credentials=None, *, rest_url=None, ws_url=None,
transport=None, sleep=None)``; this module is the one place that knows where each lives.
Without credentials a client serves public market data only (its private methods raise
``AuthError``), which is all paper trading on live data needs. OKX clients are wrapped so its
instruments carry the common names (``BTCUSDT`` for the ``BTC-USDT-SWAP`` perp and the
``BTC-USDT`` pair; :mod:`venues.symbols`).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx

from venues.base import Credentials, MarketDataSource, Venue
from venues.symbols import RenamedVenue, okx_common, okx_native

FACTORIES: Final = {
    "binance": "venues.binance.venue",
    "bybit": "venues.bybit.client",
    "okx": "venues.okx.client",
    "hyperliquid": "venues.hyperliquid.client",
    "purpleflea": "venues.purpleflea.client",
    "dydx": "venues.dydx.client",
}
"""Module holding each venue's ``create_venue``."""

TRADING_VENUES: Final = frozenset(FACTORIES) - {"dydx"}
"""Venues with an order API (dYdX is market data only here)."""


def _create(
    name: str,
    credentials: Credentials | None,
    rest_url: str | None,
    ws_url: str | None,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Callable[[float], Awaitable[None]] | None,
) -> Any:
    module_name = FACTORIES.get(name)
    if module_name is None:
        raise ValueError(f"unknown venue {name!r}; known: {', '.join(FACTORIES)}")
    module = importlib.import_module(module_name)
    client = module.create_venue(
        credentials, rest_url=rest_url, ws_url=ws_url, transport=transport, sleep=sleep
    )
    if name == "okx":  # BTCUSDT for both BTC-USDT-SWAP and BTC-USDT, like the other venues
        return RenamedVenue(client, okx_native, okx_common)
    return client


def create_market_data(
    name: str,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> MarketDataSource:
    """The public market-data client of venue ``name`` (no credentials).

    Parameters
    ----------
    name : str
        ``binance``, ``bybit``, ``okx``, ``hyperliquid``, ``purpleflea`` or ``dydx``.
    rest_url, ws_url : str | None
        Overrides of the production URLs (testnet, proxy, tests).
    transport : httpx.AsyncBaseTransport | None
        HTTP transport (tests: respx); None = a real connection pool.
    sleep : Callable[[float], Awaitable[None]] | None
        Rate-limit / retry waits (tests: a fake); None = ``asyncio.sleep``.

    Raises
    ------
    ValueError
        For an unknown venue name.
    TypeError
        If the venue's client does not provide market data (a programming error).
    """
    client = _create(name, None, rest_url, ws_url, transport, sleep)
    if not isinstance(client, MarketDataSource):
        raise TypeError(f"{name}: {type(client).__name__} is not a MarketDataSource")
    return client


def create_trading_venue(
    name: str,
    credentials: Credentials,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Venue:
    """The authenticated client of venue ``name`` (live mode).

    Raises
    ------
    ValueError
        For an unknown venue or one that cannot trade (``dydx``).
    TypeError
        If the venue's client does not satisfy :class:`~venues.base.Venue`.
    """
    if name not in TRADING_VENUES:
        known = ", ".join(sorted(TRADING_VENUES))
        raise ValueError(f"{name!r} cannot trade; trading venues: {known}")
    client = _create(name, credentials, rest_url, ws_url, transport, sleep)
    if not isinstance(client, Venue):
        raise TypeError(f"{name}: {type(client).__name__} is not a Venue")
    return client
