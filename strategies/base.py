"""What a strategy sees and returns: the contracts between ``strategies`` and ``agent``.

A strategy is a pure object: ``decide(snapshot, portfolio, state, now_ms)`` returns a
``Decision`` holding target positions and the strategy's next state. It never places orders,
sleeps, reads the clock or logs; the agent does all of that with what it returns.

A strategy's state is a typed, immutable value (a frozen dataclass in the strategy's
``state.py``) that the agent journals with :meth:`StrategyState.to_json` and decodes after a
restart with :meth:`Strategy.load_state`. Each state module documents its JSON layout and how
its versions are told apart.

Built-in and user strategies are plugged in the same way (:class:`ConfigurableStrategy`): a
``[strategies.<name>]`` section of ``agent.toml`` names a strategy class
(``class = "package.module:ClassName"``; a built-in's is found by its section name in
:data:`strategies.builtin.BUILTIN_STRATEGIES`), the class's ``config_model`` validates the
section's parameters, and the agent builds the strategy with
``from_config(name, params, context)``, the :class:`StrategyContext` holding what a strategy
needs from outside its own section (venue costs, the market reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeVar

from venues.model import FundingRate, Instrument, InstrumentId

if TYPE_CHECKING:  # the chain's module imports scipy: not at CLI start-up (zerobeta --help)
    from strategies.options.chain import OptionChain

FloatArray = npt.NDArray[np.float64]


class StrategyState(Protocol):
    """A strategy's state: immutable, compared with ``==``, journaled as JSON.

    Equal states must give equal JSON (the agent journals a state only when it differs from
    the one last journaled), and no state holds a NaN (which would compare unequal to itself).
    """

    def to_json(self) -> dict[str, Any] | str:
        """The state as a JSON-able dict in its current layout (what the journal stores), or
        as its JSON text (stored as it is: the journal's canonical encoding of that dict)."""
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
        Latest **settled** funding rate of each perp (``ts_funding_ms <= ts_ms``), in a
        replay and live alike: what a strategy records as a settlement. Never a rate that was
        not yet known at ``ts_ms``.
    closes : Mapping[InstrumentId, FloatArray]
        Hourly close history, oldest first, shape ``(n,)``, float64, last element the latest
        close; all arrays end at the same bar.
    stale : frozenset[InstrumentId]
        Instruments whose data is older than the staleness limit.
    predicted_funding : Mapping[InstrumentId, FundingRate]
        Live only (empty in a replay, which has no predicted rates): the venue's latest
        predicted rate of each perp's next settlement, streamed between hourly steps
        (``ts_funding_ms`` the settlement it will apply to, usually after ``ts_ms``). It is
        an estimate that moves until the settlement: never book or record it as one.
    option_chains : Mapping[InstrumentId, OptionChain]
        The options listed on each requested underlying perp (keyed by that perp), with their
        implied volatilities and prices; empty unless ``[option_chain]`` is enabled (a replay
        lists model-priced options, :mod:`strategies.options.chain`). The prices of listed
        options the portfolio holds or traded are in ``prices`` too.
    volumes : Mapping[InstrumentId, FloatArray]
        Hourly traded volume, **base units**, aligned with ``closes`` (same length, same
        hours; an hour without a bar counts 0), for the instruments whose bars carry a
        volume: the recorded klines in a replay (the Binance spot and perp files' ``volume``
        column). An instrument absent here has no volume known (live steps carry none yet;
        an instrument priced by another's closes in a replay has none of its own).
    """

    ts_ms: int
    instruments: Mapping[InstrumentId, Instrument]
    prices: Mapping[InstrumentId, float]
    funding: Mapping[InstrumentId, FundingRate]
    closes: Mapping[InstrumentId, FloatArray]
    stale: frozenset[InstrumentId] = frozenset()
    predicted_funding: Mapping[InstrumentId, FundingRate] = field(default_factory=dict)
    option_chains: Mapping[InstrumentId, OptionChain] = field(default_factory=dict)
    volumes: Mapping[InstrumentId, FloatArray] = field(default_factory=dict)

    def latest_funding(self, instrument_id: InstrumentId) -> FundingRate | None:
        """The newest rate known for ``instrument_id``: its predicted rate when one settles
        after the last settled rate (live), else the last settled rate (None if neither)."""
        settled = self.funding.get(instrument_id)
        predicted = self.predicted_funding.get(instrument_id)
        if predicted is not None and (
            settled is None or predicted.ts_funding_ms > settled.ts_funding_ms
        ):
            return predicted
        return settled


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
    exposure let it through. ``drift_frac`` overrides ``[execution] drift_frac`` for this
    intent's legs (fraction of a leg's target it may drift before it trades, in ``(0, 1)``;
    None = the global value): a strategy sets it per pair (e.g. noisy vs stable pairs).

    Raises
    ------
    ValueError
        If ``drift_frac`` is given and not in ``(0, 1)``.
    """

    intent_id: str
    legs: tuple[TargetPosition, ...]
    reason: str
    opening: bool = True
    drift_frac: float | None = None

    def __post_init__(self) -> None:
        if self.drift_frac is not None and not 0.0 < self.drift_frac < 1.0:
            raise ValueError(
                f"intent {self.intent_id}: drift_frac must be in (0, 1), got {self.drift_frac!r}"
            )


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
        Unique snake_case name: the name of the ``[strategies.<name>]`` section it was built
        from (``funding_harvester``); used in client order ids, the journal and logs.
    cadence_s : int
        How often ``decide`` runs, seconds.
    refit_every_s : int | None
        How often ``refit`` runs (heavy fits, in a worker thread), seconds; None if never.
        While none of its instruments has ``history_bars`` closes it refits every cycle; an
        instrument getting them later (listed during the run) brings the next refit forward.
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


# --------------------------------------------------------------------------------------------
# Plugging a strategy in: its parameters, what the agent hands it, the class contract
# --------------------------------------------------------------------------------------------


class StrategyParams(BaseModel):
    """A convenient base for a strategy's ``config_model``: frozen, unknown keys refused, no
    NaN or infinity, with the two keys every strategy section has.

    Subclass it and add the strategy's own parameters as pydantic fields (each with a
    default, a unit in its name and a ``description``). Built-in strategies declare the same
    two fields themselves.

    Attributes
    ----------
    enabled : bool
        Run the strategy. A disabled section is checked for form only (its keys must be
        fields of the model; their values are not validated).
    cadence_s : int
        How often ``decide`` runs, seconds (> 0).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enabled: bool = Field(default=True, description="Run the strategy.")
    cadence_s: int = Field(default=3600, gt=0, description="Decision cadence, seconds.")


@dataclass(frozen=True, slots=True)
class TradingCosts:
    """One venue's trading costs as configured in ``[venues.<name>]``, basis points of
    notional (a negative maker fee is a rebate).

    Attributes
    ----------
    perp_maker_fee_bps, perp_taker_fee_bps : float
        Perpetual maker / taker fee, bps.
    spot_maker_fee_bps, spot_taker_fee_bps : float
        Spot maker / taker fee, bps.
    slippage_bps : float
        Slippage assumed on a fill (simulated on paper fills), bps.
    """

    perp_maker_fee_bps: float
    perp_taker_fee_bps: float
    spot_maker_fee_bps: float
    spot_taker_fee_bps: float
    slippage_bps: float


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What the agent hands ``from_config`` besides the strategy's own section.

    Attributes
    ----------
    costs : Mapping[str, TradingCosts]
        Trading costs of every enabled venue, keyed by venue name (``binance``), in the venue
        registry's order.
    trading_venues : tuple[str, ...]
        The enabled venues that hold collateral (``collateral_frac > 0``), registry order:
        the only venues a strategy can hold positions on. A strategy parameter named
        ``venue`` (a name) or ``venues`` (a list) is checked against them by the agent.
    reference_instrument : InstrumentId
        The market reference (``[market_data] reference_instrument``, default the Binance BTC
        perp): its history is always loaded, and it is what "beta to the market" means in
        the agent's reports.
    """

    costs: Mapping[str, TradingCosts]
    trading_venues: tuple[str, ...]
    reference_instrument: InstrumentId


class ConfigurableStrategy(Strategy[StateT], Protocol[StateT]):
    """A strategy class that ``agent.toml`` can name: ``class = "package.module:ClassName"``.

    Besides the :class:`Strategy` members, the class has its parameters' model and a
    constructor from them; the agent checks both when it loads the configuration and refuses
    (naming ``strategies.<name>.class``) a class without them.

    Attributes
    ----------
    config_model : ClassVar[type[pydantic.BaseModel]]
        The model of the section's parameters (every key but ``class``): frozen, unknown keys
        rejected (``ConfigDict(frozen=True, extra="forbid")``), with an ``enabled: bool``
        field and by convention ``cadence_s``; :class:`StrategyParams` is such a base. Its
        validation errors are reported as ``strategies.<name>.<key>: <reason>``.
    hedges_portfolio : ClassVar[bool], optional
        True for a strategy that hedges what the others hold (the beta hedger): it runs after
        every other strategy in each step. Absent means False.

    Notes
    -----
    Strategies run in each step in the order of their sections in ``agent.toml`` (see
    :meth:`agent.config.StrategiesConfig.run_order`), hedging strategies last.
    """

    config_model: ClassVar[type[BaseModel]]

    @classmethod
    def from_config(cls, name: str, config: Any, context: StrategyContext) -> Self:
        """Build the strategy of section ``[strategies.<name>]``.

        Parameters
        ----------
        name : str
            The section name; the returned strategy's ``name`` must equal it (it names the
            strategy in client order ids, the journal and the summary).
        config : config_model
            The section's validated parameters, an instance of ``cls.config_model`` (only
            enabled sections are built).
        context : StrategyContext
            Venue costs, trading venues and the market reference.

        Returns
        -------
        Self

        Raises
        ------
        ValueError
            If the parameters cannot make a strategy in this context; the agent reports it as
            a configuration error on ``strategies.<name>``.
        """
        ...
