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

API keys (``api_key``, ``api_secret``, ``api_passphrase``) come only from 2 or 3; one written
in the TOML file is refused. Every problem found is reported at once as a :class:`ConfigError`
whose ``errors`` list names each key path (``risk.max_leverage``) with its reason.

Constructing :class:`AgentConfig` directly reads only its keyword arguments and the defaults
(no environment, no files), which keeps tests hermetic; :func:`load_config` is the one entry
point that reads the outside world.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    DirectoryPath,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from agent.errors import ConfigError
from strategies.beta_hedger.config import BetaHedgerConfig
from strategies.cross_venue_arb.config import CrossVenueArbConfig
from strategies.factor_neutral.config import FactorNeutralConfig
from strategies.flip_monitor.config import FlipMonitorConfig
from strategies.funding_harvester.config import FundingHarvesterConfig
from strategies.stat_arb.config import StatArbConfig

ENV_PREFIX = "ZEROBETA_"
NESTED_DELIMITER = "__"
SECRETS_DIR_ENV = f"{ENV_PREFIX}SECRETS_DIR"
REDACTED = "**********"
VENUE_NAMES = ("binance", "bybit", "hyperliquid", "okx", "purpleflea", "dydx")
SECRET_FIELDS = ("api_key", "api_secret", "api_passphrase")
LIVE_REQUIRED_SECRETS: Mapping[str, tuple[str, ...]] = {
    "binance": ("api_key", "api_secret"),
    "bybit": ("api_key", "api_secret"),
    "hyperliquid": ("api_key", "api_secret"),
    "okx": ("api_key", "api_secret", "api_passphrase"),
    "purpleflea": ("api_key",),
}
"""Credentials each venue needs to trade live (``dydx`` is market data only)."""
MARKET_DATA_ONLY_VENUES = frozenset({"dydx"})

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class _FieldErrors(ValueError):
    """Cross-field problems raised inside a validator, with paths relative to the model."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in errors))


def env_var_name(key_path: str) -> str:
    """Environment variable that sets ``key_path`` (``risk.max_leverage`` → ``ZEROBETA_RISK__…``).

    Parameters
    ----------
    key_path : str
        Dotted key path as written in ``agent.toml``.

    Returns
    -------
    str
        Upper-case variable name with the ``ZEROBETA_`` prefix and ``__`` nesting.
    """
    return ENV_PREFIX + key_path.replace(".", NESTED_DELIMITER).upper()


def secret_file_name(key_path: str) -> str:
    """File name in the secrets directory that sets ``key_path`` (``venues__binance__api_key``)."""
    return key_path.replace(".", NESTED_DELIMITER)


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


class MarketDataConfig(BaseModel):
    """``[market_data]``: where prices and funding come from, and the replay window.

    Raises
    ------
    pydantic.ValidationError
        On an unknown source, a missing ``data_dir``, ``start >= end`` or a non-positive
        staleness limit.
    """

    model_config = _FROZEN

    source: Literal["replay", "live"] = Field(
        default="replay",
        description='"replay": bundled/recorded history on a simulated clock; "live": venues.',
    )
    data_dir: DirectoryPath | None = Field(
        default=None,
        description="Directory of recorded data in the bundled layout; None = bundled data.",
    )
    start: datetime | None = Field(
        default=None,
        description="Replay window start, UTC (a date means 00:00 UTC); None = first bar.",
    )
    end: datetime | None = Field(
        default=None,
        description="Replay window end (exclusive), UTC; None = last bar.",
    )
    stale_after_s: int = Field(
        default=7200, gt=0, description="A price older than this is stale, seconds."
    )
    live_bar_delay_s: int = Field(
        default=15,
        ge=0,
        le=600,
        description='source = "live": wait this long after each hour before fetching the '
        "closed 1h bar and the settled funding, seconds.",
    )
    live_mark_every_s: int = Field(
        default=60,
        ge=5,
        le=3600,
        description='source = "live": mark positions to the streamed mark prices (and check '
        "the breakers) this often between hourly bars, seconds.",
    )
    live_funding_history_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description='source = "live": settled funding read at start-up (funding interval '
        "and latest rate of each perp), days.",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_is_midnight_utc(cls, value: Any) -> Any:
        """Turn a bare date into 00:00 UTC of that day (TOML dates and CLI dates)."""
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    @field_validator("start", "end")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        """Naive datetimes are UTC; aware ones are converted to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _window_ordered(self) -> MarketDataConfig:
        """``start`` must come before ``end`` when both are set."""
        if self.start is not None and self.end is not None and self.start >= self.end:
            order = f"{self.end.isoformat()} <= {self.start.isoformat()}"
            raise _FieldErrors([("end", f"must be after start ({order})")])
        return self


