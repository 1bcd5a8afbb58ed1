"""Funding harvester (cash-and-carry): long spot + short perp, collecting funding."""

from strategies.funding_harvester.config import FundingHarvesterConfig
from strategies.funding_harvester.signals import LegCosts
from strategies.funding_harvester.state import FundingHarvesterState
from strategies.funding_harvester.strategy import FundingHarvesterStrategy

__all__ = [
    "FundingHarvesterConfig",
    "FundingHarvesterState",
    "FundingHarvesterStrategy",
    "LegCosts",
]
