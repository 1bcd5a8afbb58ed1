"""Model-priced options in a paper run (``[option_chain]``): listing, marking and expiry.

There are no recorded option prices in the bundled history, so when ``[option_chain] enabled``
the engine makes the option market itself, each hourly step (:meth:`OptionMarket.on_step`,
before the ledger is marked and the strategies decide):

1. **expiry**: every listed option of an underlying whose expiry (08:00 UTC) has come is
   settled at intrinsic value against the underlying perp's close of that step — the paper
   venue closes its holding (:meth:`venues.paper.PaperVenue.settle_option_expiry`) and the
   ledger books one settlement fill per strategy that held it (price = intrinsic, possibly 0,
   fee 0; journaled like any fill, so a rebuilt ledger books it too);
2. **chain**: the options listed now (:func:`strategies.options.chain.model_chain`: weekly
   expiries, a strike grid around the forward) priced by Black-76 with the forward = the perp's
   close and rate 0, at the implied volatility of ``iv_source`` (flat, a term structure, or
   realized volatility + a spread: :mod:`strategies.options.vol_input`), handed to the
   strategies through the market data (``MarketSnapshot.option_chains``);
3. **marks**: every listed, unexpired option is priced the same way (its chain price, or the
   model price when its strike has left the chain's range) into the market data and the paper
   venue; the engine's usual marking then values the ledger's holdings. Its delta from the same
   chain (:func:`strategies.options.held_delta.held_option_delta`) × the forward goes to the
   ledger (:meth:`agent.portfolio.ledger.Portfolio.set_option_deltas`), so the journal's
   ``net_delta_usd`` counts the option at its delta, not at its premium.

An option becomes an instrument of the run the first time a strategy's intent names it
(:meth:`OptionMarket.list_for`): added to the run's instrument map (the executor's), the market
data and the paper venue, priced from the current chain. A resumed run lists again every option
its journal traded (:meth:`OptionMarket.restore`, before the paper venues are rebuilt from the
fills): the instrument is rebuilt from its symbol alone (the terms are in it, the lot and tick
from ``[option_chain]``), an unexpired one is marked and settled at expiry as before, so the
resumed run books what an uninterrupted one books. Nothing here runs live or with the
option chain disabled (the default), so a run without it is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

import structlog

from agent.config.sections import OptionChainConfig
from agent.engine.marketdata import MarketData
from agent.engine.option_expiry import book_option_expiry
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from strategies.base import PairIntent
from strategies.options.chain import (
    ChainListing,
    OptionChain,
    VolInput,
    model_chain,
    model_price_usd,
)
from strategies.options.held_delta import held_option_delta
from strategies.options.vol_input import FlatVol, TermStructureVol, realized_vol_frac
from venues.model import Instrument, InstrumentId, InstrumentKind, OptionSpec, base_asset
from venues.paper import PaperVenue

__all__ = ["OptionMarket", "settle_option_expiries"]

log = structlog.get_logger("zerobeta.engine")

_DELTA_QUANTUM = Decimal("1e-12")


class OptionMarket:
    """The replay's option market (see the module docstring).

    Parameters
    ----------
    config : OptionChainConfig
        ``[option_chain]`` (enabled).
    instruments : dict[InstrumentId, Instrument]
        The run's instrument map, shared with the executor: listed options are added to it.
    market : MarketData
    paper : Mapping[str, PaperVenue]
        The paper venues; ``config.venue`` must be one.
    portfolio : Portfolio
    journal : Journal

    Raises
    ------
    ValueError
        If ``config.venue`` is not a paper venue of the run.
    """

    def __init__(
        self,
        config: OptionChainConfig,
        *,
        instruments: dict[InstrumentId, Instrument],
        market: MarketData,
        paper: Mapping[str, PaperVenue],
        portfolio: Portfolio,
        journal: Journal,
    ) -> None:
        if config.venue not in paper:
            raise ValueError(f"option_chain.venue {config.venue!r} is not a paper venue of the run")
        self._config = config
        self._instruments = instruments
        self._market = market
        self._venue = paper[config.venue]
        self._portfolio = portfolio
        self._journal = journal
        self._underlyings = [
            InstrumentId(config.venue, InstrumentKind.PERP, s) for s in config.underlyings
        ]
        self._listing = {
            u: ChainListing(
                strike_step_usd=config.strike_step_usd[base_asset(u.symbol)],
                strike_range_frac=config.strike_range_frac,
                listing_days=config.listing_days,
                expiry_weekday=config.expiry_weekday,
                price_tick_usd=config.price_tick_usd,
                lot_step_coin=config.lot_step_coin,
            )
            for u in self._underlyings
        }
        self._fixed_vol: VolInput | None = None
        if config.iv_source == "flat":
            self._fixed_vol = FlatVol(config.flat_iv_frac)
        elif config.iv_source == "term":
            self._fixed_vol = TermStructureVol.of_points(config.term_iv_points)
        self._chains: dict[InstrumentId, OptionChain] = {}
        self._vols: dict[InstrumentId, VolInput] = {}
        self._live: dict[InstrumentId, tuple[InstrumentId, OptionSpec]] = {}  # option → (u, terms)
        self.settlements = 0

    def underlyings(self) -> list[InstrumentId]:
        """The underlying perps (their histories must be loaded)."""
        return list(self._underlyings)

    # ---- each hourly step ------------------------------------------------------------------

    def on_step(self, ts_ms: int) -> None:
        """Expiries settled, chains listed and options marked at ``ts_ms`` (module docstring)."""
        for underlying in self._underlyings:
            forward = self._market.price(underlying)
            if forward is None:
                continue
            self._settle_expired(underlying, forward, ts_ms)
            vol = self._vol(underlying)
            if vol is None:
                continue
            self._vols[underlying] = vol
            chain = model_chain(
                underlying,
                self._config.venue,
                base_asset(underlying.symbol),
                ts_ms,
                forward,
                vol,
                self._listing[underlying],
            )
            self._chains[underlying] = chain
            self._market.set_option_chain(chain)
            for iid, (owner, spec) in self._live.items():
                if owner == underlying:
                    self._price(iid, self._price_of(iid, spec, chain), ts_ms)
            self._set_deltas(chain, ts_ms)

    def list_for(
        self, intents: Sequence[PairIntent], prices: Mapping[InstrumentId, float], ts_ms: int
    ) -> Mapping[InstrumentId, float]:
        """List the options ``intents`` name that the run does not know yet (priced from the
        current chain); returns ``prices`` with every option leg's price.

        Raises
        ------
        ValueError
            An option leg that no current chain lists (unknown venue, underlying or terms).
        """
        return with_option_prices(
            intents,
            prices,
            self._market,
            lambda iid: iid in self._instruments,
            lambda iid: self._list(iid, ts_ms),
        )

    def restore(self, option_ids: Iterable[InstrumentId], last_step_ms: int) -> None:
        """List again, after a restart, the options a resumed journal traded (before the paper
        venues are rebuilt from its fills): each in the run's instrument map and the paper
        venue; one unexpired at ``last_step_ms`` (the last step the earlier run completed) also
        in the market data and among the options marked and settled at expiry. Its price comes
        with the next step's chain.

        Raises
        ------
        ValueError
            An option of another venue, with an unreadable symbol, or whose underlying is not
            among ``[option_chain] underlyings`` (the message names it).
        """
        for iid in sorted(set(option_ids), key=str):
            if iid.venue != self._config.venue or iid.kind is not InstrumentKind.OPTION:
                raise ValueError(f"{iid} is not an option of the [option_chain] venue")
            spec = OptionSpec.parse(iid.symbol)
            underlying = next(
                (u for u in self._underlyings if base_asset(u.symbol) == spec.base), None
            )
            if underlying is None:
                raise ValueError(
                    f"option {iid} has no underlying among [option_chain] underlyings "
                    f"{[u.symbol for u in self._underlyings]}"
                )
            instrument = self._instrument(iid, spec)
            self._instruments[iid] = instrument
            self._venue.list_option(instrument)
            if spec.expiry_ms > last_step_ms:  # else settled at or before that step
                self._market.list_option(underlying, instrument)
                self._live[iid] = (underlying, spec)
        log.info("options_restored", options=len(set(option_ids)), live=len(self._live))

    # ---- parts -----------------------------------------------------------------------------

    def _vol(self, underlying: InstrumentId) -> VolInput | None:
        if self._fixed_vol is not None:
            return self._fixed_vol
        window = self._config.realized_window_bars
        closes = self._market.snapshot(0, [underlying], window + 1).closes.get(underlying)
        if closes is None or len(closes) < window + 1:
            return None  # not enough history yet: no chain this step
        realized = realized_vol_frac(closes, window)
        return FlatVol(max(realized + self._config.realized_spread_frac, 0.01))

    def _list(self, iid: InstrumentId, ts_ms: int) -> None:
        chain = next((c for c in self._chains.values() if c.find(iid) is not None), None)
        if chain is None:
            raise ValueError(f"option {iid} is not listed in any current option chain")
        spec = OptionSpec.parse(iid.symbol)
        instrument = self._instrument(iid, spec)
        self._instruments[iid] = instrument
        self._market.list_option(chain.underlying, instrument)
        self._venue.list_option(instrument)
        self._live[iid] = (chain.underlying, spec)
        self._price(iid, self._price_of(iid, spec, chain), ts_ms)
        self._set_deltas(chain, ts_ms)
        log.debug("option_listed", instrument=str(iid))

    def _set_deltas(self, chain: OptionChain, ts_ms: int) -> None:
        """The ledger's USD delta per coin (Δ × forward) of every live option of the chain's
        underlying."""
        deltas: dict[InstrumentId, Decimal] = {}
        for iid, (owner, _) in self._live.items():
            if owner != chain.underlying:
                continue
            value = held_option_delta(chain, iid, self._market.price(iid), ts_ms)
            if value is not None:
                # to 1e-12 USD: a far out-of-the-money delta may be a float below the ledger's
                # 1e-40 resolution
                deltas[iid] = Decimal(repr(value * chain.forward_usd)).quantize(_DELTA_QUANTUM)
        if deltas:
            self._portfolio.set_option_deltas(deltas)

    def _instrument(self, iid: InstrumentId, spec: OptionSpec) -> Instrument:
        """The option's instrument: USD-quoted, the configured tick and lot, 1 coin a unit."""
        step = Decimal(repr(self._config.lot_step_coin))
        tick = Decimal(repr(self._config.price_tick_usd))
        return Instrument(
            iid, spec.base, "USD", tick, step, step, Decimal(0), contract_multiplier=Decimal(1)
        )

    def _price_of(self, iid: InstrumentId, spec: OptionSpec, chain: OptionChain) -> float:
        k = chain.find(iid)
        if k is not None:
            return float(chain.price_usd[k])
        vol = self._vols[chain.underlying]
        return model_price_usd(
            spec, chain.ts_ms, chain.forward_usd, vol, self._config.price_tick_usd
        )

    def _price(self, iid: InstrumentId, price: float, ts_ms: int) -> None:
        self._market.on_price(iid, price, ts_ms)
        self._venue.update_price(iid, price)

    def _settle_expired(self, underlying: InstrumentId, forward: float, ts_ms: int) -> None:
        expired = [
            (iid, spec)
            for iid, (owner, spec) in self._live.items()
            if owner == underlying and spec.expiry_ms <= ts_ms
        ]
        for iid, _ in expired:
            del self._live[iid]
        self.settlements += settle_option_expiries(
            expired,
            forward,
            ts_ms,
            venue=self._venue,
            instruments=self._instruments,
            portfolio=self._portfolio,
            journal=self._journal,
        )


