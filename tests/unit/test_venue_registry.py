"""The venue registry (``venues.registry``): every venue package is registered, each spec's
factory exists, and the facts the rest of zerobeta reads agree with what each venue is.

Expected values are written by hand from the venues' documentation and the code that used to
hold them (config checks, paper venue choice, replay data files), never read back from the
registry under test.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from agent.config import SECRET_FIELDS, VENUE_DEFAULTS, VENUE_NAMES, AgentConfig
from agent.config.sections import venue_defaults_mismatch
from agent.data.files import default_header
from venues.base import Credentials
from venues.errors import UnsupportedByVenue, VenueError
from venues.registry import (
    VENUES,
    VenueSpec,
    create_trading_venue,
    replay_funding_venues,
    trading_venues,
    venue_names,
    venue_spec,
)
from venues.replay.loader import FUNDING_HEADER, FUNDING_MARK_HEADER
from venues.replay.source import FUNDING_VENUES

VENUES_DIR = Path(__file__).resolve().parents[2] / "venues"
NOT_EXCHANGES = {"paper", "replay"}  # simulated execution and recorded data, no create_venue


def _venue_packages() -> set[str]:
    return {
        p.name
        for p in VENUES_DIR.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in NOT_EXCHANGES
    }


def test_every_venue_package_is_registered_and_nothing_else() -> None:
    packages = _venue_packages()
    assert len(packages) >= 6  # guards against the walk silently finding nothing
    assert set(VENUES) == packages


@pytest.mark.parametrize("name", sorted(VENUES))
def test_each_spec_names_a_module_of_its_package_with_create_venue(name: str) -> None:
    spec = VENUES[name]
    assert spec.name == name
    assert spec.factory_module.startswith(f"venues.{name}.")
    module = importlib.import_module(spec.factory_module)
    assert callable(getattr(module, "create_venue", None))


def test_venues_are_listed_in_the_configuration_order() -> None:
    order = ("binance", "bybit", "hyperliquid", "okx", "purpleflea", "deribit", "dydx")
    assert tuple(VENUES) == venue_names() == VENUE_NAMES == order


def test_the_facts_of_each_venue() -> None:
    key_secret = ("api_key", "api_secret")
    expected = {
        # name: (can_trade, native_pair_orders, credential_fields, funding_files_have_marks,
        #        replay_funding)
        "binance": (True, False, key_secret, True, True),
        "bybit": (True, False, key_secret, False, True),
        "hyperliquid": (True, False, key_secret, False, True),
        "okx": (True, False, (*key_secret, "api_passphrase"), True, False),
        "purpleflea": (True, True, ("api_key",), True, False),
        "deribit": (True, False, key_secret, False, False),
        "dydx": (False, False, (), True, False),
    }
    actual = {
        n: (
            s.can_trade,
            s.native_pair_orders,
            s.credential_fields,
            s.funding_files_have_marks,
            s.replay_funding,
        )
        for n, s in VENUES.items()
    }
    assert actual == expected
    assert trading_venues() == ("binance", "bybit", "hyperliquid", "okx", "purpleflea", "deribit")
    assert replay_funding_venues() == ("binance", "bybit", "hyperliquid")
    assert [n for n, s in VENUES.items() if s.renames is not None] == ["okx"]


def test_readers_follow_the_registry() -> None:
    assert FUNDING_VENUES == ("binance", "bybit", "hyperliquid")
    assert default_header("bybit", "funding") == FUNDING_HEADER
    assert default_header("hyperliquid", "funding") == FUNDING_HEADER
    assert default_header("binance", "funding") == FUNDING_MARK_HEADER
    assert default_header("dydx", "funding") == FUNDING_MARK_HEADER
    assert AgentConfig.venue_spec("purpleflea").native_pair_orders
    assert not AgentConfig.venue_spec("binance").native_pair_orders


def test_credential_fields_are_config_keys() -> None:
    assert set(SECRET_FIELDS) == {"api_key", "api_secret", "api_passphrase"}
    for spec in VENUES.values():
        assert set(spec.credential_fields) <= set(SECRET_FIELDS)


def test_venue_defaults_are_keyed_by_the_registry() -> None:
    assert list(VENUE_DEFAULTS) == list(VENUES)
    assert venue_defaults_mismatch(VENUE_DEFAULTS, VENUE_NAMES) is None
    without_dydx = {k: v for k, v in VENUE_DEFAULTS.items() if k != "dydx"}
    problem = venue_defaults_mismatch({**without_dydx, "kraken": {}}, VENUE_NAMES)
    assert problem is not None
    assert "missing ['dydx']" in problem
    assert "extra ['kraken']" in problem


def test_unknown_venue_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="unknown venue 'kraken'; known: binance, bybit"):
        venue_spec("kraken")


def test_a_market_data_only_venue_cannot_be_built_for_trading() -> None:
    with pytest.raises(ValueError, match="'dydx' cannot trade"):
        create_trading_venue("dydx", Credentials(SecretStr("k")))


@pytest.mark.parametrize(
    ("can_trade", "fields"),
    [
        (True, ()),  # a trading venue needs credentials
        (True, ("api_secret", "api_key")),  # api_key first
        (True, ("api_key", "api_token")),  # not a Credentials field
        (True, ("api_key", "api_key")),
        (False, ("api_key",)),  # market data only takes none
    ],
)
def test_spec_refuses_bad_credential_fields(can_trade: bool, fields: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="x:"):
        VenueSpec("x", "venues.x.client", can_trade, False, fields, True, False)


def test_no_venues_module_imports_agent_or_strategies() -> None:
    offenders = []
    for path in sorted(VENUES_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(VENUES_DIR)}: {n}"
                for n in names
                if n.split(".")[0] in {"agent", "strategies"}
            ]
    assert offenders == []


def test_only_purple_flea_reports_no_balances() -> None:
    assert [n for n, s in VENUES.items() if not s.reports_balances] == ["purpleflea"]


_DUMMY_CREDENTIALS = {  # shaped as each venue checks them; never sent anywhere (no network)
    "hyperliquid": Credentials(SecretStr("0x" + "ab" * 20), SecretStr("0x" + "11" * 32)),
    "okx": Credentials(SecretStr("k"), SecretStr("s"), SecretStr("p")),
    "purpleflea": Credentials(SecretStr("pf_live_0123456789")),
}


@pytest.mark.parametrize("name", trading_venues())
async def test_reports_balances_agrees_with_the_client(name: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no network in this test", request=request)

    async def no_wait(_seconds: float) -> None:
        return None

    credentials = _DUMMY_CREDENTIALS.get(name, Credentials(SecretStr("k"), SecretStr("s")))
    venue = create_trading_venue(
        name, credentials, transport=httpx.MockTransport(refuse), sleep=no_wait
    )
    try:
        await venue.fetch_balances()
    except UnsupportedByVenue:
        unsupported = True
    except VenueError:  # it has an endpoint: it tried it
        unsupported = False
    finally:
        await venue.close()
    assert unsupported is not VENUES[name].reports_balances
