"""Checkpoints in the journal, and resuming a run from them after a restart.

A resumable run (``[market_data] source = "live"``, or a replay with ``journal.overwrite =
false``) writes after every hourly step, in the same transaction as that step's rows:

- each strategy's state when it changed (``strategy_state``);
- a checkpoint (``run_meta`` key ``resume_json``): the step's time, the strategies' decide /
  refit schedule, the risk engine's high-water mark, day-open equity and tripped breakers, the
  funding-flip monitor's state and blocks, the snapshot clock.

On start, a journal holding a checkpoint is resumed instead of started over: the ledger is
rebuilt from the journaled fills and funding payments (``Portfolio.replay``, the same
accounting that booked them), the paper venues' holdings and collateral from the same events,
and every component above from the checkpoint. The driver then warms the market data up to the
checkpoint's step and carries on after it, so nothing is booked twice and nothing is lost (a
live run also settles the funding its positions earned while it was down).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from agent.errors import JournalError
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from venues.model import Fill, FundingPayment, Instrument, InstrumentId
from venues.paper import PaperVenue

log = structlog.get_logger("zerobeta.resume")

RESUME_KEY = "resume_json"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Resumed:
    """What a resumed journal gave back: the ledger and the checkpoint.

    Attributes
    ----------
    portfolio : Portfolio
        Rebuilt from every journaled fill and funding payment, in booking order.
    events : list[tuple[str, Fill] | FundingPayment]
        Those events (the paper venues are rebuilt from them too).
    checkpoint : Mapping[str, Any]
        The last checkpoint (see the module docstring).
    states : Mapping[str, Any]
        Each strategy's last journaled state.
    """

    portfolio: Portfolio
    events: list[tuple[str, Fill] | FundingPayment]
    checkpoint: Mapping[str, Any]
    states: Mapping[str, Any]

    @property
    def last_step_ms(self) -> int:
        """Time of the last step the earlier run completed, epoch ms UTC."""
        return int(self.checkpoint["last_step_ms"])


def load_resume(journal: Journal, config_hash: str) -> Resumed | None:
    """The journal's last checkpoint with the ledger rebuilt, or None for a journal without one
    (a new run).

    Raises
    ------
    JournalError
        If the checkpoint or the run's initial cash cannot be read (a damaged or foreign
        journal): the message says so rather than starting over and losing the run.
    """
    meta = journal.meta()
    text = meta.get(RESUME_KEY)
    if text is None:
        return None
    try:
        checkpoint = json.loads(text)
        if checkpoint.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {checkpoint.get('version')!r}")
        int(checkpoint["last_step_ms"])
        cash = {k: Decimal(v) for k, v in json.loads(meta["initial_cash_json"]).items()}
    except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as err:
        raise JournalError(
            f"cannot resume: checkpoint unreadable ({err!r}); move the journal away to start "
            "a new run",
            path=journal.path,
        ) from err
    if meta.get("config_hash") != config_hash:
        log.warning(
            "config_changed_since_journal",
            message="the configuration differs from the one that wrote the journal; "
            "resuming with the new one",
        )
    events = list(journal.ledger_events())
    portfolio = Portfolio.replay(cash, events)
    log.info(
        "run_resumed",
        last_step_ms=checkpoint["last_step_ms"],
        ledger_events=len(events),
        equity_usd=str(portfolio.equity_usd()),
    )
    return Resumed(portfolio, events, checkpoint, journal.latest_strategy_states())


def funding_payments(resumed: Resumed) -> list[FundingPayment]:
    """The funding payments the resumed journal booked, in booking order."""
    return [e for e in resumed.events if isinstance(e, FundingPayment)]


def restore_paper_venues(
    paper: Mapping[str, PaperVenue],
    instruments: Mapping[InstrumentId, Instrument],
    resumed: Resumed,
    journal_path: str,
) -> None:
    """Rebuild each paper venue's holdings and collateral from the journaled fills and funding
    payments (a live run's venues hold their own positions: the start-up reconciliation
    compares them).

    Raises
    ------
    JournalError
        If the journal holds fills of an instrument the current configuration does not
        trade (a venue or symbol removed while positions were open).
    """
    by_venue: dict[str, list[Fill | FundingPayment]] = {}
    for event in resumed.events:
        item = event if isinstance(event, FundingPayment) else event[1]
        by_venue.setdefault(item.instrument_id.venue, []).append(item)
    for venue_name, items in by_venue.items():
        venue = paper.get(venue_name)
        unknown = sorted(
            {str(e.instrument_id) for e in items if e.instrument_id not in instruments}
        )
        if venue is None or unknown:
            raise JournalError(
                f"cannot resume: the journal holds {venue_name} positions "
                f"({', '.join(unknown) or 'venue disabled'}) the configuration no longer "
                "trades; re-enable them or move the journal away",
                path=journal_path,
            )
        venue.restore(items)
