"""Agent error tree.

::

    AgentError
    ├── ConfigError            bad agent.toml / environment (``errors``: list of (key path, reason))
    ├── RiskRejected           a pre-trade rule refused an intent (``rule``, ``limit``, ``value``)
    ├── ReconciliationError    journal and venue disagree in a way we cannot adopt
    ├── JournalError           the SQLite journal cannot be opened or written
    │   └── JournalRefused     its path cannot be used for a run: a person must act
    ├── AccountingError        the ledger identity (equity change = Σ P&L streams) does not hold
    └── StrategyError          a strategy raised or returned something invalid
    ShutdownRequested          control flow: a stop signal arrived (not an error)

Each error carries its context as attributes, never secrets.
"""

from __future__ import annotations

from decimal import Decimal


class AgentError(Exception):
    """Base class of the agent's errors."""


class ConfigError(AgentError):
    """The configuration cannot be loaded or is invalid.

    Attributes
    ----------
    errors : list[tuple[str, str]]
        One ``(key_path, reason)`` per problem; ``key_path`` is dotted (``risk.max_leverage``,
        ``venues.binance.api_key``) or the file path for file-level problems.

    ``str(err)`` is one ``key_path: reason`` line per problem.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(f"{path}: {reason}" for path, reason in self.errors))


class JournalError(AgentError):
    """The journal cannot be opened, read or written.

    Attributes
    ----------
    path : str
        Journal path (``":memory:"`` for an in-memory journal).
    found_version : int | None
        Schema version found in the file, when that was the problem.
    """

    def __init__(self, message: str, *, path: str, found_version: int | None = None) -> None:
        super().__init__(f"journal {path}: {message}")
        self.path = path
        self.found_version = found_version


class JournalRefused(JournalError):
    """A run cannot use the journal at ``path``, and restarting cannot fix it: another process
    holds its lock, the path names something that is not a zerobeta journal (a text file,
    another SQLite database, a directory), it is empty, or its directory cannot be created or
    written. The CLI exits 2.

    Attributes
    ----------
    path : str
        The journal path as configured.
    holder_pid : int | None
        Process id recorded by the process holding the journal's lock, when that was the
        problem and the holder recorded it (the host may be another one: see the message).
    """

    def __init__(self, message: str, *, path: str, holder_pid: int | None = None) -> None:
        super().__init__(message, path=path)
        self.holder_pid = holder_pid


class AccountingError(AgentError):
    """The ledger identity ``equity − initial_equity == total P&L`` does not hold.

    Attributes
    ----------
    equity_change_usd : Decimal
        ``equity_usd() − initial_equity_usd``, USD.
    total_pnl_usd : Decimal
        ``pnl().total_usd``, USD.
    tolerance_usd : Decimal
        The tolerance that was exceeded, USD.
    """

    def __init__(
        self, equity_change_usd: Decimal, total_pnl_usd: Decimal, tolerance_usd: Decimal
    ) -> None:
        super().__init__(
            f"ledger identity broken: equity change {equity_change_usd} USD != total P&L "
            f"{total_pnl_usd} USD (tolerance {tolerance_usd} USD)"
        )
        self.equity_change_usd = equity_change_usd
        self.total_pnl_usd = total_pnl_usd
        self.tolerance_usd = tolerance_usd


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
        message = f"risk rule {rule} refused: value {value:.6g} > limit {limit:.6g}"
        super().__init__(f"{message} {detail}".rstrip())
        self.rule = rule
        self.limit = limit
        self.value = value
        self.detail = detail


class LiveDataError(AgentError):
    """Live market data cannot start: an instrument its venue does not list, a venue that does
    not answer at start-up, no history to warm the strategies up with. The message names each
    problem."""


class LiveSetupError(AgentError):
    """``mode = "live"`` cannot start: an account that cannot be put in the modes zerobeta
    trades with, credentials or balances that cannot be read. The message names the venue and
    the reason; a person must act (restarting does not help)."""


class ReconciliationError(AgentError):
    """Journal and venue state disagree in a way that cannot be adopted automatically."""


class StrategyError(AgentError):
    """A strategy raised or returned an invalid decision. ``strategy`` names it."""

    def __init__(self, strategy: str, message: str) -> None:
        super().__init__(f"strategy {strategy}: {message}")
        self.strategy = strategy


class ShutdownRequested(Exception):
    """A stop signal arrived; unwinds the run loop to the graceful shutdown path."""
