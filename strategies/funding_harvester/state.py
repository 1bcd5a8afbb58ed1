"""State of the funding harvester: settled funding rates per symbol and open carry positions.

JSON layout, version 1 (the layout written before the state was typed; it has no
``"version"`` key)::

    {"rates": {SYMBOL: {"last_funding_ms": int, "rates_per_hour": [float, ...]}},
     "positions": {SYMBOL: {"entry_ms": int, "entry_basis_frac": float, "qty": float,
                            "entry_net_apr_frac": float, "adverse_count": int}}}

Version 2 (``"version": 2``) is version 1 where a position record may also carry
``"entry_rate_per_hour": float`` and ``"normal_rate_per_hour": float``: a high-funding entry's
latest settled rate and the trailing median rate at entry (the funding-normalized exit).
:meth:`FundingHarvesterState.to_json` writes version 2 only when a position has them; a state
without is written as version 1 exactly (the journal's text of that layout, byte for byte:
same keys, ints as ints, floats as floats), so a journal written by this code reads like one
written before. It gives that JSON text (keys sorted, compact, as the journal encodes a
dict), built from fragments each encoded once (:mod:`strategies.state_text`).

Versioning: a layout after 1 writes ``"version": N`` (an integer) at the top level;
:meth:`FundingHarvesterState.from_json` dispatches on ``data.get("version", 1)`` and keeps
reading every earlier version, so a journal written by an older release still resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from strategies.state_json import (
    VERSION_KEY,
    JsonObject,
    as_float,
    decode_layout,
)
from strategies.state_text import ObjectLayout, WindowTexts, encode, object_text, value_texts

_ROOT = "funding_harvester state"


@dataclass(frozen=True, slots=True)
class RateHistory:
    """Settled funding of one symbol's perp, normalized per hour.

    Attributes
    ----------
    last_funding_ms : int
        Settlement time of the latest rate recorded, epoch ms UTC (a settlement not newer is
        not recorded again).
    rates_per_hour : tuple[float, ...]
        The last ``max(rate_lookback_settlements, funding_median_settlements)`` rates, oldest
        first, fraction of notional per hour.
    """

    last_funding_ms: int
    rates_per_hour: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {
            "last_funding_ms": self.last_funding_ms,
            "rates_per_hour": list(self.rates_per_hour),
        }

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, ("last_funding_ms", "rates_per_hour"))
        rates_path = obj.field_path("rates_per_hour")
        return cls(
            last_funding_ms=obj.int_field("last_funding_ms"),
            rates_per_hour=tuple(
                as_float(r, f"{rates_path}[{k}]")
                for k, r in enumerate(obj.list_field("rates_per_hour"))
            ),
        )


_RATE_HISTORY_LAYOUT = ObjectLayout(("last_funding_ms", "rates_per_hour"))
"""The text of a :meth:`RateHistory.to_json` record from its members' texts, in that order."""


