"""One cycle's view of the stat-arb market, for :meth:`StatArbStrategy.decide`.

From a snapshot: the prices (quote units) and log closes of the symbols that are fresh,
finite, positive and have at least ``calibration_bars`` closes, and each such symbol's beta to
``market_symbol`` over the last ``beta_window_bars`` hourly log returns
(:func:`strategies.common.betas_to_market`). Pure helpers of
:mod:`strategies.stat_arb.strategy`; no state is modified here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from strategies.base import FloatArray, MarketSnapshot
from strategies.common import betas_to_market
from strategies.stat_arb.config import StatArbConfig
from venues.model import InstrumentId


@dataclass(frozen=True, slots=True)
class MarketView:
    """What one cycle knows: usable symbols' prices (quote units), log closes, betas."""

    prices: Mapping[str, float]
    log_closes: Mapping[str, FloatArray]
    betas: Mapping[str, float]


def market_view(
    snapshot: MarketSnapshot,
    ids: Mapping[str, InstrumentId],
    config: StatArbConfig,
    history_bars: int,
) -> MarketView:
    """Usable prices and log closes (fresh, finite, positive, long enough) and betas.

    One ``(history_bars, k)`` panel and one ``log`` per cycle: this runs every hour. The
    betas (:class:`LazyBetas`) are computed when first read.
    """
    n, depth = config.calibration_bars, history_bars
    candidates: list[tuple[str, float, FloatArray]] = []
    for sym, iid in ids.items():
        price = snapshot.prices.get(iid)
        closes = snapshot.closes.get(iid)
        if iid in snapshot.stale or price is None or not (math.isfinite(price) and price > 0):
            continue
        if closes is None or len(closes) < n:
            continue
        candidates.append((sym, float(price), closes[-depth:]))
    if not candidates:
        return MarketView(prices={}, log_closes={}, betas={})
    panel = np.full((depth, len(candidates)), np.nan)
    for k, (_, _, tail) in enumerate(candidates):
        panel[depth - len(tail) :, k] = tail
    with np.errstate(divide="ignore", invalid="ignore"):
        logs_panel = np.log(np.where(np.isfinite(panel) & (panel > 0), panel, np.nan))
    finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(logs_panel[-n:]).all(axis=0))
    usable = [bool(ok) for ok in finite]
    prices = {sym: p for (sym, p, _), ok in zip(candidates, usable, strict=True) if ok}
    logs = {
        sym: logs_panel[depth - len(tail) :, k]
        for k, (sym, _, tail) in enumerate(candidates)
        if usable[k]
    }
    window = config.beta_window_bars
    if window + 1 <= depth:
        rows = logs_panel[-(window + 1) :]
        betas = LazyBetas(lambda: _panel_betas(rows[:, finite], list(logs), config))
    else:
        betas = LazyBetas(lambda: _betas(logs, config))
    return MarketView(prices=prices, log_closes=logs, betas=betas)


class LazyBetas(Mapping[str, float]):
    """The betas of a view, computed on first use (a cycle reads them only to enter a pair).

    ``compute`` returns the betas of every usable symbol (:func:`_panel_betas` or
    :func:`_betas`); it runs at most once per view (twice at worst under a race, with the same
    result: it is pure), so the values are exactly those of an eager computation.
    """

    __slots__ = ("_betas", "_compute")

    def __init__(self, compute: Callable[[], dict[str, float]]) -> None:
        self._compute = compute
        self._betas: dict[str, float] | None = None

    def _values(self) -> dict[str, float]:
        betas = self._betas
        if betas is None:
            betas = self._betas = self._compute()
        return betas

    @property
    def computed(self) -> bool:
        """Whether the betas were computed (read) already."""
        return self._betas is not None

    def __getitem__(self, symbol: str) -> float:
        return self._values()[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())

    def __repr__(self) -> str:
        return f"LazyBetas({self._values()!r})"


def _panel_betas(
    logs_window: FloatArray, symbols: list[str], config: StatArbConfig
) -> dict[str, float]:
    """:func:`_betas` from the usable columns of the log panel's last ``beta_window_bars + 1``
    rows (``symbols`` in column order): one ``diff`` for every symbol. A column's rows before
    its history are NaN, so its returns are NaN-padded at the front exactly as
    :func:`_tail_returns` pads them, and every return is the same float."""
    if config.market_symbol not in symbols:
        return {sym: math.nan for sym in symbols}
    # C order, as the column_stack of _betas: betas_to_market's sums run in memory order.
    returns = np.ascontiguousarray(np.diff(logs_window, axis=0))
    market = np.ascontiguousarray(returns[:, symbols.index(config.market_symbol)])
    betas = betas_to_market(returns, market, min_obs=config.beta_min_obs)
    return {sym: float(b) for sym, b in zip(symbols, betas, strict=True)}


def _betas(logs: Mapping[str, FloatArray], config: StatArbConfig) -> dict[str, float]:
    """Beta of every usable symbol to ``market_symbol``; NaN when unknown."""
    window = config.beta_window_bars
    market = logs.get(config.market_symbol)
    if market is None or not logs:
        return {sym: math.nan for sym in logs}
    returns = np.column_stack([_tail_returns(logs[s], window) for s in logs])
    betas = betas_to_market(returns, _tail_returns(market, window), min_obs=config.beta_min_obs)
    return {sym: float(b) for sym, b in zip(logs, betas, strict=True)}


def _tail_returns(log_closes: FloatArray, window: int) -> FloatArray:
    """Last ``window`` log returns, NaN-padded at the front when the history is shorter."""
    returns = np.diff(log_closes[-(window + 1) :])
    if returns.shape[0] < window:
        returns = np.concatenate([np.full(window - returns.shape[0], np.nan), returns])
    return returns