class CapitalConfig(BaseModel):
    """``[capital]``: starting equity and the assets counted as cash."""

    model_config = _FROZEN

    initial_equity_usd: float = Field(
        default=100_000.0, gt=0, description="Equity at the start of a paper/replay run, USD."
    )
    quote_assets: tuple[str, ...] = Field(
        default=("USDT", "USDC"),
        min_length=1,
        description="Stablecoins counted 1:1 as USD in equity.",
    )

    @field_validator("quote_assets")
    @classmethod
    def _assets_upper_unique(cls, assets: tuple[str, ...]) -> tuple[str, ...]:
        """Upper-case asset codes, no blanks, no duplicates."""
        cleaned = tuple(a.strip().upper() for a in assets)
        if any(not a for a in cleaned):
            raise ValueError("asset codes must not be blank")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"asset codes listed more than once: {list(cleaned)}")
        return cleaned


class VenueConfig(BaseModel):
    """``[venues.<name>]``: one venue's collateral, costs, leverage and credentials.

    Defaults for each venue come from :data:`VENUE_DEFAULTS` (fee schedules of the base
    tier: Binance USDⓈ-M and spot, Bybit derivatives and spot, Hyperliquid perps and spot fee
    pages). Negative maker fees (rebates) are allowed.
    """

    model_config = _FROZEN

    enabled: bool = Field(description="Trade on (and read funding from) this venue.")
    collateral_frac: float = Field(
        ge=0.0, le=1.0, description="Share of initial equity deposited on the venue, fraction."
    )
    perp_maker_fee_bps: float = Field(ge=-10.0, le=100.0, description="Perp maker fee, bps.")
    perp_taker_fee_bps: float = Field(ge=0.0, le=100.0, description="Perp taker fee, bps.")
    spot_maker_fee_bps: float = Field(ge=-10.0, le=100.0, description="Spot maker fee, bps.")
    spot_taker_fee_bps: float = Field(ge=0.0, le=100.0, description="Spot taker fee, bps.")
    slippage_bps: float = Field(
        default=2.0, ge=0.0, le=500.0, description="Simulated fill slippage, bps."
    )
    perp_leverage: float = Field(
        default=3.0, ge=1.0, le=125.0, description="Leverage set on perp positions, ×."
    )
    rest_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="REST base URL override (testnet, a proxy); None = the venue's production URL.",
    )
    ws_url: str | None = Field(
        default=None,
        pattern=r"^wss?://\S+$",
        description="Websocket URL override; None = the venue's production URL.",
    )
    api_key: SecretStr | None = Field(default=None, description="API key (env/secrets only).")
    api_secret: SecretStr | None = Field(default=None, description="API secret (env/secrets).")
    api_passphrase: SecretStr | None = Field(
        default=None, description="API passphrase where the venue has one (env/secrets)."
    )

    @field_validator(*SECRET_FIELDS, mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: Any) -> Any:
        """An empty secret file or variable means "not set", never an empty credential."""
        if isinstance(value, str) and not value.strip():
            return None
        return value


