"""Every venue's facts in one place, and venue name → client, built lazily so a run only
imports the venues it uses.

:data:`VENUES` holds one :class:`VenueSpec` per venue: where its ``create_venue`` lives,
whether it can trade or serves market data only, whether it has native pair orders, the
credentials it needs, what its recorded funding files hold and whether the replay reads
them. Config validation, the live credential checks, run setup, ``zerobeta data download``
and the replay all read these facts here instead of keeping their own lists; a new venue is a
package under ``venues/`` plus one entry below.

Every venue package exposes ``create_venue(credentials=None, *, rest_url=None, ws_url=None,
transport=None, sleep=None)``. Without credentials a client serves public market data only
(its private methods raise ``AuthError``), which is all paper trading on live data needs. OKX
clients are wrapped so its instruments carry the common names (``BTCUSDT`` for the
``BTC-USDT-SWAP`` perp and the ``BTC-USDT`` pair; :mod:`venues.symbols`).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from venues.base import Credentials, MarketDataSource, Venue
from venues.symbols import Rename, RenamedVenue, okx_common, okx_native

if TYPE_CHECKING:  # annotations only: the transport is built by the venue clients
    import httpx

CREDENTIAL_FIELDS: Final = ("api_key", "api_secret", "api_passphrase")
"""Every credential a venue may need, in :class:`~venues.base.Credentials` order."""


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """What the rest of zerobeta needs to know about one venue.

    Attributes
    ----------
    name : str
        Venue name, as in ``InstrumentId.venue`` and ``[venues.<name>]`` (``"binance"``).
    factory_module : str
        Module holding the venue's ``create_venue`` (``"venues.binance.venue"``).
    can_trade : bool
        True when the venue has an order API here; False = market data only (paper trading
        on its data works, ``mode = "live"`` does not).
    native_pair_orders : bool
        True when the venue fills a two-leg pair atomically in one order; its paper twin
        (:class:`venues.paper.PaperPairVenue`) then does too.
    credential_fields : tuple[str, ...]
        The :class:`~venues.base.Credentials` fields the venue needs to trade, each one of
        :data:`CREDENTIAL_FIELDS` (``api_key`` first); empty when it cannot trade.
    funding_files_have_marks : bool
        True when its recorded funding files carry the ``mark_price`` column
        (``funding_time_ms,funding_rate,mark_price``); False = rate only.
    replay_funding : bool
        True when the replay (:mod:`venues.replay`) reads its recorded funding files.
    renames : tuple[Rename, Rename] | None
        ``(to_native, to_common)`` when the venue names instruments apart from the common
        ``BTCUSDT`` form (OKX): its client is wrapped in :class:`~venues.symbols.RenamedVenue`.
    reports_balances : bool
        True when the venue's API reports account balances (``Venue.fetch_balances``); False
        (Purple Flea: no balances endpoint) makes a live run start that venue's cash at the
        configured capital instead (``capital.initial_equity_usd ×
        venues.<name>.collateral_frac``, :func:`agent.live.account.quote_cash_usd`) and leaves
        it out of the margin watch.
    funding_cap_frac : str | None
        The cap on the absolute funding rate per interval the venue documents for every
        instrument, a decimal fraction (Hyperliquid: ``"0.04"``, 4 % per hour, "Funding" in
        its docs); None where the cap differs per instrument or is not published. Written to
        the ``instruments.csv`` of ``zerobeta data download``.

    Raises
    ------
    ValueError
        On construction, if the credential fields are not as described.
    """

    name: str
    factory_module: str
    can_trade: bool
    native_pair_orders: bool
    credential_fields: tuple[str, ...]
    funding_files_have_marks: bool
    replay_funding: bool
    renames: tuple[Rename, Rename] | None = None
    reports_balances: bool = True
    funding_cap_frac: str | None = None

    def __post_init__(self) -> None:
        fields = self.credential_fields
        if self.can_trade and (not fields or fields[0] != "api_key"):
            raise ValueError(f"{self.name}: a trading venue needs api_key first, got {fields}")
        if not self.can_trade and fields:
            raise ValueError(f"{self.name}: a market-data-only venue takes no credentials")
        unknown = sorted(set(fields) - set(CREDENTIAL_FIELDS))
        if unknown or len(set(fields)) != len(fields):
            raise ValueError(f"{self.name}: bad credential fields {fields}")


_KEY_SECRET: Final = ("api_key", "api_secret")

VENUES: Final[Mapping[str, VenueSpec]] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            VenueSpec(
                name="binance",
                factory_module="venues.binance.venue",
                can_trade=True,
                native_pair_orders=False,
                credential_fields=_KEY_SECRET,
                funding_files_have_marks=True,
                replay_funding=True,
            ),
            VenueSpec(
                name="bybit",
                factory_module="venues.bybit.client",
                can_trade=True,
                native_pair_orders=False,
                credential_fields=_KEY_SECRET,
                funding_files_have_marks=False,
                replay_funding=True,
            ),
            VenueSpec(  # api_key: the account address; api_secret: the API wallet's key
                name="hyperliquid",
                factory_module="venues.hyperliquid.client",
                can_trade=True,
                native_pair_orders=False,
                credential_fields=_KEY_SECRET,
                funding_files_have_marks=False,
                replay_funding=True,
                funding_cap_frac="0.04",
            ),
            VenueSpec(
                name="okx",
                factory_module="venues.okx.client",
                can_trade=True,
                native_pair_orders=False,
                credential_fields=(*_KEY_SECRET, "api_passphrase"),
                funding_files_have_marks=True,
                replay_funding=False,
                renames=(okx_native, okx_common),
            ),
            VenueSpec(  # api_key: the bearer token
                name="purpleflea",
                factory_module="venues.purpleflea.client",
                can_trade=True,
                native_pair_orders=True,
                credential_fields=("api_key",),
                funding_files_have_marks=True,
                replay_funding=False,
                reports_balances=False,  # no balances endpoint (venues/purpleflea/API_NOTES.md §6)
            ),
            VenueSpec(  # api_key: the client id; api_secret: the client secret
                name="deribit",
                factory_module="venues.deribit.venue",
                can_trade=True,
                native_pair_orders=False,
                credential_fields=_KEY_SECRET,
                funding_files_have_marks=False,
                replay_funding=False,
            ),
            VenueSpec(
                name="dydx",
                factory_module="venues.dydx.client",
                can_trade=False,
                native_pair_orders=False,
                credential_fields=(),
                funding_files_have_marks=True,
                replay_funding=False,
            ),
        )
    }
)
"""Every venue zerobeta knows, by name, in the order configuration lists them."""


def venue_names() -> tuple[str, ...]:
    """Every venue name, in :data:`VENUES` order."""
    return tuple(VENUES)


def venue_spec(name: str) -> VenueSpec:
    """The facts of venue ``name``.

    Raises
    ------
    ValueError
        For an unknown venue name (the message lists the known ones).
    """
    spec = VENUES.get(name)
    if spec is None:
        raise ValueError(f"unknown venue {name!r}; known: {', '.join(VENUES)}")
    return spec


def trading_venues() -> tuple[str, ...]:
    """Venues with an order API, in :data:`VENUES` order (dYdX is market data only here)."""
    return tuple(n for n, spec in VENUES.items() if spec.can_trade)


def replay_funding_venues() -> tuple[str, ...]:
    """Venues whose recorded funding the replay reads, in :data:`VENUES` order."""
    return tuple(n for n, spec in VENUES.items() if spec.replay_funding)


def _create(
    name: str,
    credentials: Credentials | None,
    rest_url: str | None,
    ws_url: str | None,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Callable[[float], Awaitable[None]] | None,
) -> Any:
    spec = venue_spec(name)
    module = importlib.import_module(spec.factory_module)
    client = module.create_venue(
        credentials, rest_url=rest_url, ws_url=ws_url, transport=transport, sleep=sleep
    )
    if spec.renames is not None:  # BTCUSDT for both BTC-USDT-SWAP and BTC-USDT, like the others
        return RenamedVenue(client, *spec.renames)
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
        A name of :data:`VENUES`: ``binance``, ``bybit``, ``hyperliquid``, ``okx``,
        ``purpleflea``, ``deribit`` or ``dydx``.
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
    if not venue_spec(name).can_trade:
        known = ", ".join(sorted(trading_venues()))
        raise ValueError(f"{name!r} cannot trade; trading venues: {known}")
    client = _create(name, credentials, rest_url, ws_url, transport, sleep)
    if not isinstance(client, Venue):
        raise TypeError(f"{name}: {type(client).__name__} is not a Venue")
    return client