@dataclass(frozen=True, slots=True)
class HarvestPosition:
    """An open cash-and-carry position: long spot ``qty``, short perp ``qty``.

    Attributes
    ----------
    entry_ms : int
        Entry decision time, epoch ms UTC.
    entry_basis_frac : float
        Perp premium over spot at entry, fraction of the spot price.
    qty : float
        Base quantity of each leg, base units, unsigned.
    entry_net_apr_frac : float
        Net carry expected at entry, fraction per year.
    adverse_count : int
        Consecutive settlements against the short perp (negative rates) since the last
        favourable one.
    entry_rate_per_hour, normal_rate_per_hour : float | None
        A high-funding entry's latest settled rate and the trailing median rate at entry,
        fraction / h (both None for an ordinary entry): the funding-normalized exit's
        reference.
    """

    entry_ms: int
    entry_basis_frac: float
    qty: float
    entry_net_apr_frac: float
    adverse_count: int = 0
    entry_rate_per_hour: float | None = None
    normal_rate_per_hour: float | None = None

    @property
    def high_funding(self) -> bool:
        """Entered on an unusually high rate (has a normal-rate reference)."""
        return self.normal_rate_per_hour is not None

    def to_json(self) -> dict[str, Any]:
        """Version-1 record, plus the version-2 rate keys of a high-funding entry."""
        record: dict[str, Any] = {
            "entry_ms": self.entry_ms,
            "entry_basis_frac": self.entry_basis_frac,
            "qty": self.qty,
            "entry_net_apr_frac": self.entry_net_apr_frac,
            "adverse_count": self.adverse_count,
        }
        if self.entry_rate_per_hour is not None and self.normal_rate_per_hour is not None:
            record["entry_rate_per_hour"] = self.entry_rate_per_hour
            record["normal_rate_per_hour"] = self.normal_rate_per_hour
        return record

    @classmethod
    def from_json(cls, data: object, path: str, version: int = 1) -> Self:
        """Decode a record of layout ``version`` at ``path``; ``ValueError`` naming the field
        if malformed."""
        keys = ("entry_ms", "entry_basis_frac", "qty", "entry_net_apr_frac", "adverse_count")
        optional = ("entry_rate_per_hour", "normal_rate_per_hour") if version >= 2 else ()
        obj = JsonObject(data, path, keys, optional=optional)
        if obj.has("entry_rate_per_hour") != obj.has("normal_rate_per_hour"):
            raise ValueError(
                f"{path}: entry_rate_per_hour and normal_rate_per_hour go together, got one"
            )
        high = obj.has("normal_rate_per_hour")
        return cls(
            entry_ms=obj.int_field("entry_ms"),
            entry_basis_frac=obj.float_field("entry_basis_frac"),
            qty=obj.float_field("qty"),
            entry_net_apr_frac=obj.float_field("entry_net_apr_frac"),
            adverse_count=obj.int_field("adverse_count"),
            entry_rate_per_hour=obj.float_field("entry_rate_per_hour") if high else None,
            normal_rate_per_hour=obj.float_field("normal_rate_per_hour") if high else None,
        )


@dataclass(frozen=True, slots=True)
class FundingHarvesterState:
    """State of :class:`~strategies.funding_harvester.strategy.FundingHarvesterStrategy`.

    Attributes
    ----------
    rates : Mapping[str, RateHistory]
        Recorded funding per symbol (``BTCUSDT``).
    positions : Mapping[str, HarvestPosition]
        Open positions per symbol.
    texts : WindowTexts | None
        The row texts :meth:`to_json` reuses (the strategy passes one per instance to every
        state it decides; None: encoded in full). Not part of the state's value (not
        compared, not journaled).
    """

    rates: Mapping[str, RateHistory] = field(default_factory=dict)
    positions: Mapping[str, HarvestPosition] = field(default_factory=dict)
    texts: WindowTexts | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> str:
        """The state in layout version 1, or 2 when a position is a high-funding entry (see the
        module docstring), as the journal's JSON text: byte-identical to
        ``json.dumps(layout, sort_keys=True, separators=(",", ":"), allow_nan=True)`` of the
        layout dict, each rate encoded once across the states sharing :attr:`texts`
        (:class:`~strategies.state_text.WindowTexts`), the new rates and the settlement
        times of all symbols each in one encoder call."""
        texts = self.texts if self.texts is not None else WindowTexts()
        rates = self.rates
        arrays = texts.array_texts({s: r.rates_per_hour for s, r in rates.items()})
        times = value_texts([r.last_funding_ms for r in rates.values()])  # in one call
        record_text = _RATE_HISTORY_LAYOUT.text
        members = {
            "rates": object_text(
                {s: record_text((t, arrays[s])) for s, t in zip(rates, times, strict=True)}
            ),
            "positions": encode({s: p.to_json() for s, p in self.positions.items()}),
        }
        if any(p.high_funding for p in self.positions.values()):
            members[VERSION_KEY] = encode(2)
        return object_text(members)

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
    def _from_v1(cls, data: Mapping[str, Any], version: int = 1) -> Self:
        obj = JsonObject(data, _ROOT, ("rates", "positions"), optional=(VERSION_KEY,))
        return cls(
            rates={s: RateHistory.from_json(v, p) for s, v, p in obj.object_items("rates")},
            positions={
                s: HarvestPosition.from_json(v, p, version)
                for s, v, p in obj.object_items("positions")
            },
        )

    @classmethod
    def _from_v2(cls, data: Mapping[str, Any]) -> Self:
        return cls._from_v1(data, version=2)
