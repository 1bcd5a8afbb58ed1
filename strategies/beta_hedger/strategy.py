"""Beta hedger: one BTC-perp hedge that neutralizes the whole portfolio's beta to BTC.

Each cycle (SEEDS.md "Beta estimation and hedging"):

1. rolling beta of every base asset in ``universe`` to the market (the hedge perp): cov/var of
   the last ``beta_window_bars`` hourly log returns of the venue's ``<base>USDT`` perps, at
   least ``beta_min_obs`` returns, else the beta is *unknown* — the asset is left out of the
   hedge and an ``beta_unknown`` alert says so (never a silent 1.0);
2. beta exposure of the portfolio, USD: ``E = Σ qty · Δ · P_base · β_base`` over the net
   positions of every strategy (spot and perps on every venue, ``Δ = 1``, valued at the base
   asset's perp price; an option at its Black-76 delta per coin × its contract multiplier from
   the chain its underlying lists, ``MarketSnapshot.option_chains`` —
   :func:`strategies.options.held_delta.held_option_delta` —, its delta unknown without one);
   portfolio beta = ``E / gross notional`` (signed delta-equivalent value / gross exposure
   ``Σ |qty · Δ| · P_base``, × β);
3. when ``|portfolio beta| > rebalance_beta_frac``, the hedge target is the quantity of the
   hedge perp that brings ``E`` to zero: ``h* = h − E / (P_hedge · β_hedge)`` with ``h`` the
   hedger's current hedge. Otherwise the hedge is left alone (execution also ignores changes
   below its drift threshold), and so it is while the hedge perp's price is stale
   (``snapshot.stale``: e.g. its recorded data ended), not traded on.

``hedge_inventory`` mode (``inventory_usd`` not empty): the hedger also holds the configured
perps for their expected alpha and hedges their market exposure with the same perp — the
"dynamic delta hedge" of the source documents.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
from pydantic import BaseModel

from strategies.base import (
    Alert,
    Decision,
    FloatArray,
    MarketSnapshot,
    PairIntent,
    PortfolioView,
    StrategyContext,
)
from strategies.base import TargetPosition as Target
from strategies.beta_hedger.config import BetaHedgerConfig
from strategies.beta_hedger.state import BetaHedgerState
from strategies.common import LogClosePanel, betas_to_column
from strategies.options.held_delta import chain_for, held_option_delta
from venues.model import InstrumentId, InstrumentKind, OptionSpec, base_asset


class BetaHedgerStrategy:
    """Nets the portfolio's beta exposure into one hedge-perp target (see module docstring);
    implements ``strategies.base.ConfigurableStrategy``.

    It hedges what the other strategies hold (``hedges_portfolio``), so the agent runs it
    after them in each step.

    Parameters
    ----------
    config : BetaHedgerConfig
    name : str
        Its section name (``[strategies.<name>]``).
    """

    config_model: ClassVar[type[BaseModel]] = BetaHedgerConfig
    hedges_portfolio: ClassVar[bool] = True
    refit_every_s: int | None = None

    def __init__(self, config: BetaHedgerConfig, name: str = "beta_hedger") -> None:
        self.name = name
        self.config = config
        self.cadence_s = config.cadence_s
        self.history_bars = config.beta_window_bars + 1
        self._hedge = InstrumentId(config.venue, InstrumentKind.PERP, config.hedge_symbol)
        self._market_base = base_asset(config.hedge_symbol)
        bases = sorted({*config.universe, self._market_base})
        self._perps = {
            b: InstrumentId(config.venue, InstrumentKind.PERP, f"{b}USDT") for b in bases
        }
        self._bases = bases  # the panel's columns, in order
        self._perp_ids = [self._perps[b] for b in bases]
        self._market_column = bases.index(self._market_base)
        # the perps' log closes, kept between cycles (each hour logs only its new closes)
        self._log_panel = LogClosePanel(config.beta_window_bars + 1)
        self._inventory = {
            InstrumentId(config.venue, InstrumentKind.PERP, s): usd
            for s, usd in sorted(config.inventory_usd.items())
        }

    @classmethod
    def from_config(cls, name: str, config: BetaHedgerConfig, context: StrategyContext) -> Self:
        """The hedger of section ``name`` (it needs nothing from ``context``)."""
        return cls(config, name=name)

    def instruments(self) -> Sequence[InstrumentId]:
        """The universe's perps (betas and prices), the hedge and the inventory perps."""
        return sorted({*self._perps.values(), self._hedge, *self._inventory})

    def initial_state(self) -> BetaHedgerState:
        """The hedger keeps no state between cycles."""
        return BetaHedgerState()

    def load_state(self, data: Mapping[str, Any]) -> BetaHedgerState:
        """Decode a journaled state (:meth:`BetaHedgerState.from_json`).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version.
        """
        return BetaHedgerState.from_json(data)

    def refit(
        self, snapshot: MarketSnapshot, state: BetaHedgerState, now_ms: int
    ) -> BetaHedgerState:
        """No heavy fit: betas are cheap and re-estimated every cycle."""
        return state

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: BetaHedgerState,
        now_ms: int,
    ) -> Decision[BetaHedgerState]:
        """Hedge (and inventory) targets for this cycle.

        Uses ``portfolio.net_positions`` (every strategy) and ``portfolio.positions`` (the
        hedger's own hedge and inventory). Returns no intent when the portfolio beta is
        within ``rebalance_beta_frac`` and there is no inventory to hold.
        """
        inventory = self._inventory_targets(snapshot)
        own = dict(portfolio.positions)
        others = {i: q - own.get(i, 0.0) for i, q in portfolio.net_positions.items()}
        held = _merge(others, own)
        bases = self._read_bases(held, inventory)
        betas = self._betas(snapshot, bases)
        all_prices = snapshot.prices
        prices = {b: all_prices.get(self._perps[b], math.nan) for b in bases}
        deltas = _option_deltas(snapshot, held, now_ms)
        exposure, gross, unknown = _exposure(held, betas, prices, deltas)
        beta_frac = exposure / gross if gross > 0 else 0.0
        target = None
        if self._hedge not in snapshot.stale:  # a stale price is not traded on
            target = self._hedge_target(others, inventory, own, betas, prices, beta_frac, deltas)
        legs = [Target(i, q) for i, q in inventory.items()]
        if target is not None:
            legs.append(Target(self._hedge, target))
        alerts = _unknown_alert(unknown)
        intents = (PairIntent(f"hedge-{now_ms}", tuple(legs), "rebalance_hedge"),) if legs else ()
        diagnostics: dict[str, float | int | str] = {
            "portfolio_beta_frac": round(beta_frac, 6),
            "beta_exposure_usd": round(exposure, 2),
            "gross_notional_usd": round(gross, 2),
            "unknown_betas": len(unknown),
            "hedge_qty": own.get(self._hedge, 0.0),
        }
        if target is not None:
            diagnostics["hedge_target_qty"] = target
        return Decision(intents, state, alerts, diagnostics)

    def _hedge_target(
        self,
        others: Mapping[InstrumentId, float],
        inventory: Mapping[InstrumentId, float],
        own: Mapping[InstrumentId, float],
        betas: Mapping[str, float],
        prices: Mapping[str, float],
        beta_frac: float,
        deltas: Mapping[InstrumentId, float],
    ) -> float | None:
        """``h*`` when a rebalance is due (or inventory is held), else None."""
        if abs(beta_frac) <= self.config.rebalance_beta_frac and not inventory:
            return None
        current = own.get(self._hedge, 0.0)
        if abs(beta_frac) <= self.config.rebalance_beta_frac:
            return current
        unhedged, _, _ = _exposure(_merge(others, inventory), betas, prices, deltas)
        hedge_unit = prices[self._market_base] * betas.get(self._market_base, math.nan)
        if not hedge_unit > 0:  # NaN or no price: cannot size the hedge
            return current
        return -unhedged / hedge_unit

    def _inventory_targets(self, snapshot: MarketSnapshot) -> dict[InstrumentId, float]:
        targets: dict[InstrumentId, float] = {}
        for iid, usd in self._inventory.items():
            price = snapshot.prices.get(iid)
            if price is not None and price > 0:
                targets[iid] = usd / price
        return targets

    def _read_bases(
        self, held: Mapping[InstrumentId, float], inventory: Mapping[InstrumentId, float]
    ) -> list[str]:
        """The universe's bases a cycle reads a beta and a price of, sorted: those of the
        instruments held (by any strategy, ``held`` holding every instrument of
        ``net_positions``) or in the inventory, and the market base. A base's beta does not
        depend on which other bases are estimated with it (column by column, the same floats;
        a test compares), so the others are left out: with N bases held the cost is theirs."""
        read = set(map(_base_of, held))
        read.update(map(_base_of, inventory))
        read.add(self._market_base)
        return sorted(read.intersection(self._perps))

    def _betas(
        self, snapshot: MarketSnapshot, bases: Sequence[str] | None = None
    ) -> dict[str, float]:
        """Beta of each of ``bases`` (sorted, with the market base; default: the universe) to
        the market base; NaN where unknown.

        The returns are ``np.diff`` of the perps' last ``beta_window_bars + 1`` log closes
        (the strategy's :class:`~strategies.common.LogClosePanel`, NaN where a close is
        missing, not finite or not positive; it rebuilds itself when ``bases`` change)."""
        if bases is None:
            bases, perp_ids, market_column = self._bases, self._perp_ids, self._market_column
        else:
            perp_ids = [self._perps[base] for base in bases]
            market_column = bases.index(self._market_base)
        depth = self._log_panel.depth
        all_closes, no_closes = snapshot.closes, _NO_CLOSES
        tails = [all_closes.get(iid, no_closes)[-depth:] for iid in perp_ids]
        logs = self._log_panel.update(tails)
        returns = logs[1:] - logs[:-1]  # np.diff(logs, axis=0) without its wrapper
        betas = betas_to_column(returns, market_column, self.config.beta_min_obs)
        return dict(zip(bases, betas.tolist(), strict=True))


