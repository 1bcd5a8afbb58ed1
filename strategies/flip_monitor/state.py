"""State of the funding-flip monitor: adverse-settlement counts and cooldowns.

JSON layout, version 1 (the layout written before the state was typed; it has no
``"version"`` key)::

    {"counts": {"OWNER|VENUE:perp:SYMBOL": {"last_ms": int, "adverse": int}},
     "cooldowns": {OWNER: {BASE: until_ms}}}

An owner's cooldown object may be empty (its last cooldown expired); it is kept as written.
:meth:`FlipMonitorState.to_json` writes version 1 exactly (same keys in the same order, ints
as ints), so a journal or checkpoint written by this code reads like one written before.

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
    """

    last_ms: int = -1
    adverse: int = 0

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {"last_ms": self.last_ms, "adverse": self.adverse}

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, ("last_ms", "adverse"))
        return cls(last_ms=obj.int_field("last_ms"), adverse=obj.int_field("adverse"))


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
        """The state in layout version 1 (see the module docstring)."""
        return {
            "counts": {k: c.to_json() for k, c in self.counts.items()},
            "cooldowns": {owner: dict(bases) for owner, bases in self.cooldowns.items()},
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
        obj = JsonObject(data, _ROOT, ("counts", "cooldowns"), optional=(VERSION_KEY,))
        cooldowns = {
            owner: {base: as_int(until, p) for base, until, p in object_entries(bases, path)}
            for owner, bases, path in obj.object_items("cooldowns")
        }
        return cls(
            counts={k: AdverseCount.from_json(v, p) for k, v, p in obj.object_items("counts")},
            cooldowns=cooldowns,
        )
