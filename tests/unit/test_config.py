"""Tests of agent.config: sources and their priority, error reporting, the shipped agent.toml.

Expected values are written by hand from the fixture files and the brief, never read back
from what the code produced.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from agent.config import (
    VENUE_NAMES,
    AgentConfig,
    ConfigError,
    MarketDataConfig,
    VenueConfig,
    config_hash,
    load_config,
    redacted_dump,
)
from agent.config.sections import LegRiskConfig
from strategies.builtin import BUILTIN_STRATEGIES
from venues.model import InstrumentId, InstrumentKind

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "agent.toml"
FIXTURES = ROOT / "tests" / "fixtures" / "config"
KEY = "k3y-Value-0123456789"
SECRET = "s3cret-Value-9876543210"


def _errors(path: Path | None, **kwargs: Any) -> dict[str, str]:
    """Load expecting failure; the errors as {key_path: reason}."""
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)
    return dict(info.value.errors)


def _plain(secret: SecretStr | None) -> str:
    assert secret is not None
    return secret.get_secret_value()


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# The shipped agent.toml
# --------------------------------------------------------------------------------------------


def test_shipped_config_loads_as_paper_replay_of_whole_window() -> None:
    config = load_config(SHIPPED, env={})
    assert config.mode == "paper"
    assert config.market_data.source == "replay"
    assert config.market_data.start is None
    assert config.market_data.end is None
    assert config.market_data.data_dir is None
    assert config.strategies.section("stat_arb").enabled
    assert config.strategies.section("funding_harvester").enabled
    assert all(v.api_key is None and v.api_secret is None for v in config.venues.values())


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_every_value_written_in_shipped_config_is_the_loaded_value() -> None:
    raw = _flatten(tomllib.loads(SHIPPED.read_text(encoding="utf-8")))
    loaded = _flatten(load_config(SHIPPED, env={}).model_dump(mode="json"))
    assert len(raw) >= 70  # guards against the walk silently finding nothing
    for key, value in raw.items():
        assert loaded[key] == value, key


def _model_leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf key path of the model tree, with its field default (dicts: one per venue)."""
    leaves: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            leaves.extend(_model_leaves(ann, f"{prefix}{name}."))
        elif get_origin(ann) is dict and issubclass(get_args(ann)[1], BaseModel):
            value_type = get_args(ann)[1]
            for venue in VENUE_NAMES:
                leaves.extend(_model_leaves(value_type, f"{prefix}{name}.{venue}."))
        else:
            leaves.append((f"{prefix}{name}", field.default))
    return leaves


def _keys_in_file(text: str) -> tuple[set[str], set[str]]:
    """(key paths written, key paths present only as a commented-out example)."""
    written: set[str] = set()
    commented: set[str] = set()
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\[([\w.]+)\]", line)
        if header:
            section = header.group(1) + "."
            continue
        if match := re.match(r"^(\w+)\s*=", line):
            written.add(section + match.group(1))
        elif match := re.match(r"^#\s*(\w+)\s*=", line):
            commented.add(section + match.group(1))
    return written, commented


def _strategy_leaves() -> list[tuple[str, Any]]:
    """The leaves of every built-in strategy's parameter model and of the agent's leg-risk
    keys, under its section."""
    strategies = AgentConfig().strategies
    return [
        leaf
        for name in BUILTIN_STRATEGIES
        for model in (strategies.section(name).strategy_class.config_model, LegRiskConfig)
        for leaf in _model_leaves(model, f"strategies.{name}.")
    ]


def test_every_model_field_appears_in_shipped_config() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    written, commented = _keys_in_file(text)
    strategy_leaves = _strategy_leaves()
    assert len(strategy_leaves) > 70
    leaves = [*_model_leaves(AgentConfig), *strategy_leaves]
    missing = []
    for path, default in leaves:
        name = path.rsplit(".", 1)[-1]
        if name.startswith("api_"):
            # Secrets cannot be written: the file names the variable that sets them.
            env = "ZEROBETA_" + path.replace(".", "__").upper()
            ok = env in text or (name == "api_passphrase" and "__API_PASSPHRASE" in text)
        elif default is None:
            ok = path in commented or path in written
        else:
            ok = path in written
        if not ok:
            missing.append(path)
    assert missing == []


