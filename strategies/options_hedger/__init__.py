"""Options delta hedger: holds a straddle or strangle and keeps its delta in a band with the
perpetual (issue 13, item 5)."""

from strategies.options_hedger.config import OptionsHedgerConfig
from strategies.options_hedger.state import OptionsHedgerState
from strategies.options_hedger.strategy import OptionsDeltaHedgerStrategy

__all__ = ["OptionsDeltaHedgerStrategy", "OptionsHedgerConfig", "OptionsHedgerState"]
