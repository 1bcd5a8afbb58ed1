"""RiskEngine.update_equity (the breakers, run at every step and mark tick) against the
straightforward version it replaced, kept here: on random equity paths across UTC days —
drops that trip the daily and total breakers, new days that release the daily one, NaN and
negative equity — both return the same events (values to the bit) and leave the same state."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import RiskConfig
from agent.risk import BreakerEvent, RiskEngine

DAY_MS = 86_400_000


class _Straightforward:
    """The breakers as ``update_equity`` computed them before (every drawdown every call)."""

    def __init__(self, cfg: RiskConfig, initial_equity_usd: float) -> None:
        self.cfg = cfg
        self.peak = initial_equity_usd
        self.day_open = initial_equity_usd
        self.day: int | None = None
        self.daily_halted = False
        self.total_halted = False
        self.tripped: dict[str, BreakerEvent] = {}

    def update(self, ts_ms: int, equity_usd: float) -> list[BreakerEvent]:
        day = ts_ms // DAY_MS
        if self.day is None:
            self.day = day
        elif day != self.day:
            self.day = day
            self.day_open = equity_usd
            self.daily_halted = False
            self.tripped.pop("daily_drawdown", None)
        self.peak = max(self.peak, equity_usd)
        events: list[BreakerEvent] = []
        daily_dd = 1.0 - equity_usd / self.day_open if self.day_open > 0 else 0.0
        if not self.daily_halted and daily_dd >= self.cfg.daily_drawdown_frac:
            self.daily_halted = True
            events.append(
                BreakerEvent("daily_drawdown", self.cfg.daily_drawdown_frac, daily_dd, ts_ms)
            )
        total_dd = 1.0 - equity_usd / self.peak if self.peak > 0 else 0.0
        if not self.total_halted and total_dd >= self.cfg.total_drawdown_frac:
            self.total_halted = True
            events.append(
                BreakerEvent("total_drawdown", self.cfg.total_drawdown_frac, total_dd, ts_ms)
            )
        self.tripped.update((e.rule, e) for e in events)
        return events


def _bits(events: list[BreakerEvent]) -> list[tuple[str, str, str, int]]:
    return [(e.rule, float(e.limit).hex(), float(e.value).hex(), e.ts_ms) for e in events]


EQUITY = st.one_of(
    st.floats(min_value=-1e6, max_value=3e6, allow_nan=False, allow_infinity=False),
    st.just(math.nan),
    st.just(0.0),
)


@settings(max_examples=300, deadline=None)
@given(
    path=st.lists(st.tuples(st.integers(0, 6 * 3_600_000), EQUITY), max_size=40),
    daily=st.floats(0.01, 0.2),
    total=st.floats(0.2, 0.5),
)
def test_update_equity_is_the_straightforward_breakers(
    path: list[tuple[int, float]], daily: float, total: float
) -> None:
    cfg = RiskConfig(daily_drawdown_frac=daily, total_drawdown_frac=total)
    risk, plain = RiskEngine(cfg, {}, 1_000_000.0), _Straightforward(cfg, 1_000_000.0)
    ts_ms = 1_700_000_000_000
    for step_ms, equity_usd in path:
        ts_ms += step_ms
        assert _bits(risk.update_equity(ts_ms, equity_usd)) == _bits(
            plain.update(ts_ms, equity_usd)
        )
        assert (risk.daily_halted, risk.total_halted) == (plain.daily_halted, plain.total_halted)
        assert risk.halted == (plain.daily_halted or plain.total_halted or bool(plain.tripped))
        state = risk.state()
        assert float(state["peak_equity_usd"]).hex() == float(plain.peak).hex()
        assert float(state["day_open_equity_usd"]).hex() == float(plain.day_open).hex()
        assert state["day_index"] == plain.day
        tripped = {r: [e.limit, e.value, e.ts_ms] for r, e in sorted(plain.tripped.items())}
        assert repr(state["tripped"]) == repr(tripped)
