"""Factor-neutral long/short book over a venue's perps (beta-, dollar- and factor-neutral)."""

from strategies.factor_neutral.config import FactorNeutralConfig
from strategies.factor_neutral.optimizer import (
    FactorNeutralSolution,
    InfeasibleError,
    SolverError,
    solve_factor_neutral,
)
from strategies.factor_neutral.state import FactorNeutralState
from strategies.factor_neutral.strategy import FactorNeutralStrategy

__all__ = [
    "FactorNeutralConfig",
    "FactorNeutralSolution",
    "FactorNeutralState",
    "FactorNeutralStrategy",
    "InfeasibleError",
    "SolverError",
    "solve_factor_neutral",
]
