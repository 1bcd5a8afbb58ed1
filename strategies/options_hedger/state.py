"""State of the options delta hedger: the book's marks at the last step and the greeks P&L
attribution so far.

JSON layout, version 1 (``"version": 1``)::

    {"version": 1,
     "marks": {"<option symbol>": {"qty": q, "price_usd": p, "forward_usd": f, "iv_frac": s,
                                   "delta": d, "gamma_per_usd": g, "theta_usd_per_day": t,
                                   "vega_usd_per_vol_point": v}, ...},
     "hedge_qty": h, "forward_usd": F, "marked_ms": ts | null,
     "last": {"actual_usd": a, "delta_usd": ..., "gamma_usd": ..., "theta_usd": ...,
              "vega_usd": ..., "residual_usd": ...},
     "total": {... the same keys, summed over every step ...},
     "steps": n}

``marks`` are per option after the step's trades (per coin: the price and greeks of one
contract; ``qty`` signed coins), ``hedge_qty`` the perpetual held then and ``forward_usd`` its
price; the next step attributes the change of the book's value (options and hedge, prices
only: fees and funding are the ledger's) to delta, gamma, theta and vega
(:mod:`strategies.options.pnl_attribution`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from strategies.state_json import JsonObject, decode_layout

_ROOT = "options_delta_hedger state"

ATTRIBUTION_KEYS = (
    "actual_usd", "delta_usd", "gamma_usd", "theta_usd", "vega_usd", "residual_usd",
)  # fmt: skip
"""The attribution fields, USD (``actual = delta + gamma + theta + vega + residual``)."""
_MARK_KEYS = (
    "qty", "price_usd", "forward_usd", "iv_frac", "delta", "gamma_per_usd",
    "theta_usd_per_day", "vega_usd_per_vol_point",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OptionMark:
    """One held option at the last step: signed qty (coins), price (USD per coin), the forward
    and implied volatility it was priced at, and its greeks per coin (Deribit's units)."""

    qty: float
    price_usd: float
    forward_usd: float
    iv_frac: float
    delta: float
    gamma_per_usd: float
    theta_usd_per_day: float
    vega_usd_per_vol_point: float


def zero_attribution() -> dict[str, float]:
    """Every attribution field at 0 USD."""
    return dict.fromkeys(ATTRIBUTION_KEYS, 0.0)


@dataclass(frozen=True, slots=True)
class OptionsHedgerState:
    """State of :class:`~strategies.options_hedger.strategy.OptionsDeltaHedgerStrategy`
    (layout in the module docstring)."""

    marks: Mapping[str, OptionMark] = field(default_factory=dict)
    hedge_qty: float = 0.0
    forward_usd: float = 0.0
    marked_ms: int | None = None
    last: Mapping[str, float] = field(default_factory=zero_attribution)
    total: Mapping[str, float] = field(default_factory=zero_attribution)
    steps: int = 0

    def to_json(self) -> dict[str, Any]:
        """The state in layout version 1."""
        return {
            "version": 1,
            "marks": {
                symbol: {k: getattr(m, k) for k in _MARK_KEYS}
                for symbol, m in sorted(self.marks.items())
            },
            "hedge_qty": self.hedge_qty,
            "forward_usd": self.forward_usd,
            "marked_ms": self.marked_ms,
            "last": {k: self.last[k] for k in ATTRIBUTION_KEYS},
            "total": {k: self.total[k] for k in ATTRIBUTION_KEYS},
            "steps": self.steps,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Decode a journaled state.

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown version; the message names the field.
        """
        return decode_layout(data, _ROOT, {1: cls._v1})

    @classmethod
    def _v1(cls, data: Mapping[str, Any]) -> Self:
        keys = (
            "version",
            "marks",
            "hedge_qty",
            "forward_usd",
            "marked_ms",
            "last",
            "total",
            "steps",
        )
        obj = JsonObject(data, _ROOT, keys)
        marks = {}
        for symbol, value, path in obj.object_items("marks"):
            mark = JsonObject(value, path, _MARK_KEYS)
            marks[symbol] = OptionMark(*(mark.float_field(k) for k in _MARK_KEYS))
        last = JsonObject(obj.raw("last"), obj.field_path("last"), ATTRIBUTION_KEYS)
        total = JsonObject(obj.raw("total"), obj.field_path("total"), ATTRIBUTION_KEYS)
        marked = None if obj.raw("marked_ms") is None else obj.int_field("marked_ms")
        return cls(
            marks=marks,
            hedge_qty=obj.float_field("hedge_qty"),
            forward_usd=obj.float_field("forward_usd"),
            marked_ms=marked,
            last={k: last.float_field(k) for k in ATTRIBUTION_KEYS},
            total={k: total.float_field(k) for k in ATTRIBUTION_KEYS},
            steps=obj.int_field("steps"),
        )
