"""Strategies plugged in by ``agent.toml``: ``[strategies.<name>]`` sections naming a class.

Covers the class contract checks and their error messages (each naming its key path), the
form-only check of disabled sections, the search for a user module next to the configuration
file, the run order, and the built-ins registered through the same table. User modules are
written to ``tmp_path`` under names unique to each test and unloaded afterwards.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import (
    AgentConfig,
    ConfigError,
    config_hash,
    load_config,
    redacted_dump,
)
from agent.config.sections import DEFAULT_NAKED_BUDGET_USD_S, LegRiskConfig
from agent.config.strategy_classes import contract_problems, load_strategy_class
from agent.supervisor import build_strategies
from strategies.base import StrategyContext
from strategies.builtin import BUILTIN_STRATEGIES
from strategies.factor_neutral import FactorNeutralConfig
from strategies.stat_arb import StatArbConfig, StatArbStrategy
from venues.model import InstrumentId, InstrumentKind

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "agent.toml"

# A minimal strategy class keeping the contract; ``{extra}`` adds (or replaces) members.
STRATEGY_MODULE = """
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from strategies.base import Decision, StrategyParams
from venues.model import InstrumentId, InstrumentKind


class Params(StrategyParams):
    venue: str = "binance"
    symbol: str = "BTCUSDT"
    threshold_frac: float = Field(default=0.01, gt=0)


@dataclass(frozen=True)
class State:
    def to_json(self) -> dict[str, Any]:
        return {{}}


class Toy:
    config_model = Params
    refit_every_s = None
    history_bars = 2

    def __init__(self, name: str, config: Params) -> None:
        self.name, self.config, self.cadence_s = name, config, config.cadence_s

    @classmethod
    def from_config(cls, name, config, context):
        return cls(name, config)

    def instruments(self):
        return [InstrumentId(self.config.venue, InstrumentKind.PERP, self.config.symbol)]

    def initial_state(self):
        return State()

    def load_state(self, data):
        return State()

    def refit(self, snapshot, state, now_ms):
        return state

    def decide(self, snapshot, portfolio, state, now_ms):
        return Decision((), state)
{extra}


class NotAStrategy:
    pass
"""


@pytest.fixture
def module_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A module name unique to the test; the module is unloaded afterwards."""
    name = "zb_user_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    assert name not in sys.modules
    yield name
    sys.modules.pop(name, None)


def _module(folder: Path, name: str, extra: str = "", text: str | None = None) -> None:
    source = STRATEGY_MODULE.format(extra=extra) if text is None else text
    (folder / f"{name}.py").write_text(source, encoding="utf-8")


def _toml(folder: Path, text: str) -> Path:
    path = folder / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _errors(path: Path | None, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)
    return dict(info.value.errors)


# --------------------------------------------------------------------------------------------
# A user strategy next to agent.toml
# --------------------------------------------------------------------------------------------


def test_user_class_next_to_the_config_file_is_loaded_and_built(
    tmp_path: Path, module_name: str
) -> None:
    _module(tmp_path, module_name)
    toml = f'[strategies.my_toy]\nclass = "{module_name}:Toy"\nthreshold_frac = 0.02\n'
    config = load_config(_toml(tmp_path, toml), env={})
    section = config.strategies.section("my_toy")
    assert section.enabled
    assert section.class_path == f"{module_name}:Toy"
    assert section.params.model_dump() == {
        "enabled": True,
        "cadence_s": 3600,
        "venue": "binance",
        "symbol": "BTCUSDT",
        "threshold_frac": 0.02,
    }
    built = {s.name: s for s in build_strategies(config)}
    assert type(built["my_toy"]).__name__ == "Toy"
    assert built["my_toy"].name == "my_toy"
    assert str(tmp_path) not in sys.path  # the folder was on sys.path only while importing


def test_missing_class_for_a_name_that_is_not_built_in_is_refused(tmp_path: Path) -> None:
    errors = _errors(_toml(tmp_path, "[strategies.my_carry]\nenabled = true\n"))
    assert list(errors) == ["strategies.my_carry.class"]
    assert errors["strategies.my_carry.class"] == (
        "required: 'my_carry' is not a built-in strategy (beta_hedger, cross_venue_arb, "
        "factor_neutral, funding_harvester, options_delta_hedger, stat_arb); name the "
        "strategy class as "
        '"package.module:ClassName"'
    )