def with_option_prices(
    intents: Sequence[PairIntent],
    prices: Mapping[InstrumentId, float],
    market: MarketData,
    listed: Callable[[InstrumentId], bool],
    list_option: Callable[[InstrumentId], None],
) -> Mapping[InstrumentId, float]:
    """``prices`` (quote units, USD) with the price of every option leg of ``intents`` it
    lacks: an option not ``listed`` yet is listed first (``list_option``, which raises
    ``ValueError`` when no chain lists it), then priced from ``market``. Shared by the model
    chain (:class:`OptionMarket`) and the live one (:mod:`agent.engine.live_options`)."""
    added: dict[InstrumentId, float] = {}
    for intent in intents:
        for leg in intent.legs:
            iid = leg.instrument_id
            if iid.kind is not InstrumentKind.OPTION or iid in prices:
                continue
            if not listed(iid):
                list_option(iid)
            price = market.price(iid)
            if price is not None:
                added[iid] = price
    return {**prices, **added} if added else prices


def settle_option_expiries(
    expired: Sequence[tuple[InstrumentId, OptionSpec]],
    settlement_usd: float,
    ts_ms: int,
    *,
    venue: PaperVenue,
    instruments: Mapping[InstrumentId, Instrument],
    portfolio: Portfolio,
    journal: Journal,
) -> int:
    """Settle expired options on a paper venue at intrinsic value against
    ``settlement_usd`` (the underlying's price, USD): the venue closes its holding
    (:meth:`venues.paper.PaperVenue.settle_option_expiry`) and the ledger books one settlement
    fill per strategy that held it (:func:`agent.engine.option_expiry.book_option_expiry`:
    price = intrinsic, possibly 0, fee 0; journaled like any fill, so a rebuilt ledger books it
    too), in instrument order. Returns the fills booked.

    Raises
    ------
    ValueError
        If an option is not listed on ``venue``.
    """
    settlement = Decimal(repr(settlement_usd))
    booked = 0
    for iid, spec in sorted(expired, key=lambda e: str(e[0])):
        venue.settle_option_expiry(iid, settlement)
        booked += book_option_expiry(
            iid,
            spec,
            settlement,
            ts_ms,
            instruments=instruments,
            portfolio=portfolio,
            journal=journal,
            source="perp_price",
        )
    return booked