def test_redacted_dump_of_shipped_config_parses_back_to_the_same_config(tmp_path: Path) -> None:
    config = load_config(SHIPPED, env={})
    dumped = _write(tmp_path, "dump.toml", redacted_dump(config))
    assert load_config(dumped, env={}) == config


# --------------------------------------------------------------------------------------------
# File-level and key errors
# --------------------------------------------------------------------------------------------


def test_missing_file_is_named() -> None:
    path = FIXTURES / "does_not_exist.toml"
    errors = _errors(path)
    assert errors == {str(path): "config file not found"}


def test_toml_syntax_error_names_file_and_line() -> None:
    path = FIXTURES / "syntax_error.toml"
    errors = _errors(path)
    assert list(errors) == [str(path)]
    assert "TOML syntax error" in errors[str(path)]
    assert "line 3" in errors[str(path)]


def test_unknown_top_level_key_is_named() -> None:
    errors = _errors(FIXTURES / "unknown_top_level.toml")
    assert list(errors) == ["mdoe"]
    assert errors["mdoe"].startswith("unknown key")
    assert "mode" in errors["mdoe"]


def test_unknown_nested_key_is_named_with_allowed_keys() -> None:
    errors = _errors(FIXTURES / "unknown_nested.toml")
    assert list(errors) == ["risk.max_leverag"]
    assert "max_leverage" in errors["risk.max_leverag"]
    assert "max_venue_frac" in errors["risk.max_leverag"]


def test_unknown_venue_is_named() -> None:
    errors = _errors(FIXTURES / "unknown_venue.toml")
    assert list(errors) == ["venues.kraken"]
    assert "binance, bybit, hyperliquid, okx, purpleflea, deribit, dydx" in errors["venues.kraken"]


def test_wrong_types_are_named() -> None:
    errors = _errors(FIXTURES / "wrong_type.toml")
    assert set(errors) == {"risk.max_leverage", "execution.max_attempts"}
    assert "valid number" in errors["risk.max_leverage"]
    assert "valid integer" in errors["execution.max_attempts"]


def test_out_of_range_values_are_named_with_their_limit() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "out_of_range.toml", env={})
    text = str(info.value)
    assert "risk.max_leverage: Input should be greater than 0" in text.splitlines()
    assert "venues.binance.collateral_frac: Input should be less than or equal to 1" in text


def test_secret_in_toml_is_refused_together_with_other_errors() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "secret_in_file.toml", env={})
    errors = dict(info.value.errors)
    assert set(errors) == {
        "venues.binance.api_key",
        "venues.binance.api_secret",
        "risk.max_leverage",
    }
    reason = errors["venues.binance.api_key"]
    assert "secrets must come from the environment or a secrets directory" in reason
    assert "ZEROBETA_VENUES__BINANCE__API_KEY" in reason
    assert "DO-NOT-LEAK" not in str(info.value)
    assert info.value.__cause__ is None  # no chained ValidationError holding the raw input