_NO_CLOSES: FloatArray = np.empty(0)
"""The close history of a perp the snapshot has none of (its column is NaN)."""


def _merge(
    a: Mapping[InstrumentId, float], b: Mapping[InstrumentId, float]
) -> dict[InstrumentId, float]:
    merged = dict(a)
    for iid, q in b.items():
        merged[iid] = merged.get(iid, 0.0) + q
    return merged


def _option_deltas(
    snapshot: MarketSnapshot, held: Mapping[InstrumentId, float], now_ms: int
) -> dict[InstrumentId, float]:
    """Coins of underlying per unit held of every held option whose delta the snapshot's
    chains give: Black-76 delta × the instrument's contract multiplier (1 coin when the
    snapshot does not carry the instrument: the model chain's and Deribit's options)."""
    chains = list(snapshot.option_chains.values())
    deltas: dict[InstrumentId, float] = {}
    if not chains:  # no chain lists any option: no delta is known
        return deltas
    for iid, qty in held.items():
        chain = chain_for(chains, iid) if qty else None
        if chain is None:
            continue
        value = held_option_delta(chain, iid, snapshot.prices.get(iid), now_ms)
        if value is not None:
            instrument = snapshot.instruments.get(iid)
            multiplier = 1.0 if instrument is None else float(instrument.contract_multiplier)
            deltas[iid] = value * multiplier
    return deltas