# Base-tier fee schedules, bps. Hyperliquid's spot fees (4/7) are its spot schedule; the
# bundled data has no Hyperliquid spot market, so they only matter on a live venue.
VENUE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "binance": {
        "enabled": True,
        "collateral_frac": 0.5,
        "perp_maker_fee_bps": 2.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 10.0,
        "spot_taker_fee_bps": 10.0,
    },
    "bybit": {
        "enabled": True,
        "collateral_frac": 0.25,
        "perp_maker_fee_bps": 2.0,
        "perp_taker_fee_bps": 5.5,
        "spot_maker_fee_bps": 10.0,
        "spot_taker_fee_bps": 10.0,
    },
    "hyperliquid": {
        "enabled": True,
        "collateral_frac": 0.25,
        "perp_maker_fee_bps": 1.5,
        "perp_taker_fee_bps": 4.5,
        "spot_maker_fee_bps": 4.0,
        "spot_taker_fee_bps": 7.0,
    },
    # OKX regular tier (swap 0.02 %/0.05 %, spot 0.08 %/0.10 %).
    "okx": {
        "enabled": False,
        "collateral_frac": 0.0,
        "perp_maker_fee_bps": 2.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 8.0,
        "spot_taker_fee_bps": 10.0,
    },
    # Purple Flea publishes no fee schedule in the sources: conservative placeholders.
    "purpleflea": {
        "enabled": False,
        "collateral_frac": 0.0,
        "perp_maker_fee_bps": 5.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 10.0,
        "spot_taker_fee_bps": 10.0,
    },
    # dYdX v4 base tier (maker 0.01 %, taker 0.05 %); perps only, market data only live.
    "dydx": {
        "enabled": False,
        "collateral_frac": 0.0,
        "perp_maker_fee_bps": 1.0,
        "perp_taker_fee_bps": 5.0,
        "spot_maker_fee_bps": 0.0,
        "spot_taker_fee_bps": 0.0,
    },
}


def _default_venues() -> dict[str, VenueConfig]:
    return {name: VenueConfig(**VENUE_DEFAULTS[name]) for name in VENUE_NAMES}


class RiskConfig(BaseModel):
    """``[risk]``: pre-trade limits and drawdown circuit breakers (SEEDS.md, risk section)."""

    model_config = _FROZEN

    max_position_frac: float = Field(
        default=0.10, gt=0.0, le=1.0, description="Max |notional| per instrument / equity."
    )
    max_leverage: float = Field(
        default=2.0, gt=0.0, le=10.0, description="Max gross notional / equity, ×."
    )
    max_venue_frac: float = Field(
        default=0.30,
        gt=0.0,
        le=1.0,
        description="Max capital committed on one venue (spot holdings + perp margin) / equity.",
    )
    max_order_notional_usd: float = Field(
        default=10_000.0, gt=0.0, description="Max notional of a single order, USD."
    )
    daily_drawdown_frac: float = Field(
        default=0.05, gt=0.0, lt=1.0, description="Breaker: loss from the UTC day's open, fraction."
    )
    total_drawdown_frac: float = Field(
        default=0.10, gt=0.0, lt=1.0, description="Breaker: loss from the all-time high, fraction."
    )
    flatten_on_breaker: bool = Field(
        default=False, description="Close every position when a breaker trips (else only halt)."
    )
    margin_alert_frac: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="Alert (margin_low) when a venue's free margin / collateral falls below.",
    )

    @model_validator(mode="after")
    def _daily_within_total(self) -> RiskConfig:
        """The daily breaker must trip no later than the total one."""
        if self.daily_drawdown_frac > self.total_drawdown_frac:
            raise _FieldErrors(
                [
                    (
                        "daily_drawdown_frac",
                        f"must not exceed total_drawdown_frac ({self.daily_drawdown_frac} > "
                        f"{self.total_drawdown_frac})",
                    )
                ]
            )
        return self


class ExecutionConfig(BaseModel):
    """``[execution]``: rebalancing threshold and pair-order handling."""

    model_config = _FROZEN

    drift_frac: float = Field(
        default=0.008, gt=0.0, lt=1.0, description="Trade only when a leg is off target by more."
    )
    max_attempts: int = Field(
        default=2, ge=1, le=10, description="Attempts to complete a failed leg before unwinding."
    )
    leg_timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="Wait for one leg's outcome, seconds."
    )


class JournalConfig(BaseModel):
    """``[journal]``: the SQLite journal."""

    model_config = _FROZEN

    path: Path = Field(
        default=Path("runs/zerobeta.sqlite"),
        description="Journal file; relative paths are relative to the working directory.",
    )
    snapshot_every_s: int = Field(
        default=3600, gt=0, description="Equity snapshot interval, seconds (clock time)."
    )
    state_every_s: int = Field(
        default=86_400,
        gt=0,
        description="A strategy's changed state is journaled when it traded, else at most this "
        "often, seconds (clock time); the last state is always journaled at the end.",
    )
    overwrite: bool = Field(
        default=True,
        description="Replay: delete an existing journal first (true) or append (false); "
        "live runs always append.",
    )


