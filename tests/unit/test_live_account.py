"""Live start-up cash (``agent.live.account``): quote balances where the venue reports them,
the configured capital where it cannot (Purple Flea, against its stateful fake).

Expected amounts are worked out by hand from the configuration written in each test.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from structlog.testing import capture_logs

from agent.config import CapitalConfig, VenueConfig
from agent.errors import LiveSetupError
from agent.live.account import configured_capital_usd, quote_cash_usd
from tests.fakes.purpleflea import FakePurpleFlea, make_venue
from venues.model import Balance

T0_MS = 1_767_225_600_000
QUOTES = ("USDT", "USDC")


def _venue(collateral_frac: float) -> VenueConfig:
    return VenueConfig(
        enabled=True,
        collateral_frac=collateral_frac,
        perp_maker_fee_bps=5.0,
        perp_taker_fee_bps=5.0,
        spot_maker_fee_bps=10.0,
        spot_taker_fee_bps=10.0,
    )


class BybitWithBalances:
    """A live account that reports balances: 1,200 USDT + 300 USDC + 1 BTC."""

    @property
    def name(self) -> str:
        return "bybit"

    async def fetch_balances(self) -> list[Balance]:
        return [
            Balance("bybit", "USDT", D(1_200), D(1_000), T0_MS),
            Balance("bybit", "USDC", D(300), D(300), T0_MS),
            Balance("bybit", "BTC", D(1), D(1), T0_MS),
        ]


def test_configured_capital_is_initial_equity_times_collateral_frac() -> None:
    capital = CapitalConfig(initial_equity_usd=80_000.0)
    venues = {"purpleflea": _venue(0.25), "bybit": _venue(0.1)}
    assert configured_capital_usd(capital, venues) == {"purpleflea": D(20_000), "bybit": D(8_000)}


async def test_purple_flea_starts_from_its_configured_capital_after_reading_positions() -> None:
    fake = FakePurpleFlea()
    purpleflea = make_venue(fake)
    capital_usd = configured_capital_usd(
        CapitalConfig(initial_equity_usd=80_000.0),
        {"purpleflea": _venue(0.25), "bybit": _venue(0.1)},
    )
    venues = {"purpleflea": purpleflea, "bybit": BybitWithBalances()}
    with capture_logs() as logs:
        cash = await quote_cash_usd(venues, QUOTES, capital_usd=capital_usd)  # type: ignore[arg-type]
    # Purple Flea: 80,000 × 0.25 configured; Bybit: 1,200 USDT + 300 USDC read (BTC is no cash)
    assert cash == {"purpleflea": D(20_000), "bybit": D(1_500)}
    assert [r.url.path for r in fake.requests] == ["/v1/portfolio/positions"]
    logged = [e for e in logs if e["event"] == "cash_from_config"]
    assert [(e["venue"], e["cash_usd"]) for e in logged] == [("purpleflea", 20_000.0)]
    await purpleflea.close()


async def test_purple_flea_positions_unreadable_refuses_the_start() -> None:
    fake = FakePurpleFlea()
    purpleflea = make_venue(fake, token="pf_live_not_the_right_token")  # the fake answers 401
    with pytest.raises(LiveSetupError, match="purpleflea: positions cannot be read"):
        await quote_cash_usd({"purpleflea": purpleflea}, QUOTES, capital_usd={"purpleflea": D(1)})
    await purpleflea.close()


async def test_purple_flea_without_configured_capital_refuses_the_start() -> None:
    fake = FakePurpleFlea()
    purpleflea = make_venue(fake)
    capital_usd = configured_capital_usd(CapitalConfig(), {"purpleflea": _venue(0.0)})
    with pytest.raises(LiveSetupError, match=r"venues\.purpleflea\.collateral_frac"):
        await quote_cash_usd({"purpleflea": purpleflea}, QUOTES, capital_usd=capital_usd)
    with pytest.raises(LiveSetupError, match="no capital was configured"):
        await quote_cash_usd({"purpleflea": purpleflea}, QUOTES)
    assert fake.requests == []  # refused before asking the venue
    await purpleflea.close()