def test_secret_in_toml_is_refused_even_when_everything_else_is_valid(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.toml", '[venues.bybit]\napi_passphrase = "pp"\n')
    assert list(_errors(path)) == ["venues.bybit.api_passphrase"]


def test_strategy_section_errors_carry_its_path() -> None:
    errors = _errors(FIXTURES / "strategy_invalid.toml")
    assert list(errors) == ["strategies.stat_arb"]
    assert "entry_z" in errors["strategies.stat_arb"]


def test_unknown_zerobeta_variable_is_named() -> None:
    errors = _errors(None, env={"ZEROBETA_RISK_MAX_LEVERAGE": "1.5", "HOME": "/root"})
    assert list(errors) == ["ZEROBETA_RISK_MAX_LEVERAGE"]


def test_unknown_nested_env_key_is_named() -> None:
    errors = _errors(None, env={"ZEROBETA_RISK__MAX_LEVERAG": "1.5"})
    assert list(errors) == ["risk.max_leverag"]


def test_env_value_that_is_not_json_names_the_variable() -> None:
    errors = _errors(None, env={"ZEROBETA_RISK": "{not json"})
    assert list(errors) == ["risk"]
    assert "ZEROBETA_RISK" in errors["risk"]


def test_override_with_unknown_key_is_refused() -> None:
    errors = _errors(None, overrides={"journal": {"file": "x.sqlite"}})
    assert list(errors) == ["journal.file"]


# --------------------------------------------------------------------------------------------
# Cross-field checks
# --------------------------------------------------------------------------------------------


def test_collateral_over_one_is_refused_with_each_share() -> None:
    errors = _errors(FIXTURES / "collateral_over.toml")
    assert list(errors) == ["venues"]
    assert "1.15" in errors["venues"]
    assert "binance 0.6 + bybit 0.3 + hyperliquid 0.25" in errors["venues"]


def test_collateral_of_disabled_venues_does_not_count() -> None:
    config = load_config(
        FIXTURES / "collateral_over.toml", env={"ZEROBETA_VENUES__HYPERLIQUID__ENABLED": "false"}
    )
    assert config.venues["hyperliquid"].enabled is False


def test_strategy_on_disabled_venue_is_refused() -> None:
    errors = _errors(FIXTURES / "strategy_venue_disabled.toml")
    assert set(errors) == {
        "strategies.stat_arb.venue",
        "strategies.funding_harvester.venue",
        "strategies.beta_hedger.venue",
    }
    assert "venues.binance.enabled" in errors["strategies.stat_arb.venue"]


def test_disabled_strategy_may_name_a_disabled_venue() -> None:
    config = load_config(
        FIXTURES / "strategy_venue_disabled.toml",
        env={
            "ZEROBETA_STRATEGIES__STAT_ARB__ENABLED": "false",
            "ZEROBETA_STRATEGIES__FUNDING_HARVESTER__ENABLED": "false",
            "ZEROBETA_STRATEGIES__BETA_HEDGER__ENABLED": "false",
        },
    )
    assert not config.venues["binance"].enabled


def test_strategy_on_venue_without_collateral_is_refused() -> None:
    errors = _errors(None, env={"ZEROBETA_VENUES__BINANCE__COLLATERAL_FRAC": "0"})
    assert set(errors) == {
        "strategies.stat_arb.venue",
        "strategies.funding_harvester.venue",
        "strategies.beta_hedger.venue",
    }


def test_window_and_drawdown_order_are_checked() -> None:
    errors = _errors(FIXTURES / "bad_window.toml")
    assert set(errors) == {"market_data.end", "risk.daily_drawdown_frac"}
    assert "after start" in errors["market_data.end"]
    assert "total_drawdown_frac" in errors["risk.daily_drawdown_frac"]


def test_live_mode_without_keys_names_the_env_vars() -> None:
    errors = _errors(FIXTURES / "live_without_keys.toml")
    assert set(errors) == {"venues.binance.api_key", "venues.binance.api_secret"}
    assert "ZEROBETA_VENUES__BINANCE__API_KEY" in errors["venues.binance.api_key"]
    assert "ZEROBETA_VENUES__BINANCE__API_SECRET" in errors["venues.binance.api_secret"]
    assert "venues__binance__api_key" in errors["venues.binance.api_key"]


def test_live_mode_with_keys_from_env_loads() -> None:
    env = {
        "ZEROBETA_VENUES__BINANCE__API_KEY": KEY,
        "ZEROBETA_VENUES__BINANCE__API_SECRET": SECRET,
    }
    config = load_config(FIXTURES / "live_without_keys.toml", env=env)
    assert config.mode == "live"
    assert _plain(config.venues["binance"].api_key) == KEY


def test_live_mode_needs_live_market_data() -> None:
    env = {
        "ZEROBETA_VENUES__BINANCE__API_KEY": KEY,
        "ZEROBETA_VENUES__BINANCE__API_SECRET": SECRET,
        "ZEROBETA_MARKET_DATA__SOURCE": "replay",
    }
    assert list(_errors(FIXTURES / "live_without_keys.toml", env=env)) == ["market_data.source"]


def test_live_okx_needs_its_passphrase_and_dydx_cannot_trade_live() -> None:
    env = {
        "ZEROBETA_VENUES__BINANCE__API_KEY": KEY,
        "ZEROBETA_VENUES__BINANCE__API_SECRET": SECRET,
        "ZEROBETA_VENUES__OKX__ENABLED": "true",
        "ZEROBETA_VENUES__OKX__API_KEY": KEY,
        "ZEROBETA_VENUES__OKX__API_SECRET": SECRET,
        "ZEROBETA_VENUES__DYDX__ENABLED": "true",
    }
    errors = _errors(FIXTURES / "live_without_keys.toml", env=env)
    assert set(errors) == {"venues.okx.api_passphrase", "venues.dydx.enabled"}
    assert "ZEROBETA_VENUES__OKX__API_PASSPHRASE" in errors["venues.okx.api_passphrase"]
    assert "market data only" in errors["venues.dydx.enabled"]


def test_live_purpleflea_needs_only_its_key_and_hyperliquid_its_key_and_secret() -> None:
    env = {
        "ZEROBETA_VENUES__BINANCE__API_KEY": KEY,
        "ZEROBETA_VENUES__BINANCE__API_SECRET": SECRET,
        "ZEROBETA_VENUES__PURPLEFLEA__ENABLED": "true",
        "ZEROBETA_VENUES__PURPLEFLEA__API_KEY": KEY,
        "ZEROBETA_VENUES__HYPERLIQUID__ENABLED": "true",
        "ZEROBETA_VENUES__HYPERLIQUID__COLLATERAL_FRAC": "0.1",
    }
    errors = _errors(FIXTURES / "live_without_keys.toml", env=env)
    assert set(errors) == {"venues.hyperliquid.api_key", "venues.hyperliquid.api_secret"}
    env["ZEROBETA_VENUES__HYPERLIQUID__API_KEY"] = KEY
    env["ZEROBETA_VENUES__HYPERLIQUID__API_SECRET"] = SECRET
    config = load_config(FIXTURES / "live_without_keys.toml", env=env)
    assert config.venues["purpleflea"].api_secret is None


def test_venue_url_overrides_must_be_urls() -> None:
    env = {
        "ZEROBETA_VENUES__BYBIT__REST_URL": "api-testnet.bybit.com",
        "ZEROBETA_VENUES__BYBIT__WS_URL": "https://stream.bybit.com",
    }
    errors = _errors(None, env=env)
    assert set(errors) == {"venues.bybit.rest_url", "venues.bybit.ws_url"}
    ok = load_config(
        None,
        env={
            "ZEROBETA_VENUES__BYBIT__REST_URL": "https://api-testnet.bybit.com",
            "ZEROBETA_VENUES__BYBIT__WS_URL": "wss://stream-testnet.bybit.com/v5/public/linear",
        },
    )
    assert ok.venues["bybit"].rest_url == "https://api-testnet.bybit.com"


def test_blank_secret_counts_as_missing() -> None:
    env = {
        "ZEROBETA_VENUES__BINANCE__API_KEY": "   ",
        "ZEROBETA_VENUES__BINANCE__API_SECRET": SECRET,
    }
    errors = _errors(FIXTURES / "live_without_keys.toml", env=env)
    assert list(errors) == ["venues.binance.api_key"]


# --------------------------------------------------------------------------------------------
# The market reference instrument
# --------------------------------------------------------------------------------------------


def test_reference_instrument_defaults_to_the_binance_btc_perp() -> None:
    md = load_config(SHIPPED, env={}).market_data
    assert md.reference_instrument == "binance:perp:BTCUSDT"
    assert md.reference_instrument_id == InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    assert MarketDataConfig().reference_instrument_id.symbol == "BTCUSDT"


def test_reference_instrument_may_be_a_spot_pair_of_another_venue() -> None:
    env = {"ZEROBETA_MARKET_DATA__REFERENCE_INSTRUMENT": "bybit:spot:ETHUSDT"}
    reference = load_config(None, env=env).market_data.reference_instrument_id
    assert (reference.venue, reference.kind, reference.symbol) == (
        "bybit",
        InstrumentKind.SPOT,
        "ETHUSDT",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("kraken:perp:BTCUSDT", "unknown venue 'kraken'; known: binance, bybit, hyperliquid"),
        ("binance:option:BTCUSDT", "unknown kind 'option'; known: spot, perp"),
        ("binance:perp:", "is not of the form venue:kind:SYMBOL"),
        ("binance:perp: BTCUSDT", "is not of the form venue:kind:SYMBOL"),
        ("BTCUSDT", "is not of the form venue:kind:SYMBOL"),
        ("binance:perp:BTC:USDT", "is not of the form venue:kind:SYMBOL"),
    ],
)
def test_bad_reference_instrument_is_named(value: str, reason: str) -> None:
    errors = _errors(None, env={"ZEROBETA_MARKET_DATA__REFERENCE_INSTRUMENT": value})
    assert list(errors) == ["market_data.reference_instrument"]
    assert reason in errors["market_data.reference_instrument"]


