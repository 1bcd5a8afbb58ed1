"""Portfolio beta hedger: nets every position's BTC-beta exposure into one BTC-perp hedge."""

from strategies.beta_hedger.config import BetaHedgerConfig
from strategies.beta_hedger.state import BetaHedgerState
from strategies.beta_hedger.strategy import BetaHedgerStrategy

__all__ = ["BetaHedgerConfig", "BetaHedgerState", "BetaHedgerStrategy"]
