"""Agent error tree.

::

    AgentError
    ├── ConfigError            bad agent.toml / environment (``errors``: list of (key path, reason))
    ├── RiskRejected           a pre-trade rule refused an intent (``rule``, ``limit``, ``value``)
    ├── ReconciliationError    journal and venue disagree in a way we cannot adopt
    ├── JournalError           the SQLite journal cannot be opened or written
    ├── AccountingError        the ledger identity does not hold
    └── StrategyError          a strategy raised or returned something invalid
    ShutdownRequested          control flow: a stop signal arrived (not an error)

Each error carries its context as attributes, never secrets.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base class of the agent's errors."""


class RiskRejected(AgentError):
    """A pre-trade risk rule refused an intent.

    Attributes
    ----------
    rule : str
        Rule name (``max_leverage``, ``max_position_frac`` ...).
    limit : float
        The configured limit, in the rule's unit.
    value : float
        The value the intent would have produced, same unit.
    """

    def __init__(self, rule: str, limit: float, value: float, detail: str = "") -> None:
        super().__init__(f"risk rule {rule} refused: value {value:.6g} > limit {limit:.6g} {detail}")
        self.rule = rule
        self.limit = limit
        self.value = value
        self.detail = detail


class ReconciliationError(AgentError):
    """Journal and venue state disagree in a way that cannot be adopted automatically."""


class StrategyError(AgentError):
    """A strategy raised or returned an invalid decision. ``strategy`` names it."""

    def __init__(self, strategy: str, message: str) -> None:
        super().__init__(f"strategy {strategy}: {message}")
        self.strategy = strategy


class ShutdownRequested(Exception):  # noqa: N818 - control flow, not an error
    """A stop signal arrived; unwinds the run loop to the graceful shutdown path."""
