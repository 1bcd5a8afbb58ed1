"""State of the cross-venue funding arbitrage: the funding-rate book and open positions.

JSON layout, version 1 (the layout written before the state was typed; it has no
``"version"`` key)::

    {"rates": {"binance:perp:BTCUSDT": {"last_funding_ms": int, "history_start_ms": int,
                                        "settlements": [[ts_funding_ms, rate_per_hour,
                                                         interval_h], ...]}},
     "positions": {BASE: {"long": venue, "short": venue, "entry_ms": int, "qty": float,
                          "entry_spread_8h_frac": float, "entry_net_apr_frac": float}}}

A settlement is a 3-array: ``ts_funding_ms`` an int, ``rate_per_hour`` and ``interval_h``
floats (:meth:`CrossVenueArbState.to_json` gives each as the :class:`Settlement` tuple itself,
which the json encoder writes as that array). :meth:`CrossVenueArbState.to_json` writes
version 1 exactly (same keys in the same order, ints as ints, floats as floats), so a journal
written by this code reads like one written before.

Versioning: a future layout writes ``"version": 2`` (an integer) at the top level;
:meth:`CrossVenueArbState.from_json` dispatches on ``data.get("version", 1)`` and keeps reading
every earlier version, so a journal written by an older release still resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Self

from strategies.state_json import (
    VERSION_KEY,
    JsonObject,
    as_float,
    as_int,
    as_list,
    decode_layout,
)

_ROOT = "cross_venue_arb state"


class Settlement(NamedTuple):
    """One settled funding rate of a perp: an immutable ``(ts_funding_ms, rate_per_hour,
    interval_h)`` tuple, which is also its version-1 JSON array — the json encoder writes a
    tuple as an array — so a journaled state's rows are the settlements themselves, not a
    list built per settlement each time the state is journaled (the whole book, every
    changed cycle).

    Attributes
    ----------
    ts_funding_ms : int
        Settlement time, epoch ms UTC.
    rate_per_hour : float
        The rate normalized per hour, fraction of notional per hour.
    interval_h : float
        The funding interval it settled, hours.
    """

    ts_funding_ms: int
    rate_per_hour: float
    interval_h: float

    def to_json(self) -> tuple[int, float, float]:
        """Version-1 array ``[ts_funding_ms, rate_per_hour, interval_h]``: the settlement
        itself (a tuple, encoded as that array)."""
        return self

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 array at ``path``; ``ValueError`` naming it if malformed."""
        items = as_list(data, path)
        if len(items) != 3:
            raise ValueError(f"{path}: expected [ts_funding_ms, rate_per_hour, interval_h]")
        return cls(
            ts_funding_ms=as_int(items[0], f"{path}[0] (ts_funding_ms)"),
            rate_per_hour=as_float(items[1], f"{path}[1] (rate_per_hour)"),
            interval_h=as_float(items[2], f"{path}[2] (interval_h)"),
        )


class PerpRates(NamedTuple):
    """The recorded funding of one perp (an entry of the rate book): an immutable tuple, like
    :class:`Settlement` (one is built for every settlement recorded, and a tuple is built in
    about half the time of a frozen dataclass). Its JSON record is :meth:`to_json`'s, not
    the tuple's array.

    Attributes
    ----------
    last_funding_ms : int
        Latest settlement recorded, epoch ms UTC (a settlement not newer is ignored).
    history_start_ms : int
        Start of the accrual period of the first settlement ever recorded, epoch ms UTC: an
        estimate is ready once this is a full lookback before now.
    settlements : tuple[Settlement, ...]
        Settlements inside the lookback window (always at least the latest), oldest first.
    """

    last_funding_ms: int
    history_start_ms: int
    settlements: tuple[Settlement, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {
            "last_funding_ms": self.last_funding_ms,
            "history_start_ms": self.history_start_ms,
            # Each settlement is its own JSON array (Settlement.to_json): nothing built per row.
            "settlements": list(self.settlements),
        }

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, ("last_funding_ms", "history_start_ms", "settlements"))
        rows_path = obj.field_path("settlements")
        return cls(
            last_funding_ms=obj.int_field("last_funding_ms"),
            history_start_ms=obj.int_field("history_start_ms"),
            settlements=tuple(
                Settlement.from_json(row, f"{rows_path}[{k}]")
                for k, row in enumerate(obj.list_field("settlements"))
            ),
        )


@dataclass(frozen=True, slots=True)
class ArbPosition:
    """An open pair: the perp long on ``long``, short on ``short``, ``qty`` each.

    Attributes
    ----------
    long, short : str
        Venues of the long and the short leg.
    entry_ms : int
        Entry decision time, epoch ms UTC.
    qty : float
        Base quantity of each leg, base units, unsigned.
    entry_spread_8h_frac : float
        Mean funding spread (short − long) at entry, fraction per 8 h.
    entry_net_apr_frac : float
        Settlement-aware net carry at entry, fraction per year.
    """

    long: str
    short: str
    entry_ms: int
    qty: float
    entry_spread_8h_frac: float
    entry_net_apr_frac: float

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {
            "long": self.long,
            "short": self.short,
            "entry_ms": self.entry_ms,
            "qty": self.qty,
            "entry_spread_8h_frac": self.entry_spread_8h_frac,
            "entry_net_apr_frac": self.entry_net_apr_frac,
        }

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        keys = ("long", "short", "entry_ms", "qty", "entry_spread_8h_frac", "entry_net_apr_frac")
        obj = JsonObject(data, path, keys)
        return cls(
            long=obj.str_field("long"),
            short=obj.str_field("short"),
            entry_ms=obj.int_field("entry_ms"),
            qty=obj.float_field("qty"),
            entry_spread_8h_frac=obj.float_field("entry_spread_8h_frac"),
            entry_net_apr_frac=obj.float_field("entry_net_apr_frac"),
        )


@dataclass(frozen=True, slots=True)
class CrossVenueArbState:
    """State of :class:`~strategies.cross_venue_arb.strategy.CrossVenueArbStrategy`.

    Attributes
    ----------
    rates : Mapping[str, PerpRates]
        The rate book, keyed by ``str(InstrumentId)`` (``binance:perp:BTCUSDT``).
    positions : Mapping[str, ArbPosition]
        Open positions keyed by base asset (``BTC``).
    """

    rates: Mapping[str, PerpRates] = field(default_factory=dict)
    positions: Mapping[str, ArbPosition] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The state in layout version 1 (see the module docstring)."""
        return {
            "rates": {k: r.to_json() for k, r in self.rates.items()},
            "positions": {b: p.to_json() for b, p in self.positions.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Decode a journaled state of any known layout version.

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown version; the message names the field.
        """
        return decode_layout(data, _ROOT, {1: cls._from_v1})

    @classmethod
    def _from_v1(cls, data: Mapping[str, Any]) -> Self:
        obj = JsonObject(data, _ROOT, ("rates", "positions"), optional=(VERSION_KEY,))
        return cls(
            rates={k: PerpRates.from_json(v, p) for k, v, p in obj.object_items("rates")},
            positions={b: ArbPosition.from_json(v, p) for b, v, p in obj.object_items("positions")},
        )