def test_unimportable_module_is_refused_naming_where_it_was_looked_for(tmp_path: Path) -> None:
    toml = '[strategies.my_toy]\nclass = "zb_no_such_module_4711:Toy"\n'
    errors = _errors(_toml(tmp_path, toml))
    assert errors == {
        "strategies.my_toy.class": "cannot import module 'zb_no_such_module_4711': not found "
        f"on sys.path nor in {tmp_path.resolve()}"
    }


def test_module_that_fails_on_import_is_refused_with_its_error(
    tmp_path: Path, module_name: str
) -> None:
    _module(tmp_path, module_name, text="raise RuntimeError('boom at import')\n")
    errors = _errors(_toml(tmp_path, f'[strategies.my_toy]\nclass = "{module_name}:Toy"\n'))
    assert errors == {
        "strategies.my_toy.class": f"importing module {module_name!r} failed: "
        "RuntimeError: boom at import"
    }


def test_missing_attribute_and_bad_form_are_refused(tmp_path: Path, module_name: str) -> None:
    _module(tmp_path, module_name)
    toml = (
        f'[strategies.one]\nclass = "{module_name}:Nope"\n'
        '[strategies.two]\nclass = "no colon here"\n'
        "[strategies.three]\nclass = 3\n"
    )
    errors = _errors(_toml(tmp_path, toml))
    assert set(errors) == {
        "strategies.one.class",
        "strategies.two.class",
        "strategies.three.class",
    }
    assert errors["strategies.one.class"].startswith(f"module {module_name!r} (")
    assert errors["strategies.one.class"].endswith("has no attribute 'Nope'")
    form = 'is not of the form "package.module:ClassName"'
    assert errors["strategies.two.class"] == f"'no colon here' {form}"
    assert errors["strategies.three.class"] == f"3 {form}"


def test_class_that_is_not_a_strategy_is_refused_naming_what_it_lacks(
    tmp_path: Path, module_name: str
) -> None:
    _module(tmp_path, module_name)
    toml = f'[strategies.my_toy]\nclass = "{module_name}:NotAStrategy"\n'
    errors = _errors(_toml(tmp_path, toml))
    assert errors == {
        "strategies.my_toy.class": f"{module_name}:NotAStrategy is not a strategy class: "
        "no config_model (the pydantic model class of its parameters); no from_config "
        "classmethod; no instruments, initial_state, load_state, refit, decide methods "
        "(see strategies.base.ConfigurableStrategy)"
    }


def test_config_model_that_accepts_unknown_keys_is_refused(
    tmp_path: Path, module_name: str
) -> None:
    extra = (
        "    from pydantic import BaseModel as _B\n"
        "    class config_model(_B):\n"
        "        enabled: bool = True\n"
    )
    _module(tmp_path, module_name, extra=extra)
    errors = _errors(_toml(tmp_path, f'[strategies.my_toy]\nclass = "{module_name}:Toy"\n'))
    assert list(errors) == ["strategies.my_toy.class"]
    assert errors["strategies.my_toy.class"].endswith(
        "its config_model must be frozen and refuse unknown keys (model_config = "
        'ConfigDict(frozen=True, extra="forbid")) (see strategies.base.ConfigurableStrategy)'
    )


def test_bad_and_unknown_parameters_of_a_user_section_name_their_key(
    tmp_path: Path, module_name: str
) -> None:
    _module(tmp_path, module_name)
    toml = (
        f'[strategies.my_toy]\nclass = "{module_name}:Toy"\nthreshold_frac = -1.0\ntreshold = 2\n'
    )
    errors = _errors(_toml(tmp_path, toml))
    assert errors == {
        "strategies.my_toy.threshold_frac": "Input should be greater than 0",
        "strategies.my_toy.treshold": "unknown key; allowed here: cadence_s, enabled, "
        "execution_style, leg_policy, maker_deadline_s, naked_budget_usd_s, symbol, "
        "threshold_frac, venue",
    }


