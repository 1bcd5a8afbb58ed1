"""State of the beta hedger: none (betas are re-estimated every cycle).

JSON layout, version 1 (the layout written before the state was typed; it has no
``"version"`` key): the empty object ``{}``. :meth:`BetaHedgerState.to_json` writes exactly
that.

Versioning: a future layout writes ``"version": 2`` (an integer) at the top level;
:meth:`BetaHedgerState.from_json` dispatches on ``data.get("version", 1)`` and keeps reading
every earlier version, so a journal written by an older release still resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from strategies.state_json import VERSION_KEY, JsonObject, layout_version, unsupported_version

_ROOT = "beta_hedger state"


@dataclass(frozen=True, slots=True)
class BetaHedgerState:
    """State of :class:`~strategies.beta_hedger.strategy.BetaHedgerStrategy`: empty."""

    def to_json(self) -> dict[str, Any]:
        """The state in layout version 1: ``{}``."""
        return {}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Decode a journaled state of any known layout version.

        Raises
        ------
        ValueError
            If ``data`` is not an empty object (version 1) or is of an unknown version; the
            message names the field.
        """
        version = layout_version(data, _ROOT)
        if version == 1:
            JsonObject(data, _ROOT, (), optional=(VERSION_KEY,))
            return cls()
        raise unsupported_version(_ROOT, version)