class LoggingConfig(BaseModel):
    """``[logging]``: structured log output (see ``agent.logs``)."""

    model_config = _FROZEN

    level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info", description="Lowest level written."
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto = console on a terminal, JSON lines otherwise."
    )
    progress: bool = Field(default=True, description="Progress bar on a terminal during replay.")

    @field_validator("level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        """Accept ``INFO`` as well as ``info``."""
        return value.lower() if isinstance(value, str) else value


class StrategiesConfig(BaseModel):
    """``[strategies.<name>]``: one section per strategy, each owned by its package."""

    model_config = _FROZEN

    stat_arb: StatArbConfig = Field(
        default_factory=StatArbConfig, description="Cointegration pairs trading."
    )
    funding_harvester: FundingHarvesterConfig = Field(
        default_factory=FundingHarvesterConfig, description="Cash-and-carry funding harvest."
    )
    beta_hedger: BetaHedgerConfig = Field(
        default_factory=BetaHedgerConfig, description="Portfolio beta hedge on the BTC perp."
    )
    factor_neutral: FactorNeutralConfig = Field(
        default_factory=FactorNeutralConfig,
        description="Beta-, dollar- and factor-neutral long/short book over perps.",
    )
    cross_venue_arb: CrossVenueArbConfig = Field(
        default_factory=CrossVenueArbConfig, description="Cross-venue funding arbitrage."
    )
    funding_flip_monitor: FlipMonitorConfig = Field(
        default_factory=FlipMonitorConfig,
        description="Guardian closing funding positions once funding turns against them.",
    )


# --------------------------------------------------------------------------------------------
# The whole configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LoadContext:
    """What :func:`load_config` hands to ``settings_customise_sources`` for one load."""

    toml_path: Path | None
    env: Mapping[str, str]
    secrets_dir: Path | None
    pending: list[tuple[str, str]]


_LOAD_CONTEXT: ContextVar[_LoadContext | None] = ContextVar("zerobeta_config_load", default=None)


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
    )

    mode: Literal["paper", "live"] = Field(
        default="paper", description='"paper": simulated fills; "live": real orders.'
    )
    market_data: MarketDataConfig = Field(
        default_factory=MarketDataConfig, description="Market data source and replay window."
    )
    capital: CapitalConfig = Field(default_factory=CapitalConfig, description="Starting capital.")
    venues: dict[str, VenueConfig] = Field(
        default_factory=_default_venues, description="Per-venue settings, keyed by venue name."
    )
    risk: RiskConfig = Field(default_factory=RiskConfig, description="Risk limits and breakers.")
    execution: ExecutionConfig = Field(
        default_factory=ExecutionConfig, description="Order execution settings."
    )
    journal: JournalConfig = Field(default_factory=JournalConfig, description="SQLite journal.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Log output.")
    strategies: StrategiesConfig = Field(
        default_factory=StrategiesConfig, description="Per-strategy settings."
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
        ctx = _LOAD_CONTEXT.get()
        if ctx is None:
            return (init_settings,)
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _MappingEnvSource(settings_cls, ctx.env),
        ]
        if ctx.secrets_dir is not None:
            sources.append(
                NestedSecretsSettingsSource(
                    file_secret_settings,
                    secrets_dir=ctx.secrets_dir,
                    secrets_dir_missing="error",
                    secrets_prefix="",
                    secrets_nested_delimiter=NESTED_DELIMITER,
                )
            )
        if ctx.toml_path is not None:
            sources.append(_TomlSource(settings_cls, ctx.toml_path, ctx.pending))
        return tuple(sources)

    @field_validator("venues", mode="before")
    @classmethod
    def _fill_venue_defaults(cls, value: Any) -> Any:
        """Reject unknown venue names; fill each venue's unspecified keys from its defaults."""
        if not isinstance(value, Mapping):
            return value
        unknown = sorted(set(value) - set(VENUE_NAMES))
        if unknown:
            known = ", ".join(VENUE_NAMES)
            raise _FieldErrors([(str(name), f"unknown venue; known: {known}") for name in unknown])
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
            *_collateral_errors(self.venues),
            *_strategy_venue_errors(self.strategies, self.venues),
            *_live_mode_errors(self),
        ]
        if errors:
            raise _FieldErrors(errors)
        return self


