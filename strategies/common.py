"""Pure helpers shared by several strategies (one place, so each estimate means the same
thing everywhere): rolling beta to the market, funding-rate staleness, the fee-aware
funding-flip close rule, average daily volume and the short-size cap, stressed-correlation
sizing and the net delta of a hedged book (with the alerts the ADV cap and the delta rule
journal, one layout for every strategy that applies them); and the log-close panel a strategy
keeps between cycles (:class:`LogClosePanel`), moved on by one row per hourly bar.

Sources (SEEDS.md): "Funding-flip monitor ... fee-aware: do not churn on one noisy
settlement"; "Short-side risks: cap short size (e.g. 2% of average daily volume)"; "Size for
stressed correlation (e.g. assume 0.4 when pairs normally show 0.8)"; "rebalance when |delta|
> 5% of the position value".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import AfterValidator, Field

from strategies.base import Alert, MarketSnapshot
from venues.model import InstrumentId

FloatArray = npt.NDArray[np.float64]

HOURS_PER_DAY = 24
_BPS = 1e-4

_add_reduce = np.add.reduce  # the reduction behind ndarray.sum, without its wrapper


def all_true(flags: npt.NDArray[np.bool_] | np.bool_) -> bool:
    """``bool(flags.all())``, any shape: every flag true, as one ``np.count_nonzero`` pass (a
    plain C count, cheaper per call than the ``logical_and`` reduction behind ``.all``; the
    hourly paths ask this several times a cycle)."""
    return int(np.count_nonzero(flags)) == flags.size


def betas_to_market(
    log_returns: FloatArray, market_log_returns: FloatArray, min_obs: int = 20
) -> FloatArray:
    """Beta of each asset to the market: ``cov(r_i, r_m) / var(r_m)`` over the given rows.

    Uses, per asset, the rows where both its return and the market return are finite
    (SEEDS.md, "Beta estimation": rolling window of log returns, at least 20 observations).
    When the market is one of the assets, :func:`betas_to_column` gives the same floats for
    less work.

    Parameters
    ----------
    log_returns : FloatArray
        Shape ``(n, k)``, float64 log returns (NaN marks a missing observation).
    market_log_returns : FloatArray
        Shape ``(n,)``, float64 log returns of the market (BTC).
    min_obs : int
        Fewest joint observations for a beta, ``≥ 2``.

    Returns
    -------
    FloatArray
        Shape ``(k,)``; NaN ("unknown") where fewer than ``min_obs`` observations or the
        market did not move over them. Never a silent 1.0.

    Raises
    ------
    ValueError
        On mismatched shapes or ``min_obs < 2``.
    """
    r = np.asarray(log_returns, dtype=np.float64)
    m = np.asarray(market_log_returns, dtype=np.float64)
    if r.ndim != 2 or m.ndim != 1 or r.shape[0] != m.shape[0]:
        raise ValueError(f"need log_returns (n, k) and market (n,), got {r.shape}, {m.shape}")
    _check_min_obs(min_obs)
    if _all_observed(r, min_obs) and all_true(np.isfinite(m)):
        return _betas_all_observed(r, m)
    return _masked_betas(r, m, min_obs)


def betas_to_column(log_returns: FloatArray, market_column: int, min_obs: int = 20) -> FloatArray:
    """:func:`betas_to_market` of ``log_returns`` to its own column ``market_column`` (the
    market is one of the assets, its beta 1): the same floats (a test compares them bit for
    bit), with less work when every return is known.

    Parameters
    ----------
    log_returns : FloatArray
        Shape ``(n, k)``, float64 log returns (NaN marks a missing observation).
    market_column : int
        Column of the market (BTC), in ``[0, k)``.
    min_obs : int
        Fewest joint observations for a beta, ``≥ 2``.

    Returns
    -------
    FloatArray
        Shape ``(k,)``, as :func:`betas_to_market`.

    Raises
    ------
    ValueError
        If ``log_returns`` is not two-dimensional, ``market_column`` is out of range or
        ``min_obs < 2``.
    """
    r = np.asarray(log_returns, dtype=np.float64)
    if r.ndim != 2 or not 0 <= market_column < r.shape[1]:
        raise ValueError(
            f"need log_returns (n, k) and a column in [0, k), got {r.shape}, {market_column}"
        )
    _check_min_obs(min_obs)
    if _all_observed(r, min_obs):
        return _betas_to_column_all_observed(r, market_column)
    return _masked_betas(r, r[:, market_column], min_obs)


def _check_min_obs(min_obs: int) -> None:
    if min_obs < 2:
        raise ValueError(f"min_obs must be >= 2, got {min_obs}")


def _all_observed(r: FloatArray, min_obs: int) -> bool:
    """Whether the all-observed shortcuts apply to ``r`` (``(n, k)``): at least ``min_obs``
    rows, C-contiguous (the masked path's copies are), every return finite."""
    return r.shape[0] >= min_obs and r.flags.c_contiguous and all_true(np.isfinite(r))


def _masked_betas(r: FloatArray, m: FloatArray, min_obs: int) -> FloatArray:
    """:func:`betas_to_market`'s computation: each asset over the rows where its return and
    the market's are finite."""
    mask = np.isfinite(r) & np.isfinite(m)[:, None]
    count = mask.sum(axis=0)
    safe_count = np.maximum(count, 1)
    r0 = np.where(mask, r, 0.0)
    m0 = np.where(mask, m[:, None], 0.0)
    rc = np.where(mask, r0 - r0.sum(axis=0) / safe_count, 0.0)
    mc = np.where(mask, m0 - m0.sum(axis=0) / safe_count, 0.0)
    cov = np.einsum("tk,tk->k", rc, mc)
    var = np.einsum("tk,tk->k", mc, mc)
    known = (count >= min_obs) & (var > 0)
    beta = np.full(r.shape[1], np.nan)
    np.divide(cov, var, out=beta, where=known)
    return beta


def _betas_all_observed(r: FloatArray, m: FloatArray) -> FloatArray:
    """:func:`betas_to_market` when every return is finite and ``r`` is C-contiguous with at
    least ``min_obs`` rows: the masked computation with its masks left out. Every mask is all
    true, so its ``np.where`` copies are the arrays themselves (C order, as the copies are)
    and the counts are ``n``; the sums, the centred arrays handed to ``einsum`` and the betas
    are the same floats (a test compares them bit for bit). When the market moved (every
    ``var > 0``, the usual window) ``cov / var`` is the masked division with nothing masked."""
    n = r.shape[0]
    m0 = np.empty_like(r)
    m0[...] = m[:, None]
    # r.sum(axis=0) without its wrapper: the same reduction
    rc = r - _add_reduce(r, axis=0) / n
    mc = m0 - _add_reduce(m0, axis=0) / n
    cov = np.einsum("tk,tk->k", rc, mc)
    var = np.einsum("tk,tk->k", mc, mc)
    moved = var > 0
    if all_true(moved):
        return np.asarray(cov / var, dtype=np.float64)
    beta = np.full(r.shape[1], np.nan)
    np.divide(cov, var, out=beta, where=moved)
    return beta


def _betas_to_column_all_observed(r: FloatArray, market_column: int) -> FloatArray:
    """:func:`_betas_all_observed` of ``r`` to its column ``market_column``, without the
    ``(n, k)`` market copy: that copy's columns are the market column itself, so its centred
    columns are ``rc[:, market_column]`` (the same sums, per column in the same order) and every
    ``var`` is ``cov[market_column]``; ``einsum`` over ``'tk,t->k'`` sums each column's
    products in the order ``'tk,tk->k'`` does (tests compare the betas with the former
    computation's, bit for bit, over random panels of many shapes)."""
    rc = r - _add_reduce(r, axis=0) / r.shape[0]
    cov = np.einsum("tk,t->k", rc, rc[:, market_column])
    var = cov[market_column]
    if var > 0:  # the market moved: every beta known
        return np.asarray(cov / var, dtype=np.float64)
    return np.full(r.shape[1], np.nan)


def usable_logs(closes: FloatArray) -> FloatArray:
    """``log(close)`` where a close is finite and positive, NaN elsewhere (same shape).

    Element by element: a value is the same float whatever array it is computed in (numpy's
    ``log`` loop is one vector kernel for contiguous input, the tail included), which is what
    lets :class:`LogClosePanel` log one new row instead of the whole panel.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(np.isfinite(closes) & (closes > 0), closes, np.nan))


class LogClosePanel:
    """The usable log closes (:func:`usable_logs`) of ``k`` series over their last ``depth``
    bars, kept between cycles: shape ``(depth, k)``, oldest row first, a series shorter than
    ``depth`` NaN-padded at the top.

    :meth:`update` compares the new tails with the previous ones: when every series only moved
    on by one bar (its first ``depth − 1`` closes equal the previous last ones) it logs the new
    row alone and appends it; otherwise (first call, another number or order of series, a
    history rewritten or more than one bar later, a NaN close in the window, as NaN equals
    nothing) it rebuilds the whole panel. Equal closes have equal bits but for ``±0.0``, whose
    logs are both NaN, so either way the panel is exactly ``usable_logs`` of the closes panel
    (a test compares them bit for bit). The panel returned by an earlier call is never written
    again (rows are appended past it; when the buffer is full a new one is allocated), so a
    caller may hold it.

    Parameters
    ----------
    depth : int
        Rows of the panel (bars), ``≥ 2``.

    Raises
    ------
    ValueError
        If ``depth < 2``.
    """

    _SPARE_ROWS = 256  # rows appended before the buffer is re-allocated

    def __init__(self, depth: int) -> None:
        if depth < 2:
            raise ValueError(f"LogClosePanel depth must be >= 2, got {depth}")
        self._depth = depth
        self._lock = threading.Lock()
        self._closes: FloatArray | None = None  # (k, depth) closes of the last update
        self._buffer: FloatArray = np.empty((0, 0))  # (rows, k) log closes; window at _start
        self._start = 0
        self._bad_row: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        # _bad_row[j]: buffer row of the newest non-finite log close of series j (−1: none)

    @property
    def depth(self) -> int:
        """Rows of the panel, bars."""
        return self._depth

    def update(self, tails: Sequence[FloatArray]) -> FloatArray:
        """The ``(depth, k)`` panel of ``tails`` (one close history per series, oldest first,
        at most ``depth`` long, the newest close last; an empty one gives a NaN column).

        Raises
        ------
        ValueError
            If a tail is longer than ``depth`` or not one-dimensional.
        """
        depth = self._depth
        if tails and set(map(len, tails)) == {depth}:
            closes = np.array(tails, dtype=np.float64, ndmin=2)
            if closes.ndim != 2:
                raise ValueError(f"tails must be one-dimensional, got shape {closes.shape[1:]}")
        else:
            closes = np.full((len(tails), depth), np.nan)
            for j, tail in enumerate(tails):
                if len(tail) > depth or np.ndim(tail) != 1:
                    raise ValueError(f"tail {j} has shape {np.shape(tail)}, want (<= {depth},)")
                if len(tail):
                    closes[j, depth - len(tail) :] = tail
        with self._lock:
            previous = self._closes
            self._closes = closes
            if (
                previous is not None
                and previous.shape == closes.shape
                and _moved_on_by_one_bar(closes, previous)
            ):
                self._append(np.ascontiguousarray(closes[:, -1]))
            else:
                self._rebuild(usable_logs(np.ascontiguousarray(closes.T)))
            return self._buffer[self._start : self._start + depth]

    def finite_rows(self, rows: int) -> npt.NDArray[np.bool_]:
        """Whether each series' log closes are all finite over the panel's last ``rows`` rows
        (as of the last :meth:`update`), shape ``(k,)``: ``np.isfinite(panel[-rows:]).all(0)``.

        Raises
        ------
        ValueError
            If ``rows`` is not in ``[1, depth]``.
        """
        if not 1 <= rows <= self._depth:
            raise ValueError(f"rows must be in [1, {self._depth}], got {rows}")
        with self._lock:
            first_row = self._start + self._depth - rows
            return np.asarray(self._bad_row < first_row)

    def _rebuild(self, logs: FloatArray) -> None:
        depth, k = logs.shape
        self._buffer = np.empty((depth + self._SPARE_ROWS, k))
        self._buffer[:depth] = logs
        self._start = 0
        bad = ~np.isfinite(logs)
        newest_bad = depth - 1 - np.argmax(bad[::-1], axis=0)
        self._bad_row = np.where(bad.any(axis=0), newest_bad, -1).astype(np.int64)

    def _append(self, closes: FloatArray) -> None:
        """Append the log closes of the newest bar (``closes``: shape ``(k,)``, contiguous)."""
        # All finite and positive (the usual hour): np.log alone is usable_logs, no NaN to mark.
        # 0 < c < inf is false for NaN, ±inf and c ≤ 0: "finite and positive", in one pass.
        all_usable = all_true((closes > 0) & (closes < math.inf))
        row = np.log(closes) if all_usable else usable_logs(closes)
        depth, end = self._depth, self._start + self._depth
        if end == self._buffer.shape[0]:  # full: carry the window over to a new buffer
            buffer = np.empty_like(self._buffer)
            buffer[: depth - 1] = self._buffer[end - depth + 1 : end]
            self._bad_row = self._bad_row - (end - depth + 1)
            self._buffer, self._start, end = buffer, 0, depth - 1
        else:
            self._start += 1
        self._buffer[end] = row
        if not all_usable:
            self._bad_row[~np.isfinite(row)] = end


def _moved_on_by_one_bar(closes: FloatArray, previous: FloatArray) -> bool:
    """``bool((closes[:, :-1] == previous[:, 1:]).all())`` for two C-contiguous ``(k, depth)``
    arrays, compared as one contiguous run: ``closes.ravel()[:-1]`` against
    ``previous.ravel()[1:]`` pairs every ``closes[j, t]`` with ``previous[j, t + 1]`` and, at
    ``t = depth − 1``, ``closes[j, −1]`` with ``previous[j + 1, 0]``: closes the rule does not
    compare, so those entries are set true (a test compares both forms on random panels)."""
    depth = closes.shape[1]
    equal = np.equal(closes.ravel()[:-1], previous.ravel()[1:])
    equal[depth - 1 :: depth] = True
    return all_true(equal)


def funding_is_stale(ts_funding_ms: int, interval_s: int, now_ms: int) -> bool:
    """Whether a funding rate is too old to trade on.

    A settled rate is normally at most one interval old; older than two intervals means at
    least one settlement was missed (feed gap). A predicted rate (settlement in the future)
    is fresh.

    Raises
    ------
    ValueError
        If ``interval_s`` is not positive.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval_s must be positive, got {interval_s}")
    return now_ms - ts_funding_ms > 2 * interval_s * 1000


@dataclass(frozen=True, slots=True)
class FlipCloseCheck:
    """The fee-aware funding-flip rule's numbers (:func:`flip_close_check`).

    Attributes
    ----------
    expected_adverse_usd : float
        Adverse funding expected over the horizon if the position stays, USD (≥ 0).
    close_cost_usd : float
        Cost of closing every leg now (taker fee + slippage), USD (≥ 0).
    """

    expected_adverse_usd: float
    close_cost_usd: float

    @property
    def close(self) -> bool:
        """Close only when staying is expected to cost more than closing."""
        return self.expected_adverse_usd > self.close_cost_usd


def flip_close_check(
    adverse: Iterable[tuple[float, float]],
    horizon_h: float,
    close_legs: Iterable[tuple[float, float]],
) -> FlipCloseCheck:
    """Whether closing a position whose funding turned against it beats staying: the one rule
    the funding-flip monitor and the harvester's own flip exit both apply.

    ``expected = Σ |rate/h| × horizon_h × |notional|`` over the adverse perps, against
    ``cost = Σ |notional| × cost_bps / 1e4`` over every leg to close.

    Parameters
    ----------
    adverse : Iterable[tuple[float, float]]
        Per adverse perp: (funding rate normalized per hour, fraction / h; notional, USD).
    horizon_h : float
        Horizon over which the adverse rate is expected to persist, hours, > 0.
    close_legs : Iterable[tuple[float, float]]
        Per leg to close: (notional, USD; taker fee + slippage of the closing order, bps).

    Raises
    ------
    ValueError
        If ``horizon_h`` is not a positive finite number.
    """
    if not (math.isfinite(horizon_h) and horizon_h > 0):
        raise ValueError(f"horizon_h must be finite and > 0, got {horizon_h!r}")
    expected = math.fsum(abs(r) * horizon_h * abs(n) for r, n in adverse)
    cost = math.fsum(abs(n) * bps * _BPS for n, bps in close_legs)
    return FlipCloseCheck(expected, cost)


def _adv_window_h(hours: int) -> int:
    """0 (no ADV cap) or at least a day."""
    if 0 < hours < 24:
        raise ValueError(f"adv_window_h must be 0 (no ADV cap) or >= 24, got {hours}")
    return hours


MaxShortAdvFrac = Annotated[
    float,
    Field(
        gt=0,
        le=1,
        description=(
            "Cap the short leg at this fraction of its average daily volume (no cap while the "
            "ADV is unknown)."
        ),
    ),
]
"""The ``max_short_adv_frac`` config field of the strategies with an ADV cap (SEEDS: 2 %)."""


AdvWindowH = Annotated[
    int,
    Field(
        ge=0,
        description=(
            "Hours of volume averaged into the ADV, h, 0 or >= 24 (raises history_bars to it: "
            "keep it within the history the strategy loads); 0: no ADV cap (live steps carry "
            "no volume yet)."
        ),
    ),
    AfterValidator(_adv_window_h),
]
"""The ``adv_window_h`` config field the strategies with an ADV cap share (:func:`adv_usd`)."""


def adv_usd(closes: FloatArray, volumes: FloatArray, window_h: int) -> float | None:
    """Average daily traded value over the last ``window_h`` hours, USD.

    ``Σ volume_t × close_t × 24 / window_h`` over the last ``window_h`` hourly bars (volume in
    base units, closes in quote units ≈ USD for USDT-quoted instruments).

    Parameters
    ----------
    closes, volumes : FloatArray
        Hourly closes and base volumes, shape ``(n,)``, aligned (same hours, newest last).
    window_h : int
        Hours averaged, ≥ 24.

    Returns
    -------
    float | None
        USD per day; None ("unknown") when fewer than ``window_h`` aligned hours are known or
        a value in the window is not finite.

    Raises
    ------
    ValueError
        If ``window_h`` < 24.
    """
    if window_h < HOURS_PER_DAY:
        raise ValueError(f"adv window_h must be >= 24, got {window_h}")
    n = min(len(closes), len(volumes))
    if n < window_h:
        return None
    c = np.asarray(closes[-window_h:], dtype=np.float64)
    v = np.asarray(volumes[-window_h:], dtype=np.float64)
    traded = c * v
    total = float(traded.sum())
    # A non-finite product makes the sum non-finite, so a finite sum needs no scan of the
    # window; a non-finite one is an overflow of finite products or a non-finite value.
    if not math.isfinite(total) and not np.isfinite(traded).all():
        return None
    return total * HOURS_PER_DAY / window_h


def snapshot_adv_usd(
    snapshot: MarketSnapshot, instrument_id: InstrumentId, window_h: int
) -> float | None:
    """:func:`adv_usd` of ``instrument_id`` from a snapshot's closes and volumes (USD per day),
    None when the snapshot has no volume for it or too little history.

    Raises
    ------
    ValueError
        If ``window_h`` < 24.
    """
    volumes = snapshot.volumes.get(instrument_id)
    closes = snapshot.closes.get(instrument_id)
    if volumes is None or closes is None:
        return None
    return adv_usd(closes, volumes, window_h)


def short_qty_cap(adv_usd_value: float, price: float, adv_frac: float) -> float:
    """Largest short, base units, allowed by the ADV rule: ``adv_frac × ADV / price``.

    Raises
    ------
    ValueError
        If ``price`` is not positive or ``adv_frac``/``adv_usd_value`` is negative or not
        finite.
    """
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"price must be finite and > 0, got {price!r}")
    if not (math.isfinite(adv_frac) and adv_frac >= 0):
        raise ValueError(f"adv_frac must be finite and >= 0, got {adv_frac!r}")
    if not (math.isfinite(adv_usd_value) and adv_usd_value >= 0):
        raise ValueError(f"ADV must be finite and >= 0, got {adv_usd_value!r}")
    return adv_frac * adv_usd_value / price


