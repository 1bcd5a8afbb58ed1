"""One cycle's view of the stat-arb market, for :meth:`StatArbStrategy.decide`.

From a snapshot: the prices (quote units) and log closes of the symbols that are fresh,
finite, positive and have at least ``calibration_bars`` closes, and each such symbol's beta to
``market_symbol`` over the last ``beta_window_bars`` hourly log returns
(:func:`strategies.common.betas_to_market`). Helpers of :mod:`strategies.stat_arb.strategy`;
the only thing modified here is the strategy's log-close panel
(:class:`strategies.common.LogClosePanel`, a cache whose result is always the batch one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from strategies.base import FloatArray, MarketSnapshot
from strategies.common import LogClosePanel, betas_to_column, betas_to_market
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
    panel: LogClosePanel | None = None,
) -> MarketView:
    """Usable prices and log closes (fresh, finite, positive, long enough) and betas.

    The log closes are the columns of one ``(history_bars, k)`` panel: ``panel``, the
    strategy's :class:`~strategies.common.LogClosePanel` kept between cycles (it logs only the
    new hour's closes when the others did not change), or a new one. The betas
    (:class:`LazyBetas`) are computed when first read.

    Raises
    ------
    ValueError
        If ``panel`` is not ``history_bars`` deep.
    """
    n, depth = config.calibration_bars, history_bars
    if panel is None:
        panel = LogClosePanel(depth)
    elif panel.depth != depth:
        raise ValueError(f"panel depth {panel.depth} != history_bars {depth}")
    symbols: list[str] = []
    prices_now: list[float] = []
    tails: list[FloatArray] = []
    stale, all_prices, all_closes = snapshot.stale, snapshot.prices, snapshot.closes
    for sym, iid in ids.items():
        price = all_prices.get(iid)
        closes = all_closes.get(iid)
        if iid in stale or price is None or not (math.isfinite(price) and price > 0):
            continue
        if closes is None or len(closes) < n:
            continue
        symbols.append(sym)
        prices_now.append(float(price))
        tails.append(closes[-depth:])
    if not symbols:
        return MarketView(prices={}, log_closes={}, betas={})
    logs_panel = panel.update(tails)
    finite = panel.finite_rows(n)  # np.isfinite(logs_panel[-n:]).all(axis=0)
    usable: list[bool] = finite.tolist()
    prices = {sym: p for sym, p, ok in zip(symbols, prices_now, usable, strict=True) if ok}
    columns = logs_panel.T  # columns[k] is logs_panel[:, k]
    logs = {
        sym: columns[k] if len(tail) == depth else columns[k, depth - len(tail) :]
        for k, (sym, tail) in enumerate(zip(symbols, tails, strict=True))
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
    # C order, as the column_stack of _betas: the betas' sums run in memory order.
    returns = np.ascontiguousarray(np.diff(logs_window, axis=0))
    # the market is one of the columns: betas_to_column, the floats of betas_to_market
    column = symbols.index(config.market_symbol)
    betas = betas_to_column(returns, column, min_obs=config.beta_min_obs)
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
