"""Where :func:`agent.config.load_config` reads from, and how its problems are reported.

The environment, secrets-directory and TOML sources (priorities in :mod:`agent.config`) and
the one load they serve (:class:`LoadContext`, made current by :func:`loading` and turned into
pydantic-settings sources by :func:`settings_sources`), the naming of environment variables
and secret files, and the turning of every problem found (missing paths, unknown variables,
pydantic and pydantic-settings errors) into the ``(key_path, reason)`` pairs of a
:class:`~agent.errors.ConfigError`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
    TomlConfigSettingsSource,
)

from agent.config.sections import SECRET_FIELDS, SECRET_KEY_PATHS, FieldErrors
from agent.errors import ConfigError

ENV_PREFIX = "ZEROBETA_"
NESTED_DELIMITER = "__"
SECRETS_DIR_ENV = f"{ENV_PREFIX}SECRETS_DIR"


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


@dataclass(frozen=True, slots=True)
class LoadContext:
    """What one :func:`~agent.config.load_config` reads: the TOML file, the environment and
    the secrets directory; ``pending`` collects problems the sources find (secrets written in
    the file) to be reported with the validation errors."""

    toml_path: Path | None
    env: Mapping[str, str]
    secrets_dir: Path | None
    pending: list[tuple[str, str]]


_LOAD_CONTEXT: ContextVar[LoadContext | None] = ContextVar("zerobeta_config_load", default=None)


def config_dir() -> Path | None:
    """The folder of the TOML file of the current load (absolute), or None outside
    :func:`loading` or when the load reads no file. Strategy classes named in the file are
    also looked for there."""
    ctx = _LOAD_CONTEXT.get()
    if ctx is None or ctx.toml_path is None:
        return None
    return ctx.toml_path.resolve().parent


@contextmanager
def loading(ctx: LoadContext) -> Iterator[LoadContext]:
    """Make ``ctx`` the current load while the block runs (the settings model is built inside
    it, so :func:`settings_sources` reads ``ctx``); restored on exit, also on error."""
    token = _LOAD_CONTEXT.set(ctx)
    try:
        yield ctx
    finally:
        _LOAD_CONTEXT.reset(token)


def settings_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources of ``settings_cls``, highest priority first: the keyword arguments, then,
    inside :func:`loading`, the environment, the secrets directory and the TOML file of the
    current load (outside it only the keyword arguments: direct construction is hermetic).

    Parameters
    ----------
    settings_cls : type[BaseSettings]
        The root settings model (``AgentConfig``).
    init_settings, file_secret_settings : PydanticBaseSettingsSource
        pydantic-settings' own keyword-argument and secrets-directory sources.
    """
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


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given_env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:  # pragma: no cover - AgentConfig is case-insensitive
            return dict(self._given_env)
        # Sorted by name (a stable sort: the same winner as before when two variables differ
        # only in case), so sections named only in the environment come in a fixed order.
        items = sorted(self._given_env.items(), key=lambda item: item[0].lower())
        return {
            key.lower(): value
            for key, value in items
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
    """Dotted paths of every key named like a secret field, at any depth, and of every
    other secret (``alerts.urls``)."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key in SECRET_FIELDS or path in SECRET_KEY_PATHS:
            yield path
        elif isinstance(value, Mapping):
            yield from _secret_key_paths(value, f"{path}.")


def secrets_dir_from(secrets_dir: Path | None, environ: Mapping[str, str]) -> Path | None:
    """``secrets_dir`` if given, else ``$ZEROBETA_SECRETS_DIR`` from ``environ``, else None."""
    if secrets_dir is not None:
        return secrets_dir
    from_env = next((v for k, v in environ.items() if k.upper() == SECRETS_DIR_ENV), "")
    return Path(from_env) if from_env else None


def path_errors(path: Path | None, secrets_dir: Path | None) -> list[tuple[str, str]]:
    """A config file or secrets directory that is given but missing (or of the wrong type)."""
    errors: list[tuple[str, str]] = []
    if path is not None and not path.exists():
        errors.append((str(path), "config file not found"))
    elif path is not None and not path.is_file():
        errors.append((str(path), "config path is not a regular file"))
    if secrets_dir is not None and not secrets_dir.is_dir():
        errors.append((str(secrets_dir), "secrets directory not found (or not a directory)"))
    elif secrets_dir is not None:
        errors.extend(_unreadable_secrets(secrets_dir))
    return errors


def _unreadable_secrets(secrets_dir: Path) -> list[tuple[str, str]]:
    """The secrets directory if it cannot be listed, else each entry in it (not hidden) that
    cannot be read: pydantic-settings would take an unlistable directory for an empty one and
    fail on an unreadable file with a bare ``PermissionError``."""
    try:
        entries = sorted(p for p in secrets_dir.iterdir() if not p.name.startswith("."))
    except OSError as err:
        return [(str(secrets_dir), f"secrets directory cannot be read: {err.strerror}")]
    errors: list[tuple[str, str]] = []
    for entry in entries:
        if entry.is_dir():
            continue
        try:
            with entry.open("rb"):
                pass
        except OSError as err:
            errors.append((str(entry), f"secret file cannot be read: {err.strerror}"))
    return errors


def unknown_env_errors(environ: Mapping[str, str], root: type[BaseModel]) -> list[tuple[str, str]]:
    """``ZEROBETA_*`` variables whose first segment is no top-level key of ``root`` (typos)."""
    known = set(root.model_fields)
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


def validation_errors(
    err: ValidationError, root: type[BaseModel], prefix: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """One ``(key_path, reason)`` per pydantic error; cross-field errors expanded.

    Parameters
    ----------
    err : ValidationError
        Raised by validating ``root``.
    root : type[BaseModel]
        The model validated (it names the keys allowed where a key is unknown).
    prefix : tuple[str, ...]
        Key path of ``root`` in ``agent.toml`` (``("stat_arb",)`` for a strategy section
        validated on its own); the paths returned start with it.
    """
    out: list[tuple[str, str]] = []
    for item in err.errors(include_url=False, include_input=False):
        loc = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, FieldErrors):
            out.extend(
                (_join(prefix + loc + tuple(rel.split("."))), why) for rel, why in cause.errors
            )
        else:
            path = _join(prefix + loc) or "(top level)"
            out.append((path, _reason(item["type"], item["msg"], loc, root)))
    return out


def unknown_key_reason(model: type[BaseModel]) -> str:
    """Why a key that is no field of ``model`` is refused, naming the keys allowed there
    (the reason pydantic's own unknown-key errors get)."""
    return _unknown_key(sorted(model.model_fields))


def _unknown_key(allowed: list[str]) -> str:
    return "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")


def settings_error(err: SettingsError) -> tuple[str, str]:
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


def _reason(kind: str, msg: str, loc: tuple[str | int, ...], root: type[BaseModel]) -> str:
    if kind == "extra_forbidden":
        return _unknown_key(_allowed_keys(loc[:-1], root))
    if kind == "missing":
        return "required key is missing"
    return msg.removeprefix("Value error, ")


def _allowed_keys(parent: tuple[str | int, ...], root: type[BaseModel]) -> list[str]:
    """Field names of the model at ``parent`` (a loc into ``root``), [] if not a model."""
    node: Any = root
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