def test_user_strategy_venue_is_checked_like_a_built_in(tmp_path: Path, module_name: str) -> None:
    _module(tmp_path, module_name)
    toml = f'[strategies.my_toy]\nclass = "{module_name}:Toy"\nvenue = "okx"\n'
    errors = _errors(_toml(tmp_path, toml))
    assert errors == {
        "strategies.my_toy.venue": "venue 'okx' is not enabled (venues.okx.enabled)",
    }
    disabled = toml + "enabled = false\n"
    assert not load_config(_toml(tmp_path, disabled), env={}).strategies.section("my_toy").enabled


def test_from_config_refusal_is_a_config_error(tmp_path: Path, module_name: str) -> None:
    refusing = (
        "    @classmethod\n"
        "    def from_config(cls, name, config, context):\n"
        "        raise ValueError('symbol not listed on ' + config.venue)\n"
    )
    _module(tmp_path, module_name, extra=refusing)
    config = load_config(_toml(tmp_path, f'[strategies.t]\nclass = "{module_name}:Toy"\n'), env={})
    with pytest.raises(ConfigError) as info:
        build_strategies(config)
    assert info.value.errors == [
        (
            "strategies.t",
            f"{module_name}:Toy cannot run with this section: symbol not listed on binance",
        )
    ]


def test_strategy_not_named_after_its_section_is_refused(tmp_path: Path, module_name: str) -> None:
    renaming = (
        "    @classmethod\n"
        "    def from_config(cls, name, config, context):\n"
        "        return cls('toy', config)\n"
    )
    _module(tmp_path, module_name, extra=renaming)
    config = load_config(_toml(tmp_path, f'[strategies.t]\nclass = "{module_name}:Toy"\n'), env={})
    with pytest.raises(ConfigError) as info:
        build_strategies(config)
    assert info.value.errors == [
        (
            "strategies.t.class",
            f"{module_name}:Toy.from_config returned a strategy named 'toy'; it must carry its "
            "section name 't'",
        )
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("MyToy", "not a strategy section name"),
        ("9lives", "not a strategy section name"),
        ("a" * 41, "not a strategy section name"),
        ("unattributed", "reserved name"),
    ],
)
def test_section_names_are_snake_case_and_not_reserved(name: str, reason: str) -> None:
    errors = _errors(None, overrides={"strategies": {name: {"class": "x:Y"}}})
    assert list(errors) == [f"strategies.{name}"]
    assert errors[f"strategies.{name}"].startswith(reason)


def test_a_section_must_be_a_table(tmp_path: Path) -> None:
    errors = _errors(_toml(tmp_path, "[strategies]\nmine = 3\nstat_arb = 4\n"))
    assert errors == {
        "strategies.mine": "must be a table: the strategy's class and parameters",
        # A built-in's section gets its model's own message, as before.
        "strategies.stat_arb": "Input should be a valid dictionary or instance of StatArbConfig",
    }


# --------------------------------------------------------------------------------------------
# Disabled sections: form only
# --------------------------------------------------------------------------------------------


def test_disabled_factor_neutral_with_three_symbols_is_accepted(tmp_path: Path) -> None:
    section = '[strategies.factor_neutral]\nsymbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]\n'
    config = load_config(_toml(tmp_path, section + "enabled = false\n"), env={})
    params = config.strategies.params("factor_neutral", FactorNeutralConfig)
    assert not config.strategies.section("factor_neutral").enabled
    assert params.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert "factor_neutral" not in [s.name for s in build_strategies(config)]
    # The same section enabled is refused by the strategy's own rule.
    errors = _errors(_toml(tmp_path, section + "enabled = true\n"))
    assert list(errors) == ["strategies.factor_neutral"]
    assert "got 3" in errors["strategies.factor_neutral"]


