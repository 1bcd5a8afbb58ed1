"""Margin watch: the free margin of every venue account, checked after each step.

SEEDS.md (risk section): "keep a 25% capital buffer for margin; watch margin ratio (alert
below 50%)". The *free margin fraction* of a venue account is what is still available for new
positions over the account's equity:

- paper venues: available / equity (:meth:`PaperVenue.free_margin_frac`; available =
  collateral + unrealized − initial margin in use);
- live venues: Σ ``available`` of the account's quote-asset balances (``capital.quote_assets``,
  USD stables counted 1:1, as the venue reports them: ``fetch_balances``) over the venue's
  equity in the ledger (cash, spot holdings and perp P&L at the latest marks): the same
  ratio as on paper, with the venue's own word for what is available.

When a venue's fraction falls below ``risk.margin_alert_frac`` a ``margin_low`` alert is
journaled and logged once; it is journaled again only after the fraction has recovered to
:data:`RECOVERY_BAND_FRAC` above the limit (``margin_recovered`` is logged), so a fraction
hovering at the limit does not alert every hour. Which venues are alerted is part of the resume
checkpoint (:meth:`MarginWatch.state` / :meth:`MarginWatch.restore`), so a resumed run does not
alert again for a venue that stayed low. The watch alerts; it does not trade. A venue whose
balances cannot be read is logged and skipped until the next step; a live venue whose API
reports no balances (:attr:`venues.registry.VenueSpec.reports_balances` false: Purple Flea) is
not watched (logged once, ``margin_unwatched``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import structlog

from strategies.base import Alert
from venues.base import Venue
from venues.errors import VenueError
from venues.model import Balance
from venues.paper import PaperVenue
from venues.registry import VENUES

log = structlog.get_logger("zerobeta.margin")

MARGIN_LOW = "margin_low"
RECOVERY_BAND_FRAC = 0.05
"""How far above the alert level the free margin must come back before the next alert."""


def balances_free_margin_frac(
    balances: Iterable[Balance], quote_assets: Iterable[str], equity_usd: Decimal
) -> float | None:
    """Σ available over the quote-asset balances / ``equity_usd``; None when equity ≤ 0."""
    if equity_usd <= 0:
        return None
    quotes = set(quote_assets)
    available = sum((b.available for b in balances if b.asset in quotes), Decimal(0))
    return float(available / equity_usd)


class MarginWatch:
    """Per-venue low-margin alerts with hysteresis (one alert per fall below the limit).

    Parameters
    ----------
    alert_below_frac : float
        ``risk.margin_alert_frac``: alert when free margin / equity is below it.
    quote_assets : Iterable[str]
        ``capital.quote_assets``: the balances that count as collateral on live venues.
    """

    def __init__(self, alert_below_frac: float, quote_assets: Iterable[str]) -> None:
        self.alert_below_frac = alert_below_frac
        self.quote_assets = tuple(quote_assets)
        self.low: set[str] = set()
        """Venues alerted and not yet recovered (:data:`RECOVERY_BAND_FRAC` above the limit)."""
        self._unwatched: set[str] = set()

    def state(self) -> dict[str, Any]:
        """The resume checkpoint's part (JSON-able): ``{"low_venues": [names, sorted]}``, the
        venues alerted and not yet recovered."""
        return {"low_venues": sorted(self.low)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`state` returned; an empty mapping (a checkpoint written before
        the watch kept state) means nothing alerted.

        Raises
        ------
        ValueError
            If ``low_venues`` is not a list of venue names.
        """
        names = state.get("low_venues", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"margin_watch.low_venues must be a list of venue names: {names!r}")
        self.low = set(names)

    async def check(
        self,
        venues: Mapping[str, Venue],
        paper: Mapping[str, PaperVenue],
        equity_usd: Callable[[str], Decimal],
    ) -> list[Alert]:
        """Free margin of every venue (``equity_usd(venue)``: the ledger's equity there, for
        live venues); returns a ``margin_low`` alert (fields ``venue``, ``free_margin_frac``)
        for each venue that just fell below the limit (the caller journals them). Never
        raises ``VenueError``."""
        alerts: list[Alert] = []
        for name, venue in sorted(venues.items()):
            frac = await self._free_frac(name, venue, paper.get(name), equity_usd)
            if frac is None:
                continue
            if name in self.low:
                if frac >= self.alert_below_frac + RECOVERY_BAND_FRAC:
                    self.low.discard(name)
                    log.info("margin_recovered", venue=name, free_margin_frac=round(frac, 4))
                continue
            if frac >= self.alert_below_frac:
                continue
            self.low.add(name)
            message = (
                f"{name}: free margin is {frac:.1%} of equity, below the "
                f"{self.alert_below_frac:.0%} alert level"
            )
            fields = {"venue": name, "free_margin_frac": f"{frac:.6f}"}
            alerts.append(Alert(MARGIN_LOW, message, fields))
        return alerts

    async def _free_frac(
        self,
        name: str,
        venue: Venue,
        paper: PaperVenue | None,
        equity_usd: Callable[[str], Decimal],
    ) -> float | None:
        if paper is not None:
            return paper.free_margin_frac()
        spec = VENUES.get(name)
        if spec is not None and not spec.reports_balances:
            if name not in self._unwatched:
                self._unwatched.add(name)
                log.warning("margin_unwatched", venue=name, reason="the venue reports no balances")
            return None
        try:
            balances = await venue.fetch_balances()
        except VenueError as error:
            log.warning("margin_unavailable", venue=name, error=str(error))
            return None
        return balances_free_margin_frac(balances, self.quote_assets, equity_usd(name))
