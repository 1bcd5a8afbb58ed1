"""Agent configuration: ``agent.toml`` → frozen, validated pydantic-settings models.

Sources, highest priority first (each later one only fills what the earlier ones left):

1. ``overrides`` passed to :func:`load_config` (the CLI's ``backtest`` flags);
2. the environment: ``ZEROBETA_`` prefix, ``__`` between nesting levels, case-insensitive
   (``ZEROBETA_RISK__MAX_LEVERAGE=1.5``, ``ZEROBETA_VENUES__BINANCE__API_KEY=...``);
3. a secrets directory (``--secrets-dir`` or ``ZEROBETA_SECRETS_DIR``): one file per value,
   named like the variable without the prefix (``venues__binance__api_key``), content
   stripped of surrounding whitespace;
4. the TOML file;
5. the model defaults (per-venue defaults for ``[venues.<name>]``).

API keys (``api_key``, ``api_secret``, ``api_passphrase``) and the alert URLs
(``alerts.urls``, which carry tokens) come only from 2 or 3; one written in the TOML file is
refused. Every problem found is reported at once as a :class:`ConfigError`
whose ``errors`` list names each key path (``risk.max_leverage``) with its reason.

Constructing :class:`AgentConfig` directly reads only its keyword arguments and the defaults
(no environment, no files), which keeps tests hermetic; :func:`load_config` is the one entry
point that reads the outside world.

Strategy sections (``[strategies.<name>]``) name a strategy class and carry its parameters,
validated by the class's own model (``agent.config.strategy_sections``); a class named in the
TOML file is also looked for in the file's folder (``agent.config.strategy_classes``).

This module is the public face of the configuration: the section models live in
``agent.config.sections`` and ``agent.config.strategy_sections``, the sources and error
reporting in ``agent.config.sources``, the cross-section checks in ``agent.config.checks``;
import them all from here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from agent.config.checks import (
    collateral_errors,
    live_mode_errors,
    option_chain_errors,
    strategy_venue_errors,
    usable_venues,
)
from agent.config.sections import (
    DEFAULT_ALERT_KINDS,
    SECRET_FIELDS,
    VENUE_DEFAULTS,
    VENUE_NAMES,
    AlertsConfig,
    CapitalConfig,
    ControlConfig,
    ExecutionConfig,
    FieldErrors,
    JournalConfig,
    LoggingConfig,
    MarketDataConfig,
    OptionChainConfig,
    RiskConfig,
    VenueConfig,
    default_venues,
)
from agent.config.sources import (
    ENV_PREFIX,
    NESTED_DELIMITER,
    SECRETS_DIR_ENV,
    LoadContext,
    env_var_name,
    loading,
    path_errors,
    secret_file_name,
    secrets_dir_from,
    settings_error,
    settings_sources,
    unknown_env_errors,
    validation_errors,
)
from agent.config.strategy_sections import MONITOR_SECTION, StrategiesConfig, StrategySection
from agent.errors import ConfigError
from strategies.base import StrategyContext, TradingCosts
from venues.registry import VenueSpec, venue_spec

__all__ = [
    "DEFAULT_ALERT_KINDS",
    "ENV_PREFIX",
    "MONITOR_SECTION",
    "NESTED_DELIMITER",
    "REDACTED",
    "SECRETS_DIR_ENV",
    "SECRET_FIELDS",
    "VENUE_DEFAULTS",
    "VENUE_NAMES",
    "AgentConfig",
    "AlertsConfig",
    "CapitalConfig",
    "ConfigError",
    "ControlConfig",
    "ExecutionConfig",
    "JournalConfig",
    "LoggingConfig",
    "MarketDataConfig",
    "OptionChainConfig",
    "RiskConfig",
    "StrategiesConfig",
    "StrategySection",
    "VenueConfig",
    "config_hash",
    "env_var_name",
    "load_config",
    "redacted_dump",
    "secret_file_name",
    "usable_venues",
]

REDACTED = "**********"


class AgentConfig(BaseSettings):
    """The agent's whole configuration, one attribute per ``agent.toml`` section.

    Frozen; unknown keys are rejected at every level. Build it with :func:`load_config`;
    direct construction uses only keyword arguments and defaults.

    Raises
    ------
    pydantic.ValidationError
        On direct construction with invalid values (``load_config`` turns it into
        :class:`ConfigError`).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        case_sensitive=False,
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        # A ValidationError's text would otherwise repeat raw values: API keys, alert URLs.
        hide_input_in_errors=True,
    )

    mode: Literal["paper", "live"] = Field(
        default="paper", description='"paper": simulated fills; "live": real orders.'
    )
    market_data: MarketDataConfig = Field(
        default_factory=MarketDataConfig, description="Market data source and replay window."
    )
    capital: CapitalConfig = Field(default_factory=CapitalConfig, description="Starting capital.")
    venues: dict[str, VenueConfig] = Field(
        default_factory=default_venues, description="Per-venue settings, keyed by venue name."
    )
    risk: RiskConfig = Field(default_factory=RiskConfig, description="Risk limits and breakers.")
    execution: ExecutionConfig = Field(
        default_factory=ExecutionConfig, description="Order execution settings."
    )
    option_chain: OptionChainConfig = Field(
        default_factory=OptionChainConfig, description="Model-priced options (replay)."
    )
    journal: JournalConfig = Field(default_factory=JournalConfig, description="SQLite journal.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Log output.")
    control: ControlConfig = Field(
        default_factory=ControlConfig, description="HTTP health, status and metrics endpoint."
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="Notifications to a person (apprise URLs)."
    )
    strategies: StrategiesConfig = Field(
        default_factory=StrategiesConfig,
        description="One section per strategy (its class and parameters), and the "
        "funding-flip monitor's.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Sources in priority order: init kwargs > env > secrets directory > TOML file."""
        return settings_sources(settings_cls, init_settings, file_secret_settings)

    @field_validator("venues", mode="before")
    @classmethod
    def _fill_venue_defaults(cls, value: Any) -> Any:
        """Reject unknown venue names; fill each venue's unspecified keys from its defaults."""
        if not isinstance(value, Mapping):
            return value
        unknown = sorted(set(value) - set(VENUE_NAMES))
        if unknown:
            known = ", ".join(VENUE_NAMES)
            raise FieldErrors([(str(name), f"unknown venue; known: {known}") for name in unknown])
        merged: dict[str, Any] = {}
        for name in VENUE_NAMES:
            given = value.get(name, {})
            merged[name] = (
                {**VENUE_DEFAULTS[name], **given} if isinstance(given, Mapping) else given
            )
        return merged

    @model_validator(mode="after")
    def _cross_checks(self) -> AgentConfig:
        """Checks that span sections: collateral, strategy venues, live-mode credentials."""
        errors = [
            *collateral_errors(self.venues),
            *strategy_venue_errors(self.strategies, self.venues),
            *live_mode_errors(self.mode, self.market_data, self.venues),
            *option_chain_errors(self.option_chain, self.venues),
        ]
        if errors:
            raise FieldErrors(errors)
        return self

    def strategy_context(self) -> StrategyContext:
        """What every strategy's ``from_config`` receives besides its own section: the costs
        of each enabled venue, the venues that can hold positions (enabled, with collateral)
        and the market reference instrument."""
        costs = {
            name: TradingCosts(
                perp_maker_fee_bps=v.perp_maker_fee_bps,
                perp_taker_fee_bps=v.perp_taker_fee_bps,
                spot_maker_fee_bps=v.spot_maker_fee_bps,
                spot_taker_fee_bps=v.spot_taker_fee_bps,
                slippage_bps=v.slippage_bps,
            )
            for name, v in self.venues.items()
            if v.enabled
        }
        return StrategyContext(
            costs=costs,
            trading_venues=tuple(usable_venues(list(self.venues), self.venues)),
            reference_instrument=self.market_data.reference_instrument_id,
        )

    @staticmethod
    def venue_spec(name: str) -> VenueSpec:
        """The registry's facts about venue ``name`` (:func:`venues.registry.venue_spec`):
        whether it can trade, has native pair orders, which credentials it needs...

        Raises
        ------
        ValueError
            For a name that is not a venue of the registry.
        """
        return venue_spec(name)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_config(
    path: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    secrets_dir: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Load and validate the configuration from every source.

    Parameters
    ----------
    path : Path or None
        The TOML file (``agent.toml``); None = defaults, environment and secrets only.
    env : Mapping[str, str] or None
        Environment variables to read; None = ``os.environ``. When given, ``os.environ`` is
        not read at all (tests inject it).
    secrets_dir : Path or None
        Directory of secret files; None = ``$ZEROBETA_SECRETS_DIR`` if set, else none.
    overrides : Mapping[str, Any] or None
        Nested values that beat every other source (``{"journal": {"path": "x.sqlite"}}``).

    Returns
    -------
    AgentConfig
        The validated, frozen configuration.

    Raises
    ------
    ConfigError
        Listing every problem found, each with its key path: missing or unreadable file,
        TOML syntax error (with line and column), unknown key, bad type or value, secret
        written in the file, cross-field violations, unknown ``ZEROBETA_*`` variable,
        missing secrets directory.
    """
    environ = dict(os.environ if env is None else env)
    secrets_dir = secrets_dir_from(secrets_dir, environ)
    early = unknown_env_errors(environ, AgentConfig)
    missing = path_errors(path, secrets_dir)
    if missing:
        raise ConfigError([*early, *missing])
    ctx = LoadContext(path, environ, secrets_dir, [])
    try:
        with loading(ctx):
            config = AgentConfig(**dict(overrides or {}))
    except ValidationError as err:
        # ``from None``: a ValidationError's text can hold raw input values, secrets included.
        raise ConfigError([*early, *ctx.pending, *validation_errors(err, AgentConfig)]) from None
    except SettingsError as err:
        raise ConfigError([*early, settings_error(err)]) from None
    if early or ctx.pending:
        raise ConfigError([*early, *ctx.pending])
    return config


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def redacted_dump(config: AgentConfig) -> str:
    """The effective configuration as TOML text, secrets shown as ``**********``.

    Parameters
    ----------
    config : AgentConfig

    Returns
    -------
    str
        TOML, one table per section (``[venues.binance]``...). Unset optional keys appear as
        comments (``# data_dir = (not set)``) since TOML has no null. Without secrets the
        text parses back to an equal configuration.
    """
    lines = ["# zerobeta effective configuration (secrets shown as **********)"]
    lines.extend(_render_table((), config.model_dump()))
    return "\n".join(lines) + "\n"


def config_hash(config: AgentConfig) -> str:
    """SHA-256 of the redacted canonical JSON of ``config`` (for the journal's run_meta).

    Returns
    -------
    str
        64 hex digits. Secrets contribute only whether they are set, never their value.
    """
    canonical = json.dumps(
        config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _render_table(prefix: tuple[str, ...], table: Mapping[str, Any]) -> list[str]:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    lines: list[str] = []
    if prefix and scalars:
        lines.extend(["", f"[{'.'.join(prefix)}]"])
    for key, value in scalars:
        if value is None:
            lines.append(f"# {key} = (not set)")
        else:
            lines.append(f"{key} = {_render_value(value)}")
    for key, value in table.items():
        if isinstance(value, Mapping):
            lines.extend(_render_table((*prefix, key), value))
    return lines


def _render_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return json.dumps(REDACTED)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover
            raise ValueError(f"cannot render non-finite number {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