def test_disabled_section_still_refuses_unknown_keys_and_bad_classes(tmp_path: Path) -> None:
    toml = (
        "[strategies.stat_arb]\nenabled = false\nentry_z = -5\nentr_z = 1\n"
        '[strategies.mine]\nenabled = false\nclass = "zb_missing_mod_0815:X"\n'
    )
    errors = _errors(_toml(tmp_path, toml))
    assert set(errors) == {"strategies.stat_arb.entr_z", "strategies.mine.class"}
    assert errors["strategies.stat_arb.entr_z"].startswith("unknown key; allowed here: ")
    assert "entry_z" in errors["strategies.stat_arb.entr_z"]


def test_an_enabled_value_that_is_no_boolean_is_reported(tmp_path: Path) -> None:
    errors = _errors(_toml(tmp_path, '[strategies.stat_arb]\nenabled = "perhaps"\n'))
    assert list(errors) == ["strategies.stat_arb.enabled"]


# --------------------------------------------------------------------------------------------
# Built-ins, order, output
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILTIN_STRATEGIES))
def test_every_built_in_keeps_the_contract_and_takes_its_section_name(name: str) -> None:
    cls = load_strategy_class(BUILTIN_STRATEGIES[name], None)
    assert contract_problems(cls) == []
    context = AgentConfig().strategy_context()
    params = cls.config_model()
    assert cls.from_config(f"{name}_2", params, context).name == f"{name}_2"


def test_a_built_in_class_can_run_twice_under_two_names(tmp_path: Path) -> None:
    toml = (
        "[strategies.stat_arb]\nenabled = true\n"
        '[strategies.stat_arb_slow]\nclass = "strategies.stat_arb:StatArbStrategy"\n'
        "entry_z = 2.5\n"
    )
    config = load_config(_toml(tmp_path, toml), env={})
    built = {s.name: s for s in build_strategies(config)}
    slow = built["stat_arb_slow"]
    assert isinstance(slow, StatArbStrategy)
    assert slow.config.entry_z == 2.5
    assert built["stat_arb"].config.entry_z == 2.0  # type: ignore[attr-defined]


def test_default_sections_run_in_todays_order() -> None:
    config = AgentConfig()
    assert config.strategies.names() == (
        "funding_harvester",
        "stat_arb",
        "factor_neutral",
        "cross_venue_arb",
        "beta_hedger",
        "options_delta_hedger",  # built in, off by default
    )
    # factor_neutral is off by default; the beta hedger hedges, so it runs last.
    assert [s.name for s in build_strategies(config)] == [
        "funding_harvester",
        "stat_arb",
        "cross_venue_arb",
        "beta_hedger",
    ]


def test_strategies_run_in_section_order_with_hedgers_last(
    tmp_path: Path, module_name: str
) -> None:
    _module(tmp_path, module_name)
    toml = (
        "[strategies.beta_hedger]\nenabled = true\n"
        f'[strategies.zz_toy]\nclass = "{module_name}:Toy"\n'
        "[strategies.stat_arb]\nenabled = true\n"
        "[strategies.funding_harvester]\nenabled = false\n"
    )
    config = load_config(_toml(tmp_path, toml), env={})
    assert [s.name for s in config.strategies.run_order()] == [
        "zz_toy",
        "stat_arb",
        "cross_venue_arb",  # built-in written nowhere: after the written ones, with defaults
        "beta_hedger",
    ]


def test_shipped_config_runs_the_strategies_in_the_order_before_plugins() -> None:
    config = load_config(SHIPPED, env={})
    assert [s.name for s in build_strategies(config)] == [
        "funding_harvester",
        "stat_arb",
        "factor_neutral",
        "cross_venue_arb",
        "beta_hedger",
    ]


def test_typed_access_to_a_section_checks_the_model() -> None:
    strategies = AgentConfig().strategies
    assert strategies.params("stat_arb", StatArbConfig).entry_z == 2.0
    with pytest.raises(TypeError, match="StatArbConfig"):
        strategies.params("stat_arb", FactorNeutralConfig)
    with pytest.raises(KeyError, match=r"no \[strategies.nope\] section"):
        strategies.section("nope")


def test_list_parameters_from_the_environment_are_json(tmp_path: Path) -> None:
    env = {"ZEROBETA_STRATEGIES__STAT_ARB__SYMBOLS": '["BTCUSDT", "ETHUSDT", "SOLUSDT"]'}
    config = load_config(None, env=env)
    assert config.strategies.params("stat_arb", StatArbConfig).symbols == [
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
    ]