def adv_capped_short_qty(
    snapshot: MarketSnapshot,
    short_id: InstrumentId,
    qty: float,
    price: float,
    adv_frac: float,
    window_h: int,
) -> tuple[float, Alert | None]:
    """``qty`` (base units, ≥ 0) capped at ``adv_frac`` of ``short_id``'s average daily
    volume over ``window_h`` hours (:func:`snapshot_adv_usd`, :func:`short_qty_cap`), with the
    ``short_adv_cap`` alert (:func:`short_adv_alert`) when the cap binds.

    Unchanged (no alert) when ``window_h`` is 0 (the cap is off) or the snapshot carries no
    volume or too little history for ``short_id`` (the ADV is unknown).

    Raises
    ------
    ValueError
        As :func:`short_qty_cap` (a non-positive price, a negative ``adv_frac``) or
        :func:`adv_usd` (``0 < window_h < 24``).
    """
    if window_h == 0:
        return qty, None
    adv = snapshot_adv_usd(snapshot, short_id, window_h)
    if adv is None:
        return qty, None
    cap = short_qty_cap(adv, price, adv_frac)
    if qty <= cap:
        return qty, None
    return cap, short_adv_alert(str(short_id), qty, cap, adv, price, adv_frac)


def short_adv_alert(
    instrument: str, qty: float, cap_qty: float, adv: float, price: float, adv_frac: float
) -> Alert:
    """The ``short_adv_cap`` alert: a short of ``qty`` cut to ``cap_qty`` (base units) =
    ``adv_frac`` × ``adv`` (USD/day) / ``price``."""
    return Alert(
        kind="short_adv_cap",
        message=(
            f"{instrument}: short {qty:.6g} capped at {cap_qty:.6g} "
            f"({adv_frac:.2%} of ADV {adv:,.0f} USD/day at {price:.6g})"
        ),
        fields={
            "instrument": instrument,
            "qty": qty,
            "cap_qty": cap_qty,
            "adv_usd": adv,
            "price": price,
            "max_short_adv_frac": adv_frac,
        },
    )


