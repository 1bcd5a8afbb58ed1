"""The built-in strategies, by section name: the class ``[strategies.<name>]`` runs when the
section names no ``class`` of its own.

Import paths are strings (``package.module:ClassName``, as a user writes them in
``agent.toml``), so this module imports no strategy: the strategy packages stay independent of
each other and the agent imports only the classes a configuration uses. The table's order is
the order in which built-in sections that ``agent.toml`` does not write run (after the written
ones; see :meth:`agent.config.StrategiesConfig.run_order`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

BUILTIN_STRATEGIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "funding_harvester": "strategies.funding_harvester:FundingHarvesterStrategy",
        "stat_arb": "strategies.stat_arb:StatArbStrategy",
        "factor_neutral": "strategies.factor_neutral:FactorNeutralStrategy",
        "cross_venue_arb": "strategies.cross_venue_arb:CrossVenueArbStrategy",
        "beta_hedger": "strategies.beta_hedger:BetaHedgerStrategy",
        "options_delta_hedger": "strategies.options_hedger:OptionsDeltaHedgerStrategy",
    }
)
"""Section name → import path of the built-in strategy class it runs by default."""
