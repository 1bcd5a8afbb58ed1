"""Start-up of ``mode = "live"``: credentials, account modes, starting cash.

Before the first order, for every enabled venue:

1. :func:`credentials_for` takes its keys from the configuration (environment or secrets
   directory only; ``agent.config`` already refused a start without the ones the venue
   registry says it needs);
2. :func:`prepare_accounts` makes each account trade the configured perps in one-way position
   mode, cross margin and the configured leverage (``venues.base.AccountSetup``), setting what
   differs, or refuses with the venue's reason;
3. :func:`quote_cash_usd` reads the quote-asset balances a new run starts with; a venue whose
   API reports no balances (:attr:`venues.registry.VenueSpec.reports_balances` false: Purple
   Flea) starts with its configured capital instead, ``capital.initial_equity_usd ×
   venues.<name>.collateral_frac`` (:func:`configured_capital_usd`), once its positions have
   been read (the token works; what it holds is compared in step 4);
4. then :mod:`agent.live.reconcile` compares every traded position with the journal's ledger.

Errors: :class:`~agent.errors.LiveSetupError`, whose messages name the venue, the instrument and
what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import structlog

from agent.config import AgentConfig, CapitalConfig, VenueConfig, env_var_name
from agent.errors import LiveSetupError
from venues.base import AccountSetup, Credentials, Venue
from venues.errors import VenueError, is_retryable
from venues.model import Instrument, InstrumentId
from venues.registry import VENUES, venue_spec

log = structlog.get_logger("zerobeta.live_account")


def credentials_for(name: str, venue: VenueConfig) -> Credentials:
    """The venue's API credentials as ``SecretStr`` (never unwrapped here).

    Raises
    ------
    LiveSetupError
        If the API key or another credential the venue needs
        (:attr:`venues.registry.VenueSpec.credential_fields`) is missing (the configuration
        check normally catches it first).
    """
    needed = dict.fromkeys(("api_key", *venue_spec(name).credential_fields))
    missing = [field for field in needed if getattr(venue, field) is None]
    if missing or venue.api_key is None:  # the second test only narrows the type
        what = " / ".join(field.replace("api_", "API ") for field in missing)
        variables = ", ".join(env_var_name(f"venues.{name}.{field}") for field in missing)
        raise LiveSetupError(f"{name}: no {what} (set {variables})")
    return Credentials(venue.api_key, venue.api_secret, venue.api_passphrase)


async def prepare_accounts(
    cfg: AgentConfig,
    venues: Mapping[str, Venue],
    instruments: Mapping[InstrumentId, Instrument],
) -> list[str]:
    """Set one-way mode, cross margin and ``perp_leverage`` for each venue's traded perps.

    Returns
    -------
    list[str]
        ``"<venue>: <change>"`` per change made (logged as ``account_prepared``).

    Raises
    ------
    LiveSetupError
        Naming the venue and its reason (``AccountSetupError`` and any other venue error a
        person must act on).
    venues.errors.VenueError
        A retryable one (:func:`venues.errors.is_retryable`: transport, timeout, 5xx, rate
        limit), unchanged: the supervisor retries the start-up step.
    """
    changes: list[str] = []
    for name, venue in sorted(venues.items()):
        perps = [i for i, inst in instruments.items() if i.venue == name and inst.is_perp]
        if not perps or not isinstance(venue, AccountSetup):
            continue
        leverage = Decimal(repr(cfg.venues[name].perp_leverage))
        try:
            made = await venue.prepare_account(perps, leverage)
        except VenueError as error:
            if is_retryable(error):  # the network or the venue is down: the caller retries
                raise
            raise LiveSetupError(f"{name}: account cannot trade as configured: {error}") from error
        changes.extend(f"{name}: {change}" for change in made)
    for change in changes:
        log.info("account_prepared", change=change)
    return changes


def configured_capital_usd(
    capital: CapitalConfig, venues: Mapping[str, VenueConfig]
) -> dict[str, Decimal]:
    """Each venue's configured capital, USD: ``capital.initial_equity_usd ×
    venues.<name>.collateral_frac`` (the paper accounts' starting collateral too)."""
    equity_usd = Decimal(repr(capital.initial_equity_usd))
    return {name: equity_usd * Decimal(repr(v.collateral_frac)) for name, v in venues.items()}


async def quote_cash_usd(
    venues: Mapping[str, Venue],
    quote_assets: Sequence[str],
    *,
    capital_usd: Mapping[str, Decimal] | None = None,
) -> dict[str, Decimal]:
    """The cash a new live run starts its ledger with, per venue, USD.

    A venue that reports balances: its total balance of the quote assets (USDT, USDC ...
    counted 1:1). A venue whose API has none (:attr:`~venues.registry.VenueSpec.reports_balances`
    false, Purple Flea): its configured capital ``capital_usd[name]``, once
    ``Venue.fetch_positions`` has answered (the credentials work; the start-up reconciliation
    then compares what it holds with the ledger). The configured capital must then be what was
    deposited there: nothing on the venue checks it.

    Parameters
    ----------
    venues : Mapping[str, Venue]
        The live venues by name.
    quote_assets : Sequence[str]
        ``capital.quote_assets``.
    capital_usd : Mapping[str, Decimal] | None
        Configured capital per venue, USD (:func:`configured_capital_usd`); needed only for a
        venue without balances.

    Raises
    ------
    LiveSetupError
        If a venue's balances (or, without balances, its positions) cannot be read, or a venue
        without balances has no configured capital (``collateral_frac`` 0 or not passed).
    """
    quotes = set(quote_assets)
    cash: dict[str, Decimal] = {}
    for name, venue in sorted(venues.items()):
        spec = VENUES.get(name)
        if spec is not None and not spec.reports_balances:
            cash[name] = await _configured_cash_usd(name, venue, capital_usd)
            continue
        try:
            balances = await venue.fetch_balances()
        except VenueError as error:
            if is_retryable(error):  # the network or the venue is down: the caller retries
                raise
            raise LiveSetupError(f"{name}: balances cannot be read: {error}") from error
        cash[name] = sum((b.total for b in balances if b.asset in quotes), Decimal(0))
    return cash


async def _configured_cash_usd(
    name: str, venue: Venue, capital_usd: Mapping[str, Decimal] | None
) -> Decimal:
    if capital_usd is None:  # a caller that does not pass the configuration
        raise LiveSetupError(f"{name}: its API reports no balances and no capital was configured")
    cash_usd = capital_usd.get(name, Decimal(0))
    if cash_usd <= 0:
        raise LiveSetupError(
            f"{name}: its API reports no balances, so a live run starts with the configured "
            f"capital; set venues.{name}.collateral_frac to the share of "
            "capital.initial_equity_usd deposited there"
        )
    try:
        positions = await venue.fetch_positions()
    except VenueError as error:
        if is_retryable(error):  # the network or the venue is down: the caller retries
            raise
        raise LiveSetupError(f"{name}: positions cannot be read: {error}") from error
    log.warning(
        "cash_from_config",
        venue=name,
        cash_usd=float(cash_usd),
        positions=len(positions),
        reason="the venue reports no balances",
    )
    return cash_usd