def stressed_corr_scale(
    weights: tuple[float, float],
    vols: tuple[float, float],
    corr: float,
    stressed_corr: float,
) -> float:
    """Notional scale that keeps a two-asset book's volatility at its normal level if the
    correlation moves to ``stressed_corr``: ``min(1, σ(ρ) / σ(ρ_stressed))``.

    ``σ(ρ)² = w_a² σ_a² + w_b² σ_b² + 2 ρ w_a w_b σ_a σ_b`` with signed weights (a long A /
    short B pair has ``w_b < 0``, so a lower correlation raises its risk). SEEDS example:
    equal weights ±1, equal vols, ρ 0.8 → 0.4: ``σ² = 0.4`` → ``1.2``, scale ``√(1/3) ≈
    0.577``. Never above 1 (a stress that lowers the risk does not enlarge the book).

    Parameters
    ----------
    weights : tuple[float, float]
        Signed notionals (or weights) of the two assets.
    vols : tuple[float, float]
        Their return volatilities (same period), ≥ 0.
    corr, stressed_corr : float
        Measured and stressed correlation, in ``[-1, 1]``.

    Returns
    -------
    float
        In ``(0, 1]``; 1 when either variance is 0.

    Raises
    ------
    ValueError
        If a correlation is outside ``[-1, 1]`` or a volatility is negative or not finite.
    """
    for name, rho in (("corr", corr), ("stressed_corr", stressed_corr)):
        if not (math.isfinite(rho) and -1.0 <= rho <= 1.0):
            raise ValueError(f"{name} must be in [-1, 1], got {rho!r}")
    if not all(math.isfinite(v) and v >= 0 for v in vols):
        raise ValueError(f"vols must be finite and >= 0, got {vols!r}")
    (wa, wb), (sa, sb) = weights, vols

    def variance(rho: float) -> float:
        return wa * wa * sa * sa + wb * wb * sb * sb + 2.0 * rho * wa * wb * sa * sb

    normal, stressed = variance(corr), variance(stressed_corr)
    if normal <= 0 or stressed <= 0:
        return 1.0
    return min(1.0, math.sqrt(normal / stressed))


