"""The options book's P&L by greek, as the summary shows it.

An options strategy (``strategies.options_hedger``) journals in its state the step-by-step
attribution of its book's price P&L to delta, gamma, theta and vega and the residual, summed
over the run (``"total"``: ``actual_usd = delta_usd + gamma_usd + theta_usd + vega_usd +
residual_usd``). This module picks those totals out of each strategy's last journaled state
and renders them; strategies whose state has no such totals are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ATTRIBUTION_FIELDS = (
    "actual_usd", "delta_usd", "gamma_usd", "theta_usd", "vega_usd", "residual_usd",
)  # fmt: skip
"""The attribution totals, USD, in display order."""


def greeks_attribution(states: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per strategy, the run's greeks attribution totals (USD) found in its last state
    (``Journal.latest_strategy_states``); strategies without them are left out."""
    result: dict[str, dict[str, float]] = {}
    for strategy, state in sorted(states.items()):
        total = state.get("total") if isinstance(state, Mapping) else None
        if not isinstance(total, Mapping) or not all(
            isinstance(total.get(k), int | float) for k in ATTRIBUTION_FIELDS
        ):
            continue
        result[strategy] = {k: float(total[k]) for k in ATTRIBUTION_FIELDS}
    return result


def format_greeks_attribution(totals: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Aligned text lines: a header and one row per strategy (USD, 2 decimals); no lines when
    there is nothing to show."""
    if not totals:
        return []
    names = ("book price P&L", "delta", "gamma", "theta", "vega", "residual")
    width = max(len("options P&L by greek (USD)"), *(len(s) for s in totals))
    lines = ["options P&L by greek (USD)".ljust(width) + "".join(f"{n:>16}" for n in names)]
    for strategy, values in totals.items():
        cells = "".join(f"{values[k]:>16,.2f}" for k in ATTRIBUTION_FIELDS)
        lines.append(f"{strategy:<{width}}{cells}")
    return lines