# --------------------------------------------------------------------------------------------
# Sources and their priority
# --------------------------------------------------------------------------------------------


def test_partial_file_keeps_defaults_and_venue_specific_fees() -> None:
    config = load_config(FIXTURES / "partial.toml", env={})
    assert config.risk.max_leverage == 1.2
    assert config.risk.max_position_frac == 0.10
    bybit = config.venues["bybit"]
    assert bybit.enabled is False
    # Bybit base-tier perp fees 2 / 5.5 bps, spot 10 / 10 bps.
    assert (bybit.perp_maker_fee_bps, bybit.perp_taker_fee_bps) == (2.0, 5.5)
    assert (bybit.spot_maker_fee_bps, bybit.spot_taker_fee_bps) == (10.0, 10.0)
    hl = config.venues["hyperliquid"]
    assert (hl.perp_maker_fee_bps, hl.perp_taker_fee_bps, hl.collateral_frac) == (1.5, 4.5, 0.25)


def test_replay_window_is_utc() -> None:
    md = load_config(FIXTURES / "partial.toml", env={}).market_data
    assert md.start == datetime(2025, 9, 1, 12, tzinfo=UTC)  # naive → UTC
    assert md.end == datetime(2025, 9, 30, 22, tzinfo=UTC)  # +02:00 → 22:00 UTC the day before


