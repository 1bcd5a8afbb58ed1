"""State of the funding-flip monitor: adverse-settlement counts and cooldowns.

JSON layout, version 1 (the layout written before the state was typed; it has no
``"version"`` key)::

    {"counts": {"OWNER|VENUE:perp:SYMBOL": {"last_ms": int, "adverse": int}},
     "cooldowns": {OWNER: {BASE: until_ms}}}

Version 2 (``"version": 2``) is version 1 where a count record may also carry
``"predicted_ms": int``: the settlement whose predicted rate (live) the monitor already acted
on. :meth:`FlipMonitorState.to_json` writes version 2 only when a record has one; a state
without (every replay: it has no predicted rates) is written as version 1 exactly.

An owner's cooldown object may be empty (its last cooldown expired); it is kept as written.
Version 1 is written exactly (same keys in the same order, ints as ints), so a journal or
checkpoint written by this code reads like one written before.

Versioning: a future layout writes ``"version": 2`` (an integer) at the top level;
:meth:`FlipMonitorState.from_json` dispatches on ``data.get("version", 1)`` and keeps reading
every earlier version, so a journal written by an older release still resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from strategies.state_json import (
    VERSION_KEY,
    JsonObject,
    as_int,
    decode_layout,
    object_entries,
)

_ROOT = "funding_flip_monitor state"


@dataclass(frozen=True, slots=True)
class AdverseCount:
    """Settlements seen for one guarded perp of one owner.

    Attributes
    ----------
    last_ms : int
        Latest settlement classified, epoch ms UTC (``-1`` before the first); a settlement
        not newer is not classified again.
    adverse : int
        Consecutive settlements against the position, up to the latest.
    predicted_ms : int
        Settlement whose predicted rate (live) was adverse beyond the threshold and acted on
        (closed or held), epoch ms UTC; ``-1`` when none. Later predictions of the same
        settlement are not acted on again.
    """

    last_ms: int = -1
    adverse: int = 0
    predicted_ms: int = -1

    def to_json(self) -> dict[str, Any]:
        """The record (see the module docstring): version 1, plus ``predicted_ms`` when set."""
        record: dict[str, Any] = {"last_ms": self.last_ms, "adverse": self.adverse}
        if self.predicted_ms >= 0:
            record["predicted_ms"] = self.predicted_ms
        return record

    @classmethod
    def from_json(cls, data: object, path: str, version: int = 1) -> Self:
        """Decode a record of layout ``version`` at ``path``; ``ValueError`` naming the field
        if malformed."""
        optional = ("predicted_ms",) if version >= 2 else ()
        obj = JsonObject(data, path, ("last_ms", "adverse"), optional=optional)
        predicted_ms = obj.int_field("predicted_ms") if obj.has("predicted_ms") else -1
        return cls(
            last_ms=obj.int_field("last_ms"),
            adverse=obj.int_field("adverse"),
            predicted_ms=predicted_ms,
        )


@dataclass(frozen=True, slots=True)
class FlipMonitorState:
    """State of :class:`~strategies.flip_monitor.monitor.FundingFlipMonitor`.

    Attributes
    ----------
    counts : Mapping[str, AdverseCount]
        Per ``"owner|instrument"`` key (``funding_harvester|binance:perp:BTCUSDT``), the
        settlements seen; only positions still held are kept.
    cooldowns : Mapping[str, Mapping[str, int]]
        Per owner strategy, per base asset (``BTC``), the end of its cooldown, epoch ms UTC.
    """

    counts: Mapping[str, AdverseCount] = field(default_factory=dict)
    cooldowns: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The state in layout version 1, or 2 when a record carries ``predicted_ms`` (see
        the module docstring)."""
        data: dict[str, Any] = {
            "counts": {k: c.to_json() for k, c in self.counts.items()},
            "cooldowns": {owner: dict(bases) for owner, bases in self.cooldowns.items()},
        }
        if any(c.predicted_ms >= 0 for c in self.counts.values()):
            data[VERSION_KEY] = 2
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
    def _from_v1(cls, data: Mapping[str, Any], version: int = 1) -> Self:
        obj = JsonObject(data, _ROOT, ("counts", "cooldowns"), optional=(VERSION_KEY,))
        cooldowns = {
            owner: {base: as_int(until, p) for base, until, p in object_entries(bases, path)}
            for owner, bases, path in obj.object_items("cooldowns")
        }
        counts = {
            k: AdverseCount.from_json(v, p, version) for k, v, p in obj.object_items("counts")
        }
        return cls(counts=counts, cooldowns=cooldowns)

    @classmethod
    def _from_v2(cls, data: Mapping[str, Any]) -> Self:
        return cls._from_v1(data, version=2)