def _collateral_errors(venues: Mapping[str, VenueConfig]) -> list[tuple[str, str]]:
    shares = {n: v.collateral_frac for n, v in sorted(venues.items()) if v.enabled}
    total = sum(shares.values())
    if total <= 1.0 + 1e-9:
        return []
    parts = " + ".join(f"{n} {f:g}" for n, f in shares.items())
    reason = f"collateral_frac of enabled venues sums to {total:g} > 1 ({parts})"
    return [("venues", reason)]


def _strategy_venue_errors(
    strategies: StrategiesConfig, venues: Mapping[str, VenueConfig]
) -> list[tuple[str, str]]:
    """Every venue a strategy names (``venue``, or each of ``venues``) must be a known,
    enabled venue with collateral."""
    errors: list[tuple[str, str]] = []
    for name in type(strategies).model_fields:
        section = getattr(strategies, name)
        if not getattr(section, "enabled", False):
            continue
        venue = getattr(section, "venue", None)
        if venue is not None:
            errors.extend(_venue_error(f"strategies.{name}.venue", venue, venues))
        listed = getattr(section, "venues", None)
        if listed is not None:
            errors.extend(_venue_list_errors(f"strategies.{name}.venues", listed, venues))
    return errors


def _venue_list_errors(
    path: str, listed: Sequence[str], venues: Mapping[str, VenueConfig]
) -> list[tuple[str, str]]:
    """A multi-venue strategy uses the listed venues that are enabled with collateral (a
    disabled one is skipped); unknown names are errors, and at least two must remain."""
    unknown = [v for v in listed if v not in venues]
    if unknown:
        return [(path, f"unknown venue(s) {', '.join(unknown)}; known: {', '.join(VENUE_NAMES)}")]
    usable = usable_venues(listed, venues)
    if len(usable) < 2:
        return [(path, f"needs at least 2 enabled venues with collateral, has {usable or 'none'}")]
    return []


def usable_venues(listed: Sequence[str], venues: Mapping[str, VenueConfig]) -> list[str]:
    """The listed venues that are enabled and hold collateral, in the listed order."""
    return [
        v for v in listed if v in venues and venues[v].enabled and venues[v].collateral_frac > 0
    ]


def _venue_error(path: str, venue: str, venues: Mapping[str, VenueConfig]) -> list[tuple[str, str]]:
    if venue not in venues:
        return [(path, f"unknown venue {venue!r}; known: {', '.join(VENUE_NAMES)}")]
    if not venues[venue].enabled:
        return [(path, f"venue {venue!r} is not enabled (venues.{venue}.enabled)")]
    if venues[venue].collateral_frac <= 0.0:
        return [(path, f"venue {venue!r} has no collateral (venues.{venue}.collateral_frac)")]
    return []


def _live_mode_errors(config: AgentConfig) -> list[tuple[str, str]]:
    if config.mode != "live":
        return []
    errors: list[tuple[str, str]] = []
    if config.market_data.source != "live":
        errors.append(("market_data.source", 'must be "live" when mode = "live" (real orders)'))
    for name, venue in sorted(config.venues.items()):
        if venue.enabled and name in MARKET_DATA_ONLY_VENUES:
            errors.append(
                (f"venues.{name}.enabled", f"{name} is market data only: it cannot trade live")
            )
            continue
        for field in LIVE_REQUIRED_SECRETS.get(name, ()):
            if venue.enabled and getattr(venue, field) is None:
                path = f"venues.{name}.{field}"
                errors.append(
                    (
                        path,
                        f'required when mode = "live": set {env_var_name(path)} or put it in '
                        f"the secrets directory as {secret_file_name(path)}",
                    )
                )
    return errors


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given_env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:  # pragma: no cover - AgentConfig is case-insensitive
            return dict(self._given_env)
        return {
            key.lower(): value
            for key, value in self._given_env.items()
            if not (self.env_ignore_empty and value == "")
        }


