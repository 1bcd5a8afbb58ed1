"""Cross-venue funding arbitrage: long the perp with the lowest funding, short the perp with
the highest, same asset, equal base quantity."""

from strategies.cross_venue_arb.config import CrossVenueArbConfig
from strategies.cross_venue_arb.signals import VenueCosts
from strategies.cross_venue_arb.state import CrossVenueArbState
from strategies.cross_venue_arb.strategy import CrossVenueArbStrategy

__all__ = ["CrossVenueArbConfig", "CrossVenueArbState", "CrossVenueArbStrategy", "VenueCosts"]
