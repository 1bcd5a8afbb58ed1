"""Funding-flip monitor: closes a strategy's funding position once funding turns against it.

For every position with funding exposure held by a guarded strategy (the harvester's short
perp, the cross-venue arb's two perps), each new settlement is classified: *adverse* when the
position pays (``rate × qty > 0``: a long pays a positive rate, a short a negative one). The
monitor orders the owner's whole position in that base asset closed when

- ``adverse_settlements`` consecutive settlements were adverse, or
- the latest settled rate is adverse by more than ``predicted_adverse_8h_frac`` per 8h
  equivalent (normalized with ``venues.model.funding_rate_per_hour``, never assuming 8h), or
- live, the venue's **predicted** rate of the coming settlement
  (``MarketSnapshot.predicted_funding``, streamed between hourly steps) is adverse by more
  than that: the monitor acts on it before the settlement (a prediction for a settlement
  already past is ignored; the settled rate decides then),

and only if closing is cheaper than staying (fee-aware, SEEDS.md "do not churn on one noisy
settlement"): the adverse funding expected over ``horizon_h`` at the latest rate,
``|rate/h| × horizon_h × |notional|``, must exceed the cost of closing every leg,
``Σ |notional| × (taker fee + slippage)`` (:func:`strategies.common.flip_close_check`, the rule
the funding harvester's own flip exit applies too). Otherwise it holds and says so. Each settlement
is decided once; nothing is re-decided between settlements. A predicted rate is only an
estimate: it is never counted as a settlement, and the predictions of one settlement are acted
on (closed or held) at most once — the first that is adverse beyond the threshold; until then
every new prediction is looked at. After a close the
owner may not reopen that asset for ``cooldown_h`` (``blocked``). Every decision comes back as
an alert with the numbers behind it.

The monitor is pure: the supervisor hands it every strategy's positions and executes the
closes it returns on behalf of the owning strategy (the P&L stays the owner's). Its state
(:class:`~strategies.flip_monitor.state.FlipMonitorState`) and the state's JSON layout are in
:mod:`strategies.flip_monitor.state`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from strategies.base import Alert, MarketSnapshot, PairIntent, TargetPosition
from strategies.common import flip_close_check
from strategies.flip_monitor.config import FlipMonitorConfig
from strategies.flip_monitor.state import AdverseCount, FlipMonitorState
from venues.model import (
    HOUR_MS,
    FundingRate,
    InstrumentId,
    InstrumentKind,
    base_asset,
    funding_rate_per_hour,
)

_NOTHING_SEEN = AdverseCount(last_ms=-1, adverse=0)


@dataclass(frozen=True, slots=True)
class MonitorDecision:
    """What the monitor wants: ``closes`` as (owner strategy, intent) pairs, its next state,
    alerts, and per owner the base assets it must not open."""

    closes: tuple[tuple[str, PairIntent], ...]
    state: FlipMonitorState
    alerts: tuple[Alert, ...]
    blocked: Mapping[str, frozenset[str]]


class FundingFlipMonitor:
    """See the module docstring.

    Parameters
    ----------
    config : FlipMonitorConfig
    close_cost_bps : Mapping[str, float]
        Per venue, taker fee + slippage of one closing order, basis points of notional.
    """

    name = "funding_flip_monitor"

    def __init__(self, config: FlipMonitorConfig, close_cost_bps: Mapping[str, float]) -> None:
        self.config = config
        self._cost_bps = dict(close_cost_bps)
        self._predicted_per_h = funding_rate_per_hour(config.predicted_adverse_8h_frac, 8 * 3600)

    def initial_state(self) -> FlipMonitorState:
        """Adverse counts and last seen settlement per (owner, perp); cooldowns per owner."""
        return FlipMonitorState()

    def load_state(self, data: Mapping[str, Any]) -> FlipMonitorState:
        """Decode a journaled state (:meth:`FlipMonitorState.from_json`).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version.
        """
        return FlipMonitorState.from_json(data)

    def review(
        self,
        positions: Mapping[str, Mapping[InstrumentId, float]],
        snapshot: MarketSnapshot,
        state: FlipMonitorState,
        now_ms: int,
    ) -> MonitorDecision:
        """Classify new settlements, decide closes, expire cooldowns.

        Parameters
        ----------
        positions : Mapping[str, Mapping[InstrumentId, float]]
            Signed positions (base units) per strategy name; only guarded strategies count.
        snapshot : MarketSnapshot
            Prices (quote units) and the latest funding of every perp held.
        state : FlipMonitorState
            From :meth:`initial_state` or the previous review.
        now_ms : int
            Review time, epoch ms UTC.
        """
        counts = dict(state.counts)
        cooldowns = {
            owner: {b: until for b, until in bases.items() if until > now_ms}
            for owner, bases in state.cooldowns.items()
        }
        closes: list[tuple[str, PairIntent]] = []
        alerts: list[Alert] = []
        for owner in self.config.guarded_strategies:
            held = {i: q for i, q in positions.get(owner, {}).items() if q}
            for base, group in sorted(_groups(held).items()):
                intent = self._review_group(owner, base, group, snapshot, counts, alerts, now_ms)
                if intent is not None:
                    closes.append((owner, intent))
                    until = now_ms + int(self.config.cooldown_h * HOUR_MS)
                    cooldowns.setdefault(owner, {})[base] = until
        live = {_key(o, i) for o in positions for i, q in positions[o].items() if q}
        counts = {k: v for k, v in counts.items() if k in live}
        blocked = {o: frozenset(b) for o, b in cooldowns.items() if b}
        new_state = FlipMonitorState(counts=counts, cooldowns=cooldowns)
        return MonitorDecision(tuple(closes), new_state, tuple(alerts), blocked)

    def _review_group(
        self,
        owner: str,
        base: str,
        group: Mapping[InstrumentId, float],
        snapshot: MarketSnapshot,
        counts: dict[str, AdverseCount],
        alerts: list[Alert],
        now_ms: int,
    ) -> PairIntent | None:
        """Update the counts of the group's perps; a close intent when a policy triggers."""
        triggered: list[tuple[InstrumentId, str, float]] = []
        for iid, qty in sorted(group.items()):
            if iid.kind is not InstrumentKind.PERP:
                continue
            funding = snapshot.funding.get(iid)
            reason = None
            if funding is not None:
                reason = self._classify(owner, iid, qty, funding, counts)
            predicted = snapshot.predicted_funding.get(iid)
            if reason is None and predicted is not None:
                reason = self._classify_predicted(owner, iid, qty, predicted, counts, now_ms)
                funding = predicted if reason is not None else funding
            if reason is not None and funding is not None:
                triggered.append(
                    (iid, reason, funding_rate_per_hour(funding.rate, funding.interval_s))
                )
        if not triggered:
            return None
        return self._fee_aware_close(owner, base, group, snapshot, triggered, alerts, now_ms)

    def _classify(
        self,
        owner: str,
        iid: InstrumentId,
        qty: float,
        funding: FundingRate,
        counts: dict[str, AdverseCount],
    ) -> str | None:
        """Count a new settlement once; the policy that triggers, if any."""
        key = _key(owner, iid)
        seen = counts.get(key, _NOTHING_SEEN)
        if funding.ts_funding_ms <= seen.last_ms:
            return None  # decided on this settlement already: no churn between settlements
        adverse = funding.rate * qty > 0
        record = AdverseCount(
            last_ms=funding.ts_funding_ms,
            adverse=seen.adverse + 1 if adverse else 0,
            predicted_ms=seen.predicted_ms,
        )
        counts[key] = record
        per_h = funding_rate_per_hour(funding.rate, funding.interval_s)
        if record.adverse >= self.config.adverse_settlements:
            return "consecutive_adverse_settlements"
        if adverse and abs(per_h) > self._predicted_per_h:
            return "adverse_rate_beyond_threshold"
        return None

    def _classify_predicted(
        self,
        owner: str,
        iid: InstrumentId,
        qty: float,
        predicted: FundingRate,
        counts: dict[str, AdverseCount],
        now_ms: int,
    ) -> str | None:
        """A predicted rate of a settlement still to come (after ``now_ms`` and after the last
        settlement classified), adverse beyond the threshold and not acted on before: the
        policy, recorded so no later prediction of that settlement triggers again."""
        key = _key(owner, iid)
        record = counts.get(key, _NOTHING_SEEN)
        ts_ms = predicted.ts_funding_ms
        if ts_ms <= now_ms or ts_ms <= record.last_ms or ts_ms <= record.predicted_ms:
            return None
        per_h = funding_rate_per_hour(predicted.rate, predicted.interval_s)
        if predicted.rate * qty <= 0 or abs(per_h) <= self._predicted_per_h:
            return None
        counts[key] = replace(record, predicted_ms=ts_ms)
        return "predicted_adverse_rate"

    def _fee_aware_close(
        self,
        owner: str,
        base: str,
        group: Mapping[InstrumentId, float],
        snapshot: MarketSnapshot,
        triggered: Sequence[tuple[InstrumentId, str, float]],
        alerts: list[Alert],
        now_ms: int,
    ) -> PairIntent | None:
        """Close only when the adverse funding expected over the horizon beats closing costs."""
        notional = {i: abs(q) * snapshot.prices.get(i, 0.0) for i, q in group.items()}
        check = flip_close_check(
            adverse=((per_h, notional.get(iid, 0.0)) for iid, _, per_h in triggered),
            horizon_h=self.config.horizon_h,
            close_legs=((n, self._cost_bps.get(i.venue, 0.0)) for i, n in notional.items()),
        )
        expected, close_cost = check.expected_adverse_usd, check.close_cost_usd
        fields: dict[str, float | str] = {
            "owner": owner,
            "base": base,
            "policy": triggered[0][1],
            "rate_per_hour": triggered[0][2],
            "expected_adverse_usd": round(expected, 6),
            "close_cost_usd": round(close_cost, 6),
            "horizon_h": self.config.horizon_h,
        }
        if not check.close:
            message = f"{owner} {base}: funding against the position, but closing costs more"
            alerts.append(Alert("funding_flip_hold", message, fields))
            return None
        message = f"{owner} {base}: funding turned against the position; closing"
        alerts.append(Alert("funding_flip_close", message, fields))
        legs = tuple(TargetPosition(i, 0.0) for i in sorted(group))
        return PairIntent(f"flip-{base}-{now_ms}", legs, "exit_funding_flip_monitor", opening=False)


def _groups(held: Mapping[InstrumentId, float]) -> dict[str, dict[InstrumentId, float]]:
    """Positions grouped by base asset (the legs of one funding trade)."""
    groups: dict[str, dict[InstrumentId, float]] = {}
    for iid, qty in held.items():
        groups.setdefault(base_asset(iid.symbol), {})[iid] = qty
    return groups


def _key(owner: str, iid: InstrumentId) -> str:
    return f"{owner}|{iid}"
