"""The venue's own option chain in paper-on-live and live runs (Deribit), instead of a model.

When a strategy that reads option chains (``reads_option_chains``: the options delta hedger)
trades a perpetual of a venue that lists options (:class:`venues.base.OptionChainSource`:
Deribit), each hourly step, before the ledger is marked and the strategies decide
(:meth:`LiveOptionChains.on_step`):

1. **chain**: the venue's options on the perpetual's coin expiring within
   ``[option_chain] listing_days`` with strikes within ``± strike_range_frac`` of the index —
   each with the venue's ticker: mark price, mark IV, greeks
   (:meth:`venues.deribit.venue.DeribitVenue.fetch_option_chain`) — become the
   :class:`~strategies.options.chain.OptionChain` the strategies read
   (``MarketSnapshot.option_chains``; :func:`strategies.options.chain.venue_chain`: price =
   the venue's mark in USD, IV = its mark IV, greeks its own). A failed read drops the chain
   for that step (logged ``option_chain_unavailable``): a strategy then waits rather than
   trade on an hour-old chain;
2. **marks**: every option the run has listed and the new chain prices gets that price in the
   market data and, on paper, in the paper venue;
3. **expiry**: a listed option whose expiry (08:00 UTC) has come stops being priced here and
   is settled at intrinsic value, one settlement fill per strategy that held it, booked in the
   ledger and the journal (:func:`agent.engine.option_expiry.book_option_expiry`):

   * on paper (live data), against the underlying perpetual's price of that step
     (:func:`agent.engine.options.settle_option_expiries`, as the replay does; Deribit itself
     delivers against a 30-minute average of its index, which this does not model);
   * live, the venue delivers it (the venue position disappears) and the ledger books it at
     the venue's own delivery price (:class:`~venues.base.DeliveryPriceSource`: Deribit's
     ``public/get_delivery_prices``), never a guess from the mark. Until that price is
     published (or while it cannot be read) the option waits, logged
     ``option_delivery_pending``, and is asked again at the next step; meanwhile it is
     among :meth:`LiveOptionChains.awaiting_delivery`, which the position check leaves out
     (the venue has delivered what the ledger has yet to book).

An option becomes an instrument of the run the first time a strategy's intent names it
(:meth:`LiveOptionChains.list_for`, as the replay's :class:`agent.engine.options.OptionMarket`
does): its venue :class:`~venues.model.Instrument` (lot step, contract size) is added to the
run's instrument map, the market data and the paper venue.

A restarted run (a resumed journal) lists again every option its journal's fills traded that
is still held (:meth:`LiveOptionChains.restore`, as :meth:`agent.engine.options.OptionMarket.
restore` does on a replay): in the instrument map, the market data and the paper venue, its
terms from the symbol (:meth:`venues.model.OptionSpec.parse`) with ``[option_chain]
lot_step_coin`` / ``price_tick_usd`` until the venue's chain lists it (its own lot step and
contract size replace them then, before any strategy decides); priced again from the next
step's chain, and settled or delivered at expiry as if the run had never stopped. One whose
expiry had come by the earlier run's last step is, live, awaiting delivery at once.

Nothing here runs in a replay (the model-priced chain, :mod:`agent.engine.options`, stays as
it was).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import structlog

from agent.engine.marketdata import MarketData
from agent.engine.option_expiry import book_option_expiry
from agent.engine.options import settle_option_expiries, with_option_prices
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from strategies.base import PairIntent
from strategies.options.black_scholes import MS_PER_DAY
from strategies.options.chain import OptionChain, venue_chain
from venues.base import DeliveryPriceSource, OptionChainSource
from venues.errors import VenueError
from venues.model import Instrument, InstrumentId, OptionSpec, base_asset
from venues.paper import PaperVenue

__all__ = ["LiveOptionChains"]

log = structlog.get_logger("zerobeta.engine")


class LiveOptionChains:
    """The venues' option chains of a live-data run (see the module docstring).

    Parameters
    ----------
    sources : Mapping[InstrumentId, OptionChainSource]
        Per underlying perpetual, the venue client that lists its options.
    instruments : dict[InstrumentId, Instrument]
        The run's instrument map, shared with the executor: listed options are added to it.
    market : MarketData
    paper : Mapping[str, PaperVenue]
        The paper venues (empty live): a listed option is listed on its venue's twin too, and
        settled there at expiry. Live, a source that is also a
        :class:`~venues.base.DeliveryPriceSource` gives the delivery prices expiries are
        booked at.
    portfolio : Portfolio
    journal : Journal
        Where an expiry's settlement fills are booked.
    listing_days : float
        Expiries within this many days are read, > 0.
    strike_range_frac : float
        Strikes within ``index × (1 ± this)`` are read, in (0, 1).
    lot_step_coin, price_tick_usd : Decimal
        Terms of an option listed again after a restart (:meth:`restore`) until the venue's
        chain gives its own: quantity step = minimum, coins; price tick, USD.
    """

    def __init__(
        self,
        sources: Mapping[InstrumentId, OptionChainSource],
        *,
        instruments: dict[InstrumentId, Instrument],
        market: MarketData,
        paper: Mapping[str, PaperVenue],
        portfolio: Portfolio,
        journal: Journal,
        listing_days: float,
        strike_range_frac: float,
        lot_step_coin: Decimal = Decimal("0.1"),
        price_tick_usd: Decimal = Decimal("0.01"),
    ) -> None:
        self._sources = dict(sources)
        self._instruments = instruments
        self._market = market
        self._paper = paper
        self._portfolio = portfolio
        self._journal = journal
        self.settlements = 0
        self._window_ms = int(listing_days * MS_PER_DAY)
        self._strike_range_frac = strike_range_frac
        self._lot_step_coin = lot_step_coin
        self._price_tick_usd = price_tick_usd
        # restored options whose terms are still the symbol's, until a chain lists them
        self._provisional: set[InstrumentId] = set()
        self._chains: dict[InstrumentId, OptionChain] = {}
        self._terms: dict[InstrumentId, dict[InstrumentId, Instrument]] = {}
        self._listed: dict[InstrumentId, InstrumentId] = {}  # option → underlying
        # live: held options past expiry awaiting the venue's delivery price → (underlying, terms)
        self._delivering: dict[InstrumentId, tuple[InstrumentId, OptionSpec]] = {}

    def underlyings(self) -> list[InstrumentId]:
        """The perpetuals whose option chains are read."""
        return list(self._sources)

    def awaiting_delivery(self) -> set[InstrumentId]:
        """Held options past their expiry whose delivery (live) the ledger has not booked yet:
        the venue no longer shows them, the ledger still does."""
        return set(self._delivering)

    async def on_step(self, ts_ms: int) -> None:
        """Read every underlying's chain and price the listed options (module docstring)."""
        for underlying, source in self._sources.items():
            forward = self._market.price(underlying)
            self._settle_expired(underlying, forward, ts_ms)
            await self._book_deliveries(underlying, source, ts_ms)
            if forward is None:
                continue
            try:
                options = await source.fetch_option_chain(
                    underlying, ts_ms + self._window_ms, self._strike_range_frac
                )
                if not options:
                    raise ValueError("the venue lists no option in the window")
                first = options[0][0]
                chain = venue_chain(
                    underlying,
                    underlying.venue,
                    first.base,
                    ts_ms,
                    forward,
                    [ticker for _, ticker in options],
                    float(first.lot_step),
                )
            except (VenueError, ValueError) as err:
                self._chains.pop(underlying, None)
                self._market.drop_option_chain(underlying)
                log.warning(
                    "option_chain_unavailable",
                    underlying=str(underlying),
                    error_type=type(err).__name__,
                    error=str(err),
                )
                continue
            self._chains[underlying] = chain
            self._terms[underlying] = {inst.id: inst for inst, _ in options}
            self._market.set_option_chain(chain)
            for iid, owner in self._listed.items():
                k = chain.find(iid) if owner == underlying else None
                if k is not None:
                    self._adopt_terms(iid, self._terms[underlying].get(iid))
                    self._price(iid, float(chain.price_usd[k]), ts_ms)
            log.debug("option_chain_read", underlying=str(underlying), options=len(chain))

    def list_for(
        self, intents: Sequence[PairIntent], prices: Mapping[InstrumentId, float], ts_ms: int
    ) -> Mapping[InstrumentId, float]:
        """List the options ``intents`` name that the run does not know yet (priced from the
        current chain); returns ``prices`` with every option leg's price.

        Raises
        ------
        ValueError
            An option leg that no current chain lists.
        """
        return with_option_prices(
            intents,
            prices,
            self._market,
            lambda iid: iid in self._listed,
            lambda iid: self._list(iid, ts_ms),
        )

    def _list(self, iid: InstrumentId, ts_ms: int) -> None:
        for underlying, chain in self._chains.items():
            k = chain.find(iid)
            instrument = self._terms[underlying].get(iid)
            if k is None or instrument is None:
                continue
            self._instruments.setdefault(iid, instrument)
            self._market.list_option(underlying, instrument)
            paper = self._paper.get(iid.venue)
            if paper is not None:
                paper.list_option(instrument)
            self._listed[iid] = underlying
            self._price(iid, float(chain.price_usd[k]), ts_ms)
            log.debug("option_listed", instrument=str(iid), source="venue")
            return
        raise ValueError(f"option {iid} is not listed in any current option chain")

    def restore(self, option_ids: Iterable[InstrumentId], last_step_ms: int) -> None:
        """List again, after a restart, the options a resumed journal's fills traded that the
        ledger still holds (module docstring; before the paper venues are rebuilt from the
        fills): each in the run's instrument map, the paper venue and, unexpired at
        ``last_step_ms`` (epoch ms, the last step the earlier run completed), the market data
        and the options priced each step and settled at expiry; live, one expired by then
        awaits the venue's delivery price (:meth:`awaiting_delivery`). Prices come with the
        next step's chain.

        Raises
        ------
        ValueError
            An option with an unreadable symbol, or of a coin whose perpetual is not among
            the underlyings read here (the message names it).
        """
        held = sorted({i for i in option_ids if self._portfolio.holders(i)}, key=str)
        for iid in held:
            spec = OptionSpec.parse(iid.symbol)
            underlying = next(
                (u for u in self._sources if u.venue == iid.venue and self._base(u) == spec.base),
                None,
            )
            if underlying is None:
                raise ValueError(
                    f"option {iid} has no underlying among the option chains read "
                    f"{[str(u) for u in self._sources]}"
                )
            instrument = self._instruments.get(iid)
            if instrument is None:
                instrument = Instrument(
                    iid, spec.base, "USD", self._price_tick_usd, self._lot_step_coin,
                    self._lot_step_coin, Decimal(0), contract_multiplier=Decimal(1),
                )  # fmt: skip
                self._instruments[iid] = instrument
                self._provisional.add(iid)
            paper = self._paper.get(iid.venue)
            if paper is not None:
                paper.list_option(instrument)
            if paper is None and spec.expiry_ms <= last_step_ms:
                self._delivering[iid] = (underlying, spec)
                continue
            self._market.list_option(underlying, instrument)
            self._listed[iid] = underlying
        log.info(
            "options_restored",
            options=len(held),
            listed=sum(1 for i in held if i in self._listed),
            awaiting_delivery=sum(1 for i in held if i in self._delivering),
        )

    def _base(self, underlying: InstrumentId) -> str:
        """The perpetual's base coin: its instrument's (``BTC-PERPETUAL`` → ``BTC``)."""
        instrument = self._instruments.get(underlying)
        return instrument.base if instrument is not None else base_asset(underlying.symbol)

    def _adopt_terms(self, iid: InstrumentId, instrument: Instrument | None) -> None:
        """A restored option's venue terms replace the symbol's once a chain lists it."""
        if instrument is None or iid not in self._provisional:
            return
        self._provisional.discard(iid)
        self._instruments[iid] = instrument
        log.debug("option_terms_read", instrument=str(iid), lot_step=str(instrument.lot_step))

    def _settle_expired(self, underlying: InstrumentId, forward: float | None, ts_ms: int) -> None:
        """Paper: settle the expired options at ``forward`` (waits for a price). Live: the
        held ones await the venue's delivery price (:meth:`_book_deliveries`)."""
        paper = self._paper.get(underlying.venue)
        if paper is not None and forward is None:
            return  # settled at the first step with a price
        expired = [
            (iid, OptionSpec.parse(iid.symbol))
            for iid, owner in self._listed.items()
            if owner == underlying and OptionSpec.parse(iid.symbol).expiry_ms <= ts_ms
        ]
        for iid, spec in expired:
            del self._listed[iid]
            if paper is None and self._portfolio.holders(iid):
                self._delivering[iid] = (underlying, spec)
        if paper is None or forward is None or not expired:
            return
        self.settlements += settle_option_expiries(
            expired,
            forward,
            ts_ms,
            venue=paper,
            instruments=self._instruments,
            portfolio=self._portfolio,
            journal=self._journal,
        )

    async def _book_deliveries(
        self, underlying: InstrumentId, source: OptionChainSource, ts_ms: int
    ) -> None:
        """Live: book each held expired option of ``underlying`` at the venue's delivery price
        of its expiry, once published (module docstring)."""
        expiries = sorted(
            {spec.expiry_ms for owner, spec in self._delivering.values() if owner == underlying}
        )
        for expiry_ms in expiries:
            options = sorted(
                (
                    (iid, spec)
                    for iid, (owner, spec) in self._delivering.items()
                    if owner == underlying and spec.expiry_ms == expiry_ms
                ),
                key=lambda option: str(option[0]),
            )
            price = await self._delivery_price(underlying, source, expiry_ms)
            if price is None:
                log.info(
                    "option_delivery_pending",
                    underlying=str(underlying),
                    expiry_ms=expiry_ms,
                    options=[str(iid) for iid, _ in options],
                )
                continue
            for iid, spec in options:
                del self._delivering[iid]
                self.settlements += book_option_expiry(
                    iid,
                    spec,
                    price,
                    ts_ms,
                    instruments=self._instruments,
                    portfolio=self._portfolio,
                    journal=self._journal,
                    source="delivery_price",
                )

    async def _delivery_price(
        self, underlying: InstrumentId, source: OptionChainSource, expiry_ms: int
    ) -> Decimal | None:
        """The venue's delivery price of ``expiry_ms``, or None (not published, unreadable,
        or a venue that publishes none: logged)."""
        if not isinstance(source, DeliveryPriceSource):
            log.warning(
                "option_delivery_unavailable",
                underlying=str(underlying),
                expiry_ms=expiry_ms,
                error="the venue publishes no delivery price",
            )
            return None
        try:
            return await source.fetch_delivery_price(underlying, expiry_ms)
        except VenueError as err:
            log.warning(
                "option_delivery_unavailable",
                underlying=str(underlying),
                expiry_ms=expiry_ms,
                error_type=type(err).__name__,
                error=str(err),
            )
            return None

    def _price(self, iid: InstrumentId, price: float, ts_ms: int) -> None:
        self._market.on_price(iid, price, ts_ms)
        paper = self._paper.get(iid.venue)
        if paper is not None:
            paper.update_price(iid, price)
