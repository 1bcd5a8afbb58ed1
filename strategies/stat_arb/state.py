"""State of the cointegration stat-arb strategy: the last re-test's candidates and open pairs.

JSON layout, version 1 (the layout written before the state was typed; it has no
``"version"`` key)::

    {"fit": null | {"fitted_at_ms": int, "n_tested": int, "n_qualified": int,
                    "excluded": {SYMBOL: reason},
                    "pairs": [{"a": str, "b": str, "hedge_ratio": float, "intercept": float,
                               "adf_stat": float, "p_value": float, "half_life_bars": float,
                               "lags": int}, ...]},
     "open": {"A-B": {"a": str, "b": str, "direction": 1 | -1, "entry_z": float,
                      "entry_ms": int, "qty_a": float, "qty_b": float, "hedge_ratio": float,
                      "intercept": float, "beta_a": float, "beta_b": float, "retire": bool}}}

Version 2 is version 1 plus ``"version": 2`` at the top level and, in an open pair's
record, an optional ``"watch"`` object (its health reference and Kalman hedge-ratio filter,
:class:`~strategies.stat_arb.health.PairWatch`)::

    "watch": {"lags": int, "half_life_bars": float,
              "kalman": {"bar_h": int, "alpha": float, "gamma": float, "p_aa": float,
                         "p_ag": float, "p_gg": float, "center_log_b": float,
                         "obs_var": float, "sd_log_b": float, "discount": float}}

:meth:`StatArbState.to_json` writes version 2 when an open pair has a watch record and
version 1 exactly otherwise (same keys in the same order, ints as ints, floats as floats),
so a state without one reads like one written before.

Versioning: :meth:`StatArbState.from_json` dispatches on ``data.get("version", 1)`` and keeps
reading every earlier version, so a journal written by an older release still resumes (its
open pairs get a watch record at the next decision).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from strategies.stat_arb.health import PairWatch
from strategies.state_json import (
    VERSION_KEY,
    JsonObject,
    decode_layout,
    str_map,
)

_ROOT = "stat_arb state"


@dataclass(frozen=True, slots=True)
class PairCandidate:
    """A pair that passed the last re-test (Engle–Granger ``log A = intercept + γ log B``).

    Attributes
    ----------
    a, b : str
        Symbols of leg A and leg B (venue spelling, ``BTCUSDT``).
    hedge_ratio : float
        γ, dimensionless (log price of A per log price of B).
    intercept : float
        Regression intercept, log price units.
    adf_stat : float
        ADF statistic of the residual spread.
    p_value : float
        Engle–Granger p-value, fraction.
    half_life_bars : float
        Ornstein–Uhlenbeck half-life of the spread, hourly bars.
    lags : int
        Augmenting lags the ADF test chose.
    """

    a: str
    b: str
    hedge_ratio: float
    intercept: float
    adf_stat: float
    p_value: float
    half_life_bars: float
    lags: int

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {
            "a": self.a,
            "b": self.b,
            "hedge_ratio": self.hedge_ratio,
            "intercept": self.intercept,
            "adf_stat": self.adf_stat,
            "p_value": self.p_value,
            "half_life_bars": self.half_life_bars,
            "lags": self.lags,
        }

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, _CANDIDATE_KEYS)
        return cls(
            a=obj.str_field("a"),
            b=obj.str_field("b"),
            hedge_ratio=obj.float_field("hedge_ratio"),
            intercept=obj.float_field("intercept"),
            adf_stat=obj.float_field("adf_stat"),
            p_value=obj.float_field("p_value"),
            half_life_bars=obj.float_field("half_life_bars"),
            lags=obj.int_field("lags"),
        )


_CANDIDATE_KEYS = (
    "a", "b", "hedge_ratio", "intercept", "adf_stat", "p_value", "half_life_bars", "lags"
)  # fmt: skip


_FIT_KEYS = ("fitted_at_ms", "n_tested", "n_qualified", "excluded", "pairs")


@dataclass(frozen=True, slots=True)
class PairFit:
    """Outcome of the last cointegration re-test.

    Attributes
    ----------
    fitted_at_ms : int
        Time of the re-test, epoch ms UTC.
    n_tested : int
        Pairs tested.
    n_qualified : int
        Pairs that passed the p-value and half-life filters.
    excluded : Mapping[str, str]
        Symbols left out of the test and why (``short_history``, ``constant``, ...).
    pairs : tuple[PairCandidate, ...]
        Candidates to enter, best-ranked first.
    """

    fitted_at_ms: int
    n_tested: int
    n_qualified: int
    excluded: Mapping[str, str]
    pairs: tuple[PairCandidate, ...]

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {
            "fitted_at_ms": self.fitted_at_ms,
            "n_tested": self.n_tested,
            "n_qualified": self.n_qualified,
            "excluded": dict(self.excluded),
            "pairs": [p.to_json() for p in self.pairs],
        }

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, _FIT_KEYS)
        pairs_path = obj.field_path("pairs")
        return cls(
            fitted_at_ms=obj.int_field("fitted_at_ms"),
            n_tested=obj.int_field("n_tested"),
            n_qualified=obj.int_field("n_qualified"),
            excluded=str_map(obj, "excluded"),
            pairs=tuple(
                PairCandidate.from_json(p, f"{pairs_path}[{k}]")
                for k, p in enumerate(obj.list_field("pairs"))
            ),
        )


@dataclass(frozen=True, slots=True)
class OpenPair:
    """An open spread: long A / short B (``direction = 1``) or the reverse (``-1``).

    Attributes
    ----------
    a, b : str
        Symbols of leg A and leg B.
    direction : int
        ``1`` long spread (long A, short B), ``-1`` short spread.
    entry_z : float
        Spread z-score at entry, dimensionless.
    entry_ms : int
        Entry decision time, epoch ms UTC.
    qty_a : float
        Size of leg A, base units, unsigned (fixed at entry).
    qty_b : float
        Size of leg B, base units, unsigned (re-sized at the entry betas while held).
    hedge_ratio : float
        γ of the fit the pair was entered with.
    intercept : float
        Intercept of that fit, log price units.
    beta_a, beta_b : float
        Betas of the legs to the market symbol at entry, dimensionless.
    retire : bool
        The last re-test no longer qualifies the pair: exit at the next decision.
    watch : PairWatch | None
        Health reference and hedge-ratio filter (None: not started yet, e.g. a pair read
        from a version-1 state).
    """

    a: str
    b: str
    direction: int
    entry_z: float
    entry_ms: int
    qty_a: float
    qty_b: float
    hedge_ratio: float
    intercept: float
    beta_a: float
    beta_b: float
    retire: bool = False
    watch: PairWatch | None = None

    def to_json(self) -> dict[str, Any]:
        """Version-1 record, plus ``watch`` (version 2) when set (see the module docstring)."""
        record: dict[str, Any] = {
            "a": self.a,
            "b": self.b,
            "direction": self.direction,
            "entry_z": self.entry_z,
            "entry_ms": self.entry_ms,
            "qty_a": self.qty_a,
            "qty_b": self.qty_b,
            "hedge_ratio": self.hedge_ratio,
            "intercept": self.intercept,
            "beta_a": self.beta_a,
            "beta_b": self.beta_b,
            "retire": self.retire,
        }
        if self.watch is not None:
            record["watch"] = self.watch.to_json()
        return record

    @classmethod
    def from_json(cls, data: object, path: str, version: int = 1) -> Self:
        """Decode a record of layout ``version`` at ``path``; ``ValueError`` naming the field
        if malformed (``watch`` is refused in version 1)."""
        obj = JsonObject(data, path, _OPEN_KEYS, optional=("watch",) if version >= 2 else ())
        watch = obj.raw("watch")
        direction = obj.int_field("direction")
        if direction not in (1, -1):
            raise ValueError(f"{obj.field_path('direction')}: expected 1 or -1, got {direction}")
        return cls(
            a=obj.str_field("a"),
            b=obj.str_field("b"),
            direction=direction,
            entry_z=obj.float_field("entry_z"),
            entry_ms=obj.int_field("entry_ms"),
            qty_a=obj.float_field("qty_a"),
            qty_b=obj.float_field("qty_b"),
            hedge_ratio=obj.float_field("hedge_ratio"),
            intercept=obj.float_field("intercept"),
            beta_a=obj.float_field("beta_a"),
            beta_b=obj.float_field("beta_b"),
            retire=obj.bool_field("retire"),
            watch=None if watch is None else PairWatch.from_json(watch, obj.field_path("watch")),
        )


_OPEN_KEYS = (
    "a", "b", "direction", "entry_z", "entry_ms", "qty_a", "qty_b", "hedge_ratio", "intercept",
    "beta_a", "beta_b", "retire",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StatArbState:
    """State of :class:`~strategies.stat_arb.strategy.StatArbStrategy`.

    Attributes
    ----------
    fit : PairFit | None
        The last re-test; None before the first one (no trading).
    open : Mapping[str, OpenPair]
        Open pairs keyed ``"A-B"`` (:func:`~strategies.stat_arb.strategy.pair_key`).
    """

    fit: PairFit | None = None
    open: Mapping[str, OpenPair] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The state in layout version 2 when an open pair has a watch record, else version 1
        (see the module docstring)."""
        data: dict[str, Any] = {
            "fit": None if self.fit is None else self.fit.to_json(),
            "open": {k: p.to_json() for k, p in self.open.items()},
        }
        if any(p.watch is not None for p in self.open.values()):
            data = {VERSION_KEY: 2, **data}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Decode a journaled state of any known layout version.

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown version; the message names the field.
        """
        return decode_layout(data, _ROOT, {1: cls._from_v1, 2: cls._from_v2})

    @classmethod
    def _from_v1(cls, data: Mapping[str, Any]) -> Self:
        return cls._decode(data, version=1)

    @classmethod
    def _from_v2(cls, data: Mapping[str, Any]) -> Self:
        return cls._decode(data, version=2)

    @classmethod
    def _decode(cls, data: Mapping[str, Any], version: int) -> Self:
        obj = JsonObject(data, _ROOT, ("fit", "open"), optional=(VERSION_KEY,))
        fit = obj.raw("fit")
        return cls(
            fit=None if fit is None else PairFit.from_json(fit, obj.field_path("fit")),
            open={
                k: OpenPair.from_json(v, path, version) for k, v, path in obj.object_items("open")
            },
        )