@functools.lru_cache(maxsize=4096)
def _base_of(iid: InstrumentId) -> str:
    """The underlying asset: an option's base from its terms, else from the symbol.

    Memoized (ids are immutable, the answer depends on the id alone): every cycle asks for
    every held instrument; bounded, as options listed over a long live run are many."""
    if iid.kind is InstrumentKind.OPTION:
        try:
            return OptionSpec.parse(iid.symbol).base
        except ValueError:
            return iid.symbol
    return base_asset(iid.symbol)


@functools.lru_cache(maxsize=4096)
def _terms_of(iid: InstrumentId) -> tuple[str, bool]:
    """(:func:`_base_of` ``iid``, whether ``iid`` is an option): what :func:`_exposure` reads
    of every held instrument every cycle, memoized as :func:`_base_of` is."""
    return _base_of(iid), iid.kind is InstrumentKind.OPTION


def _exposure(
    positions: Mapping[InstrumentId, float],
    betas: Mapping[str, float],
    prices: Mapping[str, float],
    option_deltas: Mapping[InstrumentId, float],
) -> tuple[float, float, list[str]]:
    """(beta exposure USD, gross delta-equivalent notional USD, bases held with an unknown
    beta or price, or options with an unknown delta — by symbol)."""
    exposure = gross = 0.0
    unknown: set[str] = set()
    nan = math.nan
    for iid, qty in positions.items():
        if not qty:
            continue
        base, is_option = _terms_of(iid)
        price, beta = prices.get(base, nan), betas.get(base, nan)
        unit_delta = 1.0
        if is_option:
            if iid not in option_deltas:
                unknown.add(iid.symbol)
                continue
            unit_delta = option_deltas[iid]
        if not (price > 0 and math.isfinite(beta)):
            unknown.add(base)
            continue
        exposure += qty * unit_delta * price * beta
        gross += abs(qty * unit_delta) * price
    return exposure, gross, sorted(unknown)


def _unknown_alert(unknown: Sequence[str]) -> tuple[Alert, ...]:
    if not unknown:
        return ()
    message = (
        f"beta unknown (too few returns or no price), or an option's delta unknown (no chain), "
        f"for {', '.join(unknown)}: not hedged"
    )
    return (Alert("beta_unknown", message, {"bases": ",".join(unknown)}),)