def test_date_means_midnight_utc() -> None:
    env = {"ZEROBETA_MARKET_DATA__START": "2025-09-01", "ZEROBETA_MARKET_DATA__END": "2025-09-02"}
    md = load_config(None, env=env).market_data
    assert md.start == datetime(2025, 9, 1, tzinfo=UTC)
    assert md.end == datetime(2025, 9, 2, tzinfo=UTC)


def test_env_overrides_toml_with_double_underscore_nesting() -> None:
    env = {"ZEROBETA_RISK__MAX_LEVERAGE": "1.5", "zerobeta_venues__binance__slippage_bps": "3.5"}
    config = load_config(FIXTURES / "partial.toml", env=env)
    assert config.risk.max_leverage == 1.5  # the file says 1.2
    assert config.venues["binance"].slippage_bps == 3.5
    assert config.venues["binance"].perp_taker_fee_bps == 5.0  # untouched sibling keeps default


def test_overrides_beat_env() -> None:
    config = load_config(
        FIXTURES / "partial.toml",
        env={"ZEROBETA_RISK__MAX_LEVERAGE": "1.5"},
        overrides={"risk": {"max_leverage": 1.1}, "journal": {"path": "x.sqlite"}},
    )
    assert config.risk.max_leverage == 1.1
    assert config.risk.max_position_frac == 0.10  # partial override merges, not replaces
    assert config.journal.path == Path("x.sqlite")


def test_given_env_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROBETA_RISK__MAX_LEVERAGE", "1.7")
    assert load_config(None, env={}).risk.max_leverage == 2.0
    assert load_config(None).risk.max_leverage == 1.7


def test_direct_construction_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROBETA_MODE", "live")
    assert AgentConfig().mode == "paper"