def net_delta_frac(legs: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """Net delta of a hedged book and its size relative to the position value.

    ``delta = Σ qty × price`` (linear perps and spot: ±1 per unit); position value = the
    mean of the legs' ``|qty × price|`` (one leg's notional for a two-leg hedge).

    Parameters
    ----------
    legs : Iterable[tuple[float, float]]
        Per leg: (signed qty, base units; price, quote units).

    Returns
    -------
    tuple[float, float]
        (net delta, USD; ``|delta| / position value``, 0 for an empty book).
    """
    notionals = [q * p for q, p in legs]  # each leg's product once, for both sums
    delta = math.fsum(notionals)
    if not notionals:
        return 0.0, 0.0
    value = math.fsum(map(abs, notionals)) / len(notionals)
    return delta, (abs(delta) / value if value > 0 else 0.0)


def delta_rebalance_alert(symbol: str, delta_usd: float, delta_frac: float, band: float) -> Alert:
    """The ``delta_rebalance`` alert: the held legs of ``symbol`` (a position, or a whole
    book) net ``delta_usd`` USD, ``delta_frac`` of the position value, beyond ``band``."""
    return Alert(
        kind="delta_rebalance",
        message=(
            f"{symbol}: net delta {delta_usd:,.2f} USD is {delta_frac:.2%} of the position "
            f"value (> {band:.2%}); rebalancing the legs"
        ),
        fields={
            "symbol": symbol,
            "net_delta_usd": delta_usd,
            "net_delta_frac": delta_frac,
            "delta_rebalance_frac": band,
        },
    )