class _TomlSource(TomlConfigSettingsSource):
    """TOML source that reports syntax errors with their line and refuses written secrets.

    Raises
    ------
    ConfigError
        On a syntax error or non-UTF-8 content. Secrets found in the file are appended to
        ``pending`` so they are reported together with any validation errors.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], path: Path, pending: list[tuple[str, str]]
    ) -> None:
        super().__init__(settings_cls, toml_file=path)
        reason = (
            "secrets must come from the environment or a secrets directory, "
            f"not {path.name} (set {{env}})"
        )
        pending.extend(
            (key_path, reason.format(env=env_var_name(key_path)))
            for key_path in _secret_key_paths(self.toml_data)
        )

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError([(str(file_path), f"TOML syntax error: {err}")]) from err
        except UnicodeDecodeError as err:
            raise ConfigError([(str(file_path), f"not UTF-8 text: {err}")]) from err


def _secret_key_paths(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every key named like a secret field, at any depth."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key in SECRET_FIELDS:
            yield path
        elif isinstance(value, Mapping):
            yield from _secret_key_paths(value, f"{path}.")


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
    secrets_dir = _secrets_dir_from(secrets_dir, environ)
    early = _unknown_env_errors(environ)
    missing = _path_errors(path, secrets_dir)
    if missing:
        raise ConfigError([*early, *missing])
    ctx = _LoadContext(path, environ, secrets_dir, [])
    token = _LOAD_CONTEXT.set(ctx)
    try:
        config = AgentConfig(**dict(overrides or {}))
    except ValidationError as err:
        # ``from None``: a ValidationError's text can hold raw input values, secrets included.
        raise ConfigError([*early, *ctx.pending, *_validation_errors(err)]) from None
    except SettingsError as err:
        raise ConfigError([*early, _settings_error(err)]) from None
    finally:
        _LOAD_CONTEXT.reset(token)
    if early or ctx.pending:
        raise ConfigError([*early, *ctx.pending])
    return config


def _secrets_dir_from(secrets_dir: Path | None, environ: Mapping[str, str]) -> Path | None:
    if secrets_dir is not None:
        return secrets_dir
    from_env = next((v for k, v in environ.items() if k.upper() == SECRETS_DIR_ENV), "")
    return Path(from_env) if from_env else None


def _path_errors(path: Path | None, secrets_dir: Path | None) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if path is not None and not path.exists():
        errors.append((str(path), "config file not found"))
    elif path is not None and not path.is_file():
        errors.append((str(path), "config path is not a regular file"))
    if secrets_dir is not None and not secrets_dir.is_dir():
        errors.append((str(secrets_dir), "secrets directory not found (or not a directory)"))
    return errors


def _unknown_env_errors(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``ZEROBETA_*`` variables whose first segment is no top-level key (typos)."""
    known = set(AgentConfig.model_fields)
    errors: list[tuple[str, str]] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == SECRETS_DIR_ENV:
            continue
        head = upper.removeprefix(ENV_PREFIX).split(NESTED_DELIMITER)[0].lower()
        if head not in known:
            allowed = ", ".join(sorted(known))
            errors.append((name, f"unknown setting {head!r}; top-level keys: {allowed}"))
    return errors


def _validation_errors(err: ValidationError) -> list[tuple[str, str]]:
    """One ``(key_path, reason)`` per pydantic error; cross-field errors expanded."""
    out: list[tuple[str, str]] = []
    for item in err.errors(include_url=False, include_input=False):
        loc = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, _FieldErrors):
            out.extend((_join(loc + tuple(rel.split("."))), why) for rel, why in cause.errors)
        else:
            out.append((_join(loc) or "(top level)", _reason(item["type"], item["msg"], loc)))
    return out


def _settings_error(err: SettingsError) -> tuple[str, str]:
    """pydantic-settings could not decode a value (a complex value that is not JSON)."""
    text = str(err)
    match = re.search(r'field "(\w+)"', text)
    field = match.group(1) if match else "(unknown)"
    where = "secrets directory" if "Secrets" in text else f"environment ({env_var_name(field)})"
    return field, f"value from the {where} is not valid JSON"


def _join(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def _reason(kind: str, msg: str, loc: tuple[str | int, ...]) -> str:
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    return msg.removeprefix("Value error, ")


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    """Field names of the model at ``parent`` (a loc into AgentConfig), [] if not a model."""
    node: Any = AgentConfig
    for part in parent:
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            node = field.annotation if field is not None else None
        elif get_origin(node) is dict:
            node = get_args(node)[1]
        else:
            return []
    if isinstance(node, type) and issubclass(node, BaseModel):
        return sorted(node.model_fields)
    return []


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
