"""Margin watch: the free margin fraction of paper and live accounts, and the low-margin alert
with its recovery band. Expected fractions are worked out by hand below."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal as D

import pytest
from structlog.testing import capture_logs

from agent.engine.margin_watch import RECOVERY_BAND_FRAC, MarginWatch, balances_free_margin_frac
from venues.errors import VenueUnavailable
from venues.model import (
    Balance,
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderRequest,
    Side,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig

T0_MS = 1_700_006_400_000
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
BTC_SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D(5), D(1), 28_800),
    BTC_SPOT: Instrument(BTC_SPOT, "BTC", "USDT", D("0.01"), D("0.0001"), D("0.0001"), D(5), D(1)),
}


def _paper() -> PaperVenue:
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=D(100_000),
        perp_fees=VenueFees(D(0), D(0)),
        spot_fees=VenueFees(D(0), D(0)),
        slippage_bps=D(0),
        perp_leverage=D(5),
    )
    venue = PaperVenue(config, INSTRUMENTS, lambda: T0_MS)
    venue.update_price(BTC, 50_000.0)
    venue.update_price(BTC_SPOT, 50_000.0)
    return venue


async def test_paper_free_margin_is_available_over_equity() -> None:
    venue = _paper()
    assert venue.free_margin_frac() == 1.0  # flat: everything is free
    await venue.place_order(OrderRequest("long", BTC, Side.BUY, D(1)))
    # used margin 50,000 / 5 = 10,000; available 90,000; equity 100,000
    assert venue.free_margin_frac() == pytest.approx(0.9, abs=1e-12)
    venue.update_price(BTC, 45_000.0)
    # unrealized -5,000, used 9,000: available 86,000 over equity 95,000
    assert venue.free_margin_frac() == pytest.approx(86_000 / 95_000, abs=1e-12)
    summary = venue.account_summary()
    expected = D(summary.extra["available_usd"]) / summary.equity_usd
    assert venue.free_margin_frac() == pytest.approx(float(expected), abs=1e-12)


async def test_paper_spot_holdings_count_in_equity_not_in_available() -> None:
    venue = _paper()
    await venue.place_order(OrderRequest("spot", BTC_SPOT, Side.BUY, D(1)))
    # collateral 50,000 left, 1 BTC spot worth 50,000: available 50,000 / equity 100,000
    assert venue.free_margin_frac() == pytest.approx(0.5, abs=1e-12)


def test_live_free_margin_is_available_quote_over_the_ledger_equity() -> None:
    balances = [
        Balance("bybit", "USDT", D(8_000), D(2_000), T0_MS),
        Balance("bybit", "USDC", D(2_000), D(1_000), T0_MS),
        Balance("bybit", "BTC", D(1), D(1), T0_MS),  # not a quote asset: not counted
    ]
    # 3,000 available of 12,000 equity (cash plus the BTC at its mark, per the ledger)
    assert balances_free_margin_frac(balances, ("USDT", "USDC"), D(12_000)) == pytest.approx(0.25)
    assert balances_free_margin_frac(balances, ("FDUSD",), D(12_000)) == 0.0
    assert balances_free_margin_frac(balances, ("USDT",), D(0)) is None  # nothing to measure


class ScriptedBalances:
    """A live venue whose quote balance is free by the scripted fractions, one per call
    (``None``: the venue cannot answer)."""

    def __init__(self, fracs: Sequence[float | None]) -> None:
        self.fracs = list(fracs)

    @property
    def name(self) -> str:
        return "bybit"

    async def fetch_balances(self) -> list[Balance]:
        frac = self.fracs.pop(0)
        if frac is None:
            raise VenueUnavailable("503", venue="bybit")
        return [Balance("bybit", "USDT", D(1_000), D(repr(frac)) * 1_000, T0_MS)]


async def test_one_alert_per_fall_below_the_level_with_a_recovery_band() -> None:
    level = 0.5
    just_below_band = level + RECOVERY_BAND_FRAC - 0.01
    above_band = level + RECOVERY_BAND_FRAC + 0.01
    fracs = [0.6, 0.45, None, 0.48, just_below_band, 0.44, above_band, 0.40]
    venue = ScriptedBalances(fracs)
    watch = MarginWatch(level, ("USDT",))
    alerted = []
    for step in range(len(fracs)):
        equity = {"bybit": D(1_000)}.__getitem__
        checked = await watch.check({"bybit": venue}, {}, equity)  # type: ignore[dict-item]
        for alert in checked:
            frac = float(alert.fields["free_margin_frac"])
            alerted.append((step, alert.fields["venue"], round(frac, 6), alert.kind))
    # Alerts when it falls below 50% (step 1) and again only after it came back above 55%.
    assert alerted == [(1, "bybit", 0.45, "margin_low"), (7, "bybit", 0.4, "margin_low")]


async def _alerts(watch: MarginWatch, venue: ScriptedBalances, steps: int) -> list[str]:
    equity = {"bybit": D(1_000)}.__getitem__
    kinds = []
    for _ in range(steps):
        checked = await watch.check({"bybit": venue}, {}, equity)  # type: ignore[dict-item]
        kinds += [f"{a.kind}:{a.fields['venue']}" for a in checked]
    return kinds


async def test_a_restored_watch_does_not_alert_again_for_a_venue_still_low() -> None:
    before = MarginWatch(0.5, ("USDT",))
    assert await _alerts(before, ScriptedBalances([0.45]), 1) == ["margin_low:bybit"]
    saved = json.loads(json.dumps(before.state()))  # as the checkpoint stores it
    assert saved == {"low_venues": ["bybit"]}

    resumed = MarginWatch(0.5, ("USDT",))
    resumed.restore(saved)
    still_low, recovered, low_again = 0.40, 0.5 + RECOVERY_BAND_FRAC + 0.01, 0.30
    venue = ScriptedBalances([still_low, still_low, recovered, low_again])
    # silent while it stays low; alerts again only after a recovery and a new fall
    assert await _alerts(resumed, venue, 2) == []
    assert await _alerts(resumed, venue, 2) == ["margin_low:bybit"]


async def test_a_checkpoint_without_the_watch_restores_to_nothing_alerted() -> None:
    resumed = MarginWatch(0.5, ("USDT",))
    resumed.restore({})  # written before the watch kept state
    assert resumed.state() == {"low_venues": []}
    assert await _alerts(resumed, ScriptedBalances([0.45]), 1) == ["margin_low:bybit"]


@pytest.mark.parametrize("state", [{"low_venues": "bybit"}, {"low_venues": [1]}])
def test_a_malformed_state_is_refused(state: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="low_venues"):
        MarginWatch(0.5, ("USDT",)).restore(state)


class NoBalances:
    """A live Purple Flea account: its API has no balances endpoint."""

    @property
    def name(self) -> str:
        return "purpleflea"

    async def fetch_balances(self) -> list[Balance]:
        raise AssertionError("the watch must not ask a venue without balances")


async def test_a_venue_without_balances_is_not_watched_and_logged_once() -> None:
    watch = MarginWatch(0.5, ("USDT",))
    equity = {"purpleflea": D(1_000)}.__getitem__
    with capture_logs() as logs:
        for _ in range(3):
            venues = {"purpleflea": NoBalances()}
            assert await watch.check(venues, {}, equity) == []  # type: ignore[dict-item]
    assert [e["event"] for e in logs] == ["margin_unwatched"]
