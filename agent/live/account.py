"""Start-up of ``mode = "live"``: credentials, account modes, starting cash, reconciliation.

Before the first order, for every enabled venue:

1. :func:`credentials_for` takes its keys from the configuration (environment or secrets
   directory only; ``agent.config`` already refused a start without the ones the venue
   registry says it needs);
2. :func:`prepare_accounts` makes each account trade the configured perps in one-way position
   mode, cross margin and the configured leverage (``venues.base.AccountSetup``), setting what
   differs, or refuses with the venue's reason;
3. :func:`quote_cash_usd` reads the quote-asset balances a new run starts with;
4. :func:`reconcile` compares every traded instrument's position on the venue with the
   journal's ledger; any difference is journaled (``reconciliation``) and refuses the start —
   an account holding positions zerobeta did not open, or a journal that lost fills, must be
   looked at by a person, not traded over.

Errors: :class:`~agent.errors.LiveSetupError` and :class:`~agent.errors.ReconciliationError`,
whose messages name the venue, the instrument and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import structlog

from agent.config import AgentConfig, VenueConfig, env_var_name
from agent.errors import LiveSetupError, ReconciliationError
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from venues.base import AccountSetup, Credentials, Venue
from venues.errors import VenueError
from venues.model import Instrument, InstrumentId
from venues.registry import venue_spec

log = structlog.get_logger("zerobeta.live_account")

SPOT_TOLERANCE_FRAC = Decimal("0.005")
"""A spot holding may differ from the ledger by this share (commission taken in the bought
asset, dust) or one lot step, whichever is larger; perps must match exactly."""


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
        Naming the venue and its reason (``AccountSetupError`` and any other venue error).
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
            raise LiveSetupError(f"{name}: account cannot trade as configured: {error}") from error
        changes.extend(f"{name}: {change}" for change in made)
    for change in changes:
        log.info("account_prepared", change=change)
    return changes


async def quote_cash_usd(
    venues: Mapping[str, Venue], quote_assets: Sequence[str]
) -> dict[str, Decimal]:
    """Each venue's total balance of the quote assets (USDT, USDC ... counted 1:1), USD: the
    cash a new live run starts its ledger with.

    Raises
    ------
    LiveSetupError
        If a venue's balances cannot be read.
    """
    quotes = set(quote_assets)
    cash: dict[str, Decimal] = {}
    for name, venue in sorted(venues.items()):
        try:
            balances = await venue.fetch_balances()
        except VenueError as error:
            raise LiveSetupError(f"{name}: balances cannot be read: {error}") from error
        cash[name] = sum((b.total for b in balances if b.asset in quotes), Decimal(0))
    return cash


async def reconcile(
    venues: Mapping[str, Venue],
    portfolio: Portfolio,
    instruments: Mapping[InstrumentId, Instrument],
    journal: Journal,
    ts_ms: int,
) -> None:
    """Check every traded instrument's venue position against the ledger (all strategies).

    Raises
    ------
    ReconciliationError
        Listing each difference (also journaled, with action ``refused_start``); positions the
        venue reports must have been opened by zerobeta and recorded in this journal.
    LiveSetupError
        If a venue's positions cannot be read.
    """
    ledger = portfolio.positions()
    problems: list[str] = []
    for name, venue in sorted(venues.items()):
        try:
            held = {p.instrument_id: p.qty for p in await venue.fetch_positions()}
        except VenueError as error:
            raise LiveSetupError(f"{name}: positions cannot be read: {error}") from error
        traded = [i for i in instruments if i.venue == name]
        for iid in traded:
            venue_qty = held.get(iid, Decimal(0))
            ledger_qty = ledger.get(iid, Decimal(0))
            if _matches(instruments[iid], venue_qty, ledger_qty):
                continue
            journal.record_reconciliation(ts_ms, name, iid, ledger_qty, venue_qty, "refused_start")
            problems.append(f"{iid}: the venue holds {venue_qty}, the journal {ledger_qty}")
    journal.flush()
    if problems:
        raise ReconciliationError(
            "live start refused — venue positions differ from the journal (close or move "
            "positions zerobeta did not open, or start with the journal that opened them):\n  "
            + "\n  ".join(problems)
        )
    log.info("positions_reconciled", venues=sorted(venues), instruments=len(instruments))


async def position_mismatches(
    venues: Mapping[str, Venue],
    portfolio: Portfolio,
    instruments: Mapping[InstrumentId, Instrument],
) -> list[tuple[InstrumentId, Decimal, Decimal]]:
    """``(instrument, ledger_qty, venue_qty)`` for every traded instrument whose venue
    position differs from the ledger (same tolerance as :func:`reconcile`); a venue whose
    positions cannot be read is skipped (logged)."""
    ledger = portfolio.positions()
    out: list[tuple[InstrumentId, Decimal, Decimal]] = []
    for name, venue in sorted(venues.items()):
        try:
            held = {p.instrument_id: p.qty for p in await venue.fetch_positions()}
        except VenueError as error:
            log.warning("positions_unavailable", venue=name, error=str(error))
            continue
        for iid in (i for i in instruments if i.venue == name):
            venue_qty, ledger_qty = held.get(iid, Decimal(0)), ledger.get(iid, Decimal(0))
            if not _matches(instruments[iid], venue_qty, ledger_qty):
                out.append((iid, ledger_qty, venue_qty))
    return out


def _matches(inst: Instrument, venue_qty: Decimal, ledger_qty: Decimal) -> bool:
    if inst.is_perp:
        return venue_qty == ledger_qty
    tolerance = max(inst.lot_step, abs(ledger_qty) * SPOT_TOLERANCE_FRAC)
    return abs(venue_qty - ledger_qty) <= tolerance
