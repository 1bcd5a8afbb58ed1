"""What a strategy sees and returns: the contracts between ``strategies`` and ``agent``.

A strategy is a pure object: ``decide(snapshot, portfolio, state, now_ms)`` returns a
``Decision`` holding target positions and the strategy's next state. It never places orders,
sleeps, reads the clock or logs; the agent does all of that with what it returns.

A strategy's state is a typed, immutable value (a frozen dataclass in the strategy's
``state.py``) that the agent journals with :meth:`StrategyState.to_json` and decodes after a
restart with :meth:`Strategy.load_state`. Each state module documents its JSON layout and how
its versions are told apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeVar

from venues.model import FundingRate, Instrument, InstrumentId

FloatArray = npt.NDArray[np.float64]


class StrategyState(Protocol):
    """A strategy's state: immutable, compared with ``==``, journaled as JSON.

    Equal states must give equal JSON (the agent journals a state only when it differs from
    the one last journaled), and no state holds a NaN (which would compare unequal to itself).
    """

    def to_json(self) -> dict[str, Any]:
        """The state as a JSON-able dict in its current layout (what the journal stores)."""
        ...


StateT = TypeVar("StateT", bound=StrategyState, default=Any)
"""A strategy's state type. The default (``Any``) lets code that holds strategies of
different state types (the engine) write ``Strategy`` for ``Strategy[Any]``."""


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Immutable view of the market at ``ts_ms``.

    Attributes
    ----------
    ts_ms : int
        Time of the view, epoch ms UTC (the close of the latest bar in replay).
    instruments : Mapping[InstrumentId, Instrument]
    prices : Mapping[InstrumentId, float]
        Latest price (mark or last close), quote units.
    funding : Mapping[InstrumentId, FundingRate]
        Latest funding rate known for each perp: the predicted rate on a live venue, the last
        settled rate in replay. Never a rate that was not yet known at ``ts_ms``.
    closes : Mapping[InstrumentId, FloatArray]
        Hourly close history, oldest first, shape ``(n,)``, float64, last element the latest
        close; all arrays end at the same bar.
    stale : frozenset[InstrumentId]
        Instruments whose data is older than the staleness limit.
    """

    ts_ms: int
    instruments: Mapping[InstrumentId, Instrument]
    prices: Mapping[InstrumentId, float]
    funding: Mapping[InstrumentId, FundingRate]
    closes: Mapping[InstrumentId, FloatArray]
    stale: frozenset[InstrumentId] = frozenset()


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """Immutable view of the portfolio for one strategy.

    Attributes
    ----------
    equity_usd : float
        Total portfolio equity, USD.
    strategy_capital_usd : float
        Capital allocated to this strategy, USD (equity × its allocation fraction).
    positions : Mapping[InstrumentId, float]
        This strategy's signed positions, base units.
    net_positions : Mapping[InstrumentId, float]
        Net signed positions of the whole portfolio (every strategy), base units; what a
        portfolio-level strategy such as the beta hedger neutralizes.
    blocked_bases : frozenset[str]
        Base assets (``BTC``) this strategy must not open positions in right now (e.g. the
        funding-flip monitor closed them and holds a cooldown).
    """

    equity_usd: float
    strategy_capital_usd: float
    positions: Mapping[InstrumentId, float]
    net_positions: Mapping[InstrumentId, float] = field(default_factory=dict)
    blocked_bases: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TargetPosition:
    """Desired signed position of one instrument, base units (0 = flat)."""

    instrument_id: InstrumentId
    target_qty: float


@dataclass(frozen=True, slots=True)
class PairIntent:
    """Legs that must be traded together (both or neither).

    ``intent_id`` is deterministic and unique within the strategy (it becomes part of every
    client order id); ``reason`` is a snake_case word (``enter``, ``exit_mean_reverted``...).
    ``opening`` is False when every leg only reduces exposure, so risk limits that block new
    exposure let it through.
    """

    intent_id: str
    legs: tuple[TargetPosition, ...]
    reason: str
    opening: bool = True


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a human should see. ``kind`` snake_case; ``fields`` numbers behind it."""

    kind: str
    message: str
    fields: Mapping[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision(Generic[StateT]):
    """Output of one ``decide`` call.

    ``intents`` lists only what should change (or be held, for drift correction); instruments
    the strategy holds but does not mention keep their positions. ``state`` replaces the
    strategy's state and is journaled (:meth:`StrategyState.to_json`) when it changed.
    """

    intents: tuple[PairIntent, ...]
    state: StateT
    alerts: tuple[Alert, ...] = ()
    diagnostics: Mapping[str, float | int | str] = field(default_factory=dict)


class Strategy(Protocol[StateT]):
    """A market-neutral strategy over a typed state ``StateT``.

    Attributes
    ----------
    name : str
        Unique snake_case name (``funding_harvester``); used in client order ids and logs.
    cadence_s : int
        How often ``decide`` runs, seconds.
    refit_every_s : int | None
        How often ``refit`` runs (heavy fits, in a worker thread), seconds; None if never.
    history_bars : int
        How many hourly closes ``decide``/``refit`` need.
    """

    name: str
    cadence_s: int
    refit_every_s: int | None
    history_bars: int

    def instruments(self) -> Sequence[InstrumentId]:
        """Instruments whose prices/funding the strategy reads or trades."""
        ...

    def initial_state(self) -> StateT:
        """State before the first decision."""
        ...

    def load_state(self, data: Mapping[str, Any]) -> StateT:
        """Decode a journaled state (``StateT.to_json()`` of this or an earlier layout version).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version; the message names the
            field.
        """
        ...

    def refit(self, snapshot: MarketSnapshot, state: StateT, now_ms: int) -> StateT:
        """Heavy re-estimation at ``now_ms`` (epoch ms UTC); returns the new state. Pure; may
        run in a worker thread."""
        ...

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: StateT,
        now_ms: int,
    ) -> Decision[StateT]:
        """Targets for this cycle at ``now_ms`` (epoch ms UTC) and the next state. Pure: no
        I/O, clock or logging."""
        ...