def test_dump_shows_every_section_with_its_class_and_parses_back(
    tmp_path: Path, module_name: str
) -> None:
    _module(tmp_path, module_name)
    toml = SHIPPED.read_text(encoding="utf-8") + (
        f'\n[strategies.my_toy]\nclass = "{module_name}:Toy"\nenabled = false\n'
        "threshold_frac = -3.0\n"  # disabled: not validated, shown as written
    )
    config = load_config(_toml(tmp_path, toml), env={})
    dumped = tomllib.loads(redacted_dump(config))["strategies"]
    assert dumped["stat_arb"]["class"] == "strategies.stat_arb:StatArbStrategy"
    assert dumped["my_toy"] == {
        "class": f"{module_name}:Toy",
        "enabled": False,
        "cadence_s": 3600,
        "venue": "binance",
        "symbol": "BTCUSDT",
        "threshold_frac": -3.0,
        "leg_policy": "simultaneous",  # the agent's leg-risk keys, with their defaults
        "naked_budget_usd_s": 3600.0,
        "execution_style": "taker",
        "maker_deadline_s": 3600.0,
    }
    again = tmp_path / "again"
    again.mkdir()
    path = again / "dump.toml"
    path.write_text(redacted_dump(config), encoding="utf-8")
    _module(again, module_name)
    reloaded = load_config(path, env={})
    assert config_hash(reloaded) == config_hash(config)
    assert [s.name for s in reloaded.strategies.sections] == [
        s.name for s in config.strategies.sections
    ]


def test_config_hash_follows_the_class_a_section_runs(tmp_path: Path) -> None:
    plain = load_config(None, env={})
    same = load_config(
        None,
        overrides={"strategies": {"stat_arb": {"class": "strategies.stat_arb:StatArbStrategy"}}},
        env={},
    )
    other = load_config(
        None,
        overrides={
            "strategies": {"stat_arb": {"class": "strategies.stat_arb.strategy:StatArbStrategy"}}
        },
        env={},
    )
    assert config_hash(same) == config_hash(plain)
    assert config_hash(other) != config_hash(plain)


def test_strategy_context_holds_costs_trading_venues_and_reference() -> None:
    config = load_config(
        None,
        env={
            "ZEROBETA_VENUES__HYPERLIQUID__COLLATERAL_FRAC": "0",
            "ZEROBETA_STRATEGIES__CROSS_VENUE_ARB__ENABLED": "false",
            "ZEROBETA_MARKET_DATA__REFERENCE_INSTRUMENT": "binance:spot:ETHUSDT",
        },
    )
    context = config.strategy_context()
    assert isinstance(context, StrategyContext)
    assert list(context.costs) == ["binance", "bybit", "hyperliquid"]  # enabled venues
    assert context.trading_venues == ("binance", "bybit")  # hyperliquid has no collateral
    assert context.costs["bybit"].perp_taker_fee_bps == 5.5  # Bybit base tier default
    assert context.costs["hyperliquid"].spot_maker_fee_bps == 4.0
    assert context.reference_instrument == InstrumentId("binance", InstrumentKind.SPOT, "ETHUSDT")


def test_sections_named_only_in_the_environment_follow_the_files_alphabetically(
    tmp_path: Path,
) -> None:
    env = {  # deliberately not in alphabetical order
        "ZEROBETA_STRATEGIES__ZED__CLASS": "strategies.stat_arb:StatArbStrategy",
        "ZEROBETA_STRATEGIES__ALPHA__CLASS": "strategies.stat_arb:StatArbStrategy",
        "ZEROBETA_STRATEGIES__STAT_ARB__ENTRY_Z": "2.5",  # written in the file: keeps its place
    }
    toml = "[strategies.beta_hedger]\nenabled = true\n[strategies.stat_arb]\nenabled = true\n"
    config = load_config(_toml(tmp_path, toml), env=env)
    assert config.strategies.names() == (
        "beta_hedger",
        "stat_arb",
        "alpha",
        "zed",
        "funding_harvester",
        "factor_neutral",
        "cross_venue_arb",
        "options_delta_hedger",
    )
    assert config.strategies.params("stat_arb", StatArbConfig).entry_z == 2.5


