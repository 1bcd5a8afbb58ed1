"""Live inputs through the replay's plausibility rules, and a venue producing anomalies
quarantined like an unhealthy one.

Recorded data is checked as a replay loads it (:mod:`venues.replay.guards`); a live venue's
answers get the same two rules before they reach the engine, in the live driver between the
feed and the engine:

- a **funding rate** (settled at a step, or predicted between steps) whose absolute value is
  beyond the instrument's cap — the venue's documented cap for every instrument
  (:attr:`venues.registry.VenueSpec.funding_cap_frac`, Hyperliquid 4 %/h), else ``[market_data]
  funding_cap_default_frac`` — is dropped;
- a **price** (an hourly close or a streamed mark) that moves more than ``[market_data]
  price_jump_max_sigmas`` times the instrument's recent robust hourly volatility
  (:func:`venues.replay.guards.robust_sigma` of the last 168 accepted hourly closes) from the
  last accepted price is dropped; the instrument keeps its last price (a close is carried like
  a missing bar).

Each dropped value is logged (``live_input_rejected``: venue, instrument, what, why) and
reported to the venue's health as a failure of its ``data:<instrument>`` channel
(:class:`agent.engine.venue_health.VenueHealth`); an accepted one clears it. A venue whose data
stays implausible for ``[risk] venue_unhealthy_after_s`` is therefore unhealthy — no new
positions there, its pairs' other legs by ``unhealthy_venue_policy``, an alert — exactly as if
its API were down, and recovers with its first plausible value. Replays are not filtered here:
their files passed the same rules at load.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from itertools import pairwise
from typing import Final

import structlog

from agent.live.steps import FundingTick, LiveStep, MarkTick
from venues.errors import ProtocolError
from venues.model import FundingRate, InstrumentId
from venues.registry import VENUES
from venues.replay.guards import DataGuards, robust_sigma

log = structlog.get_logger("zerobeta.live_feed")

DATA: Final = "data"
"""The venue-health channel of the values a venue sends (prices, funding rates)."""
_MIN_HISTORY: Final = 24
"""Accepted hourly closes needed before a price jump can be judged."""

Report = Callable[[str, BaseException | None, str], None]
"""``(venue, error or None, channel)``: :meth:`agent.engine.venue_health.VenueHealth.record`."""


class ImplausibleInput(ProtocolError):
    """A value a venue sent that the plausibility rules refuse (a venue-health failure: the
    venue is not answering usefully)."""


class LiveInputGuard:
    """The plausibility rules on live steps, marks and predicted funding (module docstring).

    Parameters
    ----------
    guards : DataGuards
        ``[market_data]`` funding_cap_default_frac, price_jump_max_sigmas, the volatility window.
    report : Report | None
        Where each verdict goes (the venue health's ``record``); None: logged only.
    """

    def __init__(self, guards: DataGuards, report: Report | None = None) -> None:
        self._guards = guards
        self._report = report
        self._closes: dict[InstrumentId, deque[float]] = {}
        self._last: dict[InstrumentId, float] = {}
        self._channels: dict[InstrumentId, str] = {}  # ``data:<instrument>``, formatted once
        self._sigma: dict[InstrumentId, float] = {}
        """Robust sigma of each instrument's closes, until its next close (marks between two
        closes are judged against the same history: computed once, not per mark)."""
        self.rejected = 0
        """Values dropped so far."""

    # ---- history ---------------------------------------------------------------------------

    def learn(self, closes: Mapping[InstrumentId, float]) -> None:
        """Accept hourly closes as history without judging them (the start-up warm-up)."""
        for iid, close in closes.items():
            if math.isfinite(close) and close > 0:
                self._history(iid).append(close)
                self._sigma.pop(iid, None)
                self._last[iid] = close

    # ---- filters ---------------------------------------------------------------------------

    def step(self, step: LiveStep) -> LiveStep:
        """``step`` without its implausible closes and funding rates; the accepted closes
        become history."""
        closes = {iid: p for iid, p in step.closes.items() if self._price_ok(iid, p, "close")}
        for iid, close in closes.items():
            self._history(iid).append(close)
            self._sigma.pop(iid, None)
        funding = tuple(self._rates_ok(step.funding, "settled funding rate"))
        if len(closes) == len(step.closes) and len(funding) == len(step.funding):
            return step
        return replace(step, closes=closes, funding=funding)

    def marks(self, tick: MarkTick) -> MarkTick:
        """``tick`` without its implausible marks."""
        prices = {iid: p for iid, p in tick.prices.items() if self._price_ok(iid, p, "mark")}
        return tick if len(prices) == len(tick.prices) else replace(tick, prices=prices)

    def funding(self, tick: FundingTick) -> FundingTick:
        """``tick`` without its implausible predicted rates."""
        rates = tuple(self._rates_ok(tick.rates, "predicted funding rate"))
        return tick if len(rates) == len(tick.rates) else replace(tick, rates=rates)

    # ---- rules -----------------------------------------------------------------------------

    def cap_frac(self, iid: InstrumentId) -> float:
        """The cap on ``|funding rate|`` per interval of ``iid``'s venue (module docstring)."""
        spec = VENUES.get(iid.venue)
        if spec is not None and spec.funding_cap_frac is not None:
            return float(spec.funding_cap_frac)
        return self._guards.funding_cap_default_frac

    def _rates_ok(self, rates: Iterable[FundingRate], what: str) -> Iterable[FundingRate]:
        for rate in rates:
            cap = self.cap_frac(rate.instrument_id)
            if math.isfinite(rate.rate) and abs(rate.rate) <= cap:
                self._verdict(rate.instrument_id, None)
                yield rate
            else:
                reason = f"{what} {rate.rate} beyond the cap of ±{cap} per interval"
                self._reject(rate.instrument_id, what, reason)

    def _price_ok(self, iid: InstrumentId, price: float, what: str) -> bool:
        if not math.isfinite(price) or price <= 0:
            self._reject(iid, what, f"{what} {price} is not a positive number")
            return False
        k = self._guards.price_jump_max_sigmas
        history = self._closes.get(iid)
        last = self._last.get(iid)
        if k > 0 and last is not None and history is not None and len(history) > _MIN_HISTORY:
            sigma = self._sigma.get(iid)
            if sigma is None:
                moves = (abs(math.log(b / a)) for a, b in pairwise(history))
                sigma = self._sigma[iid] = robust_sigma(moves)
            move = abs(math.log(price / last))
            if move > k * sigma:
                reason = (
                    f"{what} {price} moves {move / sigma:.0f} sigmas from the last price {last} "
                    f"(limit {k:g}, price_jump_max_sigmas)"
                )
                self._reject(iid, what, reason)
                return False
        self._last[iid] = price
        self._verdict(iid, None)
        return True

    def _history(self, iid: InstrumentId) -> deque[float]:
        history = self._closes.get(iid)
        if history is None:
            history = self._closes[iid] = deque(maxlen=self._guards.vol_window_bars + 1)
        return history

    def _reject(self, iid: InstrumentId, what: str, reason: str) -> None:
        self.rejected += 1
        log.warning(
            "live_input_rejected", venue=iid.venue, instrument=str(iid), what=what, reason=reason
        )
        self._verdict(iid, ImplausibleInput(f"{iid}: {reason}", venue=iid.venue))

    def _verdict(self, iid: InstrumentId, error: BaseException | None) -> None:
        """One health channel per instrument (``data:<instrument>``): one instrument whose
        values stay implausible makes its venue unhealthy, whatever the others send."""
        if self._report is not None:
            channel = self._channels.get(iid)
            if channel is None:
                channel = self._channels[iid] = f"{DATA}:{iid}"
            self._report(iid.venue, error, channel)