def _secrets(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir()
    for name, content in files.items():
        _write(directory, name, content)
    return directory


def test_secrets_dir_supplies_nested_keys(tmp_path: Path) -> None:
    secrets = _secrets(
        tmp_path / "secrets",
        {
            "venues__binance__api_key": f"  {KEY}\n",
            "VENUES__BINANCE__API_SECRET": SECRET,
            "risk__max_leverage": "1.4",
        },
    )
    config = load_config(FIXTURES / "partial.toml", env={}, secrets_dir=secrets)
    binance = config.venues["binance"]
    assert _plain(binance.api_key) == KEY
    assert _plain(binance.api_secret) == SECRET
    assert config.risk.max_leverage == 1.4  # secrets dir beats the file (1.2)


def test_secrets_dir_from_env_and_env_beats_it(tmp_path: Path) -> None:
    secrets = _secrets(tmp_path / "secrets", {"venues__bybit__api_key": KEY})
    env = {"ZEROBETA_SECRETS_DIR": str(secrets), "ZEROBETA_VENUES__BINANCE__API_KEY": SECRET}
    config = load_config(None, env=env)
    bybit, binance = config.venues["bybit"], config.venues["binance"]
    assert _plain(bybit.api_key) == KEY
    assert _plain(binance.api_key) == SECRET
    env["ZEROBETA_VENUES__BYBIT__API_KEY"] = SECRET
    bybit = load_config(None, env=env).venues["bybit"]
    assert _plain(bybit.api_key) == SECRET


def test_missing_secrets_dir_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    errors = _errors(None, secrets_dir=missing)
    assert list(errors) == [str(missing)]


def test_live_mode_with_keys_from_secrets_dir_loads(tmp_path: Path) -> None:
    secrets = _secrets(
        tmp_path / "secrets",
        {"venues__binance__api_key": KEY, "venues__binance__api_secret": SECRET},
    )
    config = load_config(FIXTURES / "live_without_keys.toml", env={}, secrets_dir=secrets)
    assert config.mode == "live"


# --------------------------------------------------------------------------------------------
# Output: redacted dump and hash
# --------------------------------------------------------------------------------------------


def _with_keys() -> AgentConfig:
    env = {
        "ZEROBETA_VENUES__BINANCE__API_KEY": KEY,
        "ZEROBETA_VENUES__BINANCE__API_SECRET": SECRET,
        "ZEROBETA_VENUES__BYBIT__API_PASSPHRASE": SECRET + "-pp",
    }
    return load_config(SHIPPED, env=env)


def test_redacted_dump_never_shows_secret_values() -> None:
    text = redacted_dump(_with_keys())
    assert KEY not in text
    assert SECRET not in text
    assert text.count('"**********"') == 3
    assert "# data_dir = (not set)" in text
    parsed = tomllib.loads(text)
    assert parsed["venues"]["binance"]["api_key"] == "**********"
    assert parsed["risk"]["max_leverage"] == 2.0


def test_redacted_dump_writes_datetimes_as_utc(tmp_path: Path) -> None:
    text = redacted_dump(load_config(FIXTURES / "partial.toml", env={}))
    assert "start = 2025-09-01T12:00:00Z" in text
    assert "end = 2025-09-30T22:00:00Z" in text


def test_config_hash_ignores_secret_values_but_not_settings() -> None:
    base = load_config(SHIPPED, env={})
    same = load_config(SHIPPED, env={})
    assert re.fullmatch(r"[0-9a-f]{64}", config_hash(base))
    assert config_hash(base) == config_hash(same)
    one = load_config(None, env={"ZEROBETA_VENUES__BINANCE__API_KEY": KEY})
    two = load_config(None, env={"ZEROBETA_VENUES__BINANCE__API_KEY": SECRET})
    assert config_hash(one) == config_hash(two)
    changed = load_config(SHIPPED, env={"ZEROBETA_RISK__MAX_LEVERAGE": "1.9"})
    assert config_hash(changed) != config_hash(base)


def test_config_is_frozen() -> None:
    config = load_config(SHIPPED, env={})
    with pytest.raises(ValidationError):
        config.risk.max_leverage = 5.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.mode = "live"  # type: ignore[misc]


def test_venue_config_repr_hides_secret() -> None:
    venue = VenueConfig(
        enabled=True,
        collateral_frac=0.5,
        perp_maker_fee_bps=2.0,
        perp_taker_fee_bps=5.0,
        spot_maker_fee_bps=10.0,
        spot_taker_fee_bps=10.0,
        api_key=SecretStr(KEY),
    )
    assert KEY not in repr(venue)
    assert KEY not in str(venue.model_dump(mode="json"))


def test_config_error_message_is_one_line_per_problem() -> None:
    err = ConfigError([("risk.max_leverage", "bad"), ("mode", "worse")])
    assert str(err) == "risk.max_leverage: bad\nmode: worse"
    assert err.errors == [("risk.max_leverage", "bad"), ("mode", "worse")]


def test_every_variable_in_the_example_env_file_is_accepted() -> None:
    text = (ROOT / "deploy" / "zerobeta.env.example").read_text(encoding="utf-8")
    env = dict(
        line.lstrip("# ").split("=", 1)
        for line in text.splitlines()
        if re.match(r"^#?\s*ZEROBETA_\w+=", line)
    )
    assert "ZEROBETA_VENUES__BINANCE__API_KEY" in env
    assert "ZEROBETA_RISK__MAX_LEVERAGE" in env
    env.pop("ZEROBETA_SECRETS_DIR")  # the example directory does not exist here
    config = load_config(SHIPPED, env=env)
    assert config.risk.max_leverage == 1.5
    assert _plain(config.venues["hyperliquid"].api_secret).startswith("replace-with-")


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("ZEROBETA_RISK__LIQUIDATION_DISTANCE_FRAC", "1", "risk.liquidation_distance_frac"),
        ("ZEROBETA_RISK__LIQUIDATION_DISTANCE_FRAC", "-0.1", "risk.liquidation_distance_frac"),
        ("ZEROBETA_RISK__LIQUIDATION_REDUCE_FRAC", "0", "risk.liquidation_reduce_frac"),
        ("ZEROBETA_RISK__LIQUIDATION_REDUCE_FRAC", "1.5", "risk.liquidation_reduce_frac"),
        ("ZEROBETA_RISK__VENUE_UNHEALTHY_AFTER_S", "0", "risk.venue_unhealthy_after_s"),
        ("ZEROBETA_RISK__UNHEALTHY_VENUE_POLICY", "close", "risk.unhealthy_venue_policy"),
        # 0.4 × perp_leverage 3 ≥ 1: a position would be modelled liquidated as it opens
        (
            "ZEROBETA_VENUES__BINANCE__MAINTENANCE_MARGIN_FRAC",
            "0.4",
            "venues.binance.maintenance_margin_frac",
        ),
        (
            "ZEROBETA_VENUES__BYBIT__MAINTENANCE_MARGIN_FRAC",
            "-0.01",
            "venues.bybit.maintenance_margin_frac",
        ),
    ],
)
def test_safety_keys_are_validated_naming_the_key(variable: str, value: str, key: str) -> None:
    errors = _errors(SHIPPED, env={variable: value})
    assert set(errors) == {key}


def test_safety_keys_defaults_and_the_shipped_values() -> None:
    risk = load_config(None, env={}).risk
    assert (risk.liquidation_distance_frac, risk.liquidation_reduce_frac) == (0.10, 0.5)
    assert (risk.venue_unhealthy_after_s, risk.unhealthy_venue_policy) == (120.0, "hold")
    shipped = load_config(SHIPPED, env={})
    assert shipped.risk == risk
    assert {v.maintenance_margin_frac for v in shipped.venues.values()} == {0.005}
    off = load_config(None, env={"ZEROBETA_RISK__LIQUIDATION_DISTANCE_FRAC": "0"}).risk
    assert off.liquidation_distance_frac == 0.0


def test_option_chain_venue_must_be_an_enabled_venue() -> None:
    env = {"ZEROBETA_OPTION_CHAIN__ENABLED": "true", "ZEROBETA_OPTION_CHAIN__VENUE": "okx"}
    errors = _errors(None, env=env)  # okx is off by default
    assert list(errors) == ["option_chain.venue"]
    assert "venues.okx.enabled" in errors["option_chain.venue"]
    env["ZEROBETA_OPTION_CHAIN__VENUE"] = "binance"
    assert load_config(None, env=env).option_chain.venue == "binance"
