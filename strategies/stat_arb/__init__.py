"""Cointegration stat arb: Engle–Granger pairs on perps with beta-neutral legs."""

from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.signals import PairScan, scan_pairs, select_pairs
from strategies.stat_arb.state import StatArbState
from strategies.stat_arb.strategy import StatArbStrategy

__all__ = [
    "PairScan",
    "StatArbConfig",
    "StatArbState",
    "StatArbStrategy",
    "scan_pairs",
    "select_pairs",
]