def test_disabled_section_from_the_environment_keeps_a_boolean(tmp_path: Path) -> None:
    env = {"ZEROBETA_STRATEGIES__STAT_ARB__ENABLED": "false"}
    params = load_config(None, env=env).strategies.params("stat_arb", StatArbConfig)
    assert params.enabled is False


# --------------------------------------------------------------------------------------------
# The agent's leg-risk keys, in every section
# --------------------------------------------------------------------------------------------


def test_leg_risk_keys_default_to_simultaneous_and_the_documented_budget() -> None:
    config = load_config(None, env={})
    for section in config.strategies.sections:
        assert section.leg_risk == LegRiskConfig(
            leg_policy="simultaneous", naked_budget_usd_s=3600.0
        )
    assert DEFAULT_NAKED_BUDGET_USD_S == 3600.0


def test_leg_risk_keys_are_read_beside_the_strategy_parameters(tmp_path: Path) -> None:
    toml = (
        '[strategies.stat_arb]\nleg_policy = "sequential"\nnaked_budget_usd_s = 500\n'
        "entry_z = 2.5\n"
    )
    config = load_config(
        _toml(tmp_path, toml),
        env={"ZEROBETA_STRATEGIES__FUNDING_HARVESTER__NAKED_BUDGET_USD_S": "0"},
    )
    stat_arb = config.strategies.section("stat_arb")
    assert stat_arb.leg_risk == LegRiskConfig(leg_policy="sequential", naked_budget_usd_s=500.0)
    assert config.strategies.params("stat_arb", StatArbConfig).entry_z == 2.5
    harvester = config.strategies.section("funding_harvester").leg_risk
    assert (harvester.leg_policy, harvester.naked_budget_usd_s) == ("simultaneous", 0.0)
    dumped = tomllib.loads(redacted_dump(config))["strategies"]["stat_arb"]
    assert (dumped["leg_policy"], dumped["naked_budget_usd_s"]) == ("sequential", 500.0)


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('leg_policy = "both"', "leg_policy", "Input should be 'simultaneous' or 'sequential'"),
        ("naked_budget_usd_s = -1", "naked_budget_usd_s", "greater than or equal to 0"),
        ("naked_budget_usd_s = inf", "naked_budget_usd_s", "finite number"),
        ('naked_budget_usd_s = "lots"', "naked_budget_usd_s", "valid number"),
    ],
)
def test_bad_leg_risk_values_are_config_errors_naming_the_key(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    errors = _errors(_toml(tmp_path, f"[strategies.cross_venue_arb]\n{text}\n"))
    assert list(errors) == [f"strategies.cross_venue_arb.{key}"]
    assert reason in errors[f"strategies.cross_venue_arb.{key}"]


def test_bad_leg_risk_values_exit_2_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _toml(tmp_path, '[strategies.stat_arb]\nleg_policy = "sometimes"\n')
    assert main(["check-config", "--config", str(path)]) == 2
    assert "strategies.stat_arb.leg_policy" in capsys.readouterr().err


def test_a_disabled_section_keeps_its_leg_risk_values_unvalidated(tmp_path: Path) -> None:
    toml = '[strategies.stat_arb]\nenabled = false\nleg_policy = "later"\n'
    section = load_config(_toml(tmp_path, toml), env={}).strategies.section("stat_arb")
    assert (section.enabled, section.leg_risk.leg_policy) == (False, "later")


def test_a_strategy_model_may_not_take_a_leg_risk_key(tmp_path: Path, module_name: str) -> None:
    extra = '    class config_model(Params):\n        leg_policy: str = "mine"\n'
    _module(tmp_path, module_name, extra=extra)
    errors = _errors(_toml(tmp_path, f'[strategies.my_toy]\nclass = "{module_name}:Toy"\n'))
    assert list(errors) == ["strategies.my_toy.class"]
    assert (
        "its config_model has a field leg_policy: a key the agent reads in every"
        in (errors["strategies.my_toy.class"])
    )
