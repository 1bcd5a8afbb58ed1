"""Structured logging: structlog configured once, JSON lines off a terminal.

Every line is one event: a snake_case past-tense ``event`` name (``order_filled``) plus fields
with units in their names (``latency_ms``). Off a terminal (or with ``fmt="json"``) each line
is one JSON object whose first keys are ``ts`` (ISO 8601 UTC), ``level``, ``logger`` and
``event``; exceptions logged with ``exc_info`` become a structured ``exception`` field. On a
terminal (``fmt="auto"``) or with ``fmt="console"`` lines are rendered for people.

Secrets never reach the output: :func:`redact_secrets` replaces every value whose key names a
credential (``api_key``, ``secret``, ``passphrase``, ``token``, ``signature`` ...) and every
pydantic ``SecretStr``/``SecretBytes`` value, at any nesting depth, with ``**********``.

Records from the standard library's ``logging`` (httpx, websockets, asyncio) at WARNING or
above go through the same redaction and renderer, so the stream stays one format.

Numbers are JSON numbers: a ``Decimal`` field is written as a float (the journal keeps exact
values; the log is for reading). Under systemd (``JOURNAL_STREAM`` names the log stream) each
line starts with its syslog priority, ``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>``
debug (sd-daemon(3)), which journald strips and stores, so ``journalctl -p warning`` works;
``journalctl -o cat`` shows the bare JSON. On a terminal in console format, lines are printed
through one ``rich`` console (:func:`terminal_console`), which a progress bar shares, so the
bar stays below the lines instead of being torn by them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from time import time_ns
from typing import TYPE_CHECKING, Any, TextIO

import structlog
from pydantic import SecretBytes, SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

if TYPE_CHECKING:
    from rich.console import Console

REDACTED = "**********"
SENSITIVE_KEY_PARTS = (
    "secret",
    "api_key",
    "apikey",
    "passphrase",
    "password",
    "token",
    "signature",
    "authorization",
)
LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
FORMATS = ("auto", "json", "console")
_FIRST_KEYS = ("ts", "level", "logger", "event")
_HANDLER_MARK = "_zerobeta_handler"
_STDLIB_MIN_LEVEL = logging.WARNING
SYSLOG_PRIORITIES: Mapping[str, int] = {
    "critical": 2,
    "exception": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "info": 6,
    "debug": 7,
}
"""sd-daemon(3) line prefixes by structlog method / level name (``<4>`` = SD_WARNING)."""
_console: Console | None = None
_json = False
_level_no = logging.INFO


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog (and route stdlib ``logging`` through it) for the whole process.

    Parameters
    ----------
    level : str
        Lowest level written: ``debug``, ``info``, ``warning``, ``error`` or ``critical``
        (case-insensitive).
    fmt : str
        ``json`` (one JSON object per line), ``console`` (human-readable) or ``auto``
        (console when ``stream`` is a terminal, JSON otherwise).
    stream : TextIO or None
        Where lines go; None = ``sys.stderr``.

    Raises
    ------
    ValueError
        If ``level`` or ``fmt`` is not one of the values above.

    Notes
    -----
    Calling it again replaces the previous configuration (tests do); loggers are not cached,
    so loggers created earlier follow the new configuration.
    """
    level_no = _level_number(level)
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    global _console, _json, _level_no  # one logging configuration per process
    out = sys.stderr if stream is None else stream
    tty = _is_tty(out)
    as_json = fmt == "json" or (fmt == "auto" and not tty)
    _json = as_json
    _level_no = level_no
    shared = _shared_processors()
    final = _final_processors(as_json, colors=tty)
    journald = is_journal_stream(out)
    if journald:
        final = [*final, _syslog_prefix]
    _console = _rich_console(out) if tty and not as_json else None
    # JSON lines (every line of a service or replay): the same steps fused in one processor
    chain = [JsonLineRenderer(syslog_prefix=journald)] if as_json else [*shared, *final]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *chain],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=_NamedWriteLoggerFactory(out, _console),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(out, shared, final, max(level_no, _STDLIB_MIN_LEVEL))


def info_enabled() -> bool:
    """True when the last :func:`configure_logging` lets info lines through: callers that
    build a line's fields (number conversions, ids) skip the work when it would be dropped."""
    return _level_no <= logging.INFO


def debug_enabled() -> bool:
    """True when the last :func:`configure_logging` lets debug lines through: a hot path's
    debug line (one per strategy cycle) is skipped before structlog binds a logger for it."""
    return _level_no <= logging.DEBUG


def is_json_logging() -> bool:
    """True when the last :func:`configure_logging` chose JSON lines."""
    return _json


def terminal_console() -> Console | None:
    """The ``rich`` console log lines are printed through (console format on a terminal),
    else None: a progress bar drawn on it stays below the log lines."""
    return _console


def get_logger(name: str) -> Any:
    """A structlog logger whose lines carry ``logger=name`` (``zerobeta.execution``).

    Returns
    -------
    structlog BoundLogger (lazy proxy)
        Use ``log.info("event_name", field_unit=value)``; ``log.bind(...)`` once per scope.
    """
    return structlog.get_logger(name)


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace credential values with ``**********``.

    A value is replaced when its key contains one of :data:`SENSITIVE_KEY_PARTS`
    (case-insensitive) or when it is a pydantic ``SecretStr``/``SecretBytes``; dicts, lists
    and tuples are searched recursively. ``None`` stays ``None`` (nothing to hide) and the
    ``event`` name is never touched.
    """
    return _redacted_mapping(event_dict)


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), Decimal})
"""Value types that hold no nested value and are no secret type (exact types: a subclass
takes the full path); under a key that is not sensitive they are returned as they are,
without the checks below (most fields of most lines: ids, numbers, names)."""


def _redacted_mapping(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    plain, sensitive = _PLAIN_TYPES, _is_sensitive_name
    if _names_no_credential(tuple(mapping)):
        # the common line: only the values that can nest (dicts, lists, objects) are searched
        out = dict(mapping)
        for key, value in mapping.items():
            if type(value) not in plain:
                out[key] = _redacted(key, value)
        return out
    out = {}
    for key, value in mapping.items():
        # the common field first: a plain value (or None) under a key that names no
        # credential is kept as it is (what _redacted returns for it; ``event`` names none)
        if type(value) in plain and (
            value is None or not (isinstance(key, str) and sensitive(key))
        ):
            out[key] = value
        else:
            out[key] = _redacted(key, value)
    return out


_SAFE_KEYS: set[tuple[Any, ...]] = set()
"""Key tuples of mappings seen with no key naming a credential: a line's fields are the same
keys in the same order every time it is written (the answer depends on the keys alone:
:data:`SENSITIVE_KEY_PARTS` is a constant)."""
_SAFE_KEYS_MAX = 4096


def _names_no_credential(keys: tuple[Any, ...]) -> bool:
    """True when every key is a ``str`` naming no credential (cached per key tuple)."""
    if keys in _SAFE_KEYS:
        return True
    if not all(isinstance(key, str) and not _is_sensitive_name(key) for key in keys):
        return False
    if len(_SAFE_KEYS) >= _SAFE_KEYS_MAX:
        _SAFE_KEYS.clear()  # bounded: a long run logs many shapes of nested mappings
    _SAFE_KEYS.add(keys)
    return True


def _redacted(key: object, value: Any) -> Any:
    if key != "event" and value is not None and _is_sensitive_key(key):
        return REDACTED
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    if kind is dict:  # the exact containers first: no abstract-class checks for them
        return _redacted_mapping(value)
    if kind is list or kind is tuple:
        return [_redacted(None, v) for v in value]
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, Mapping):
        return _redacted_mapping(value)
    if isinstance(value, list | tuple):
        return [_redacted(None, v) for v in value]
    return value


def _is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and _is_sensitive_name(key)


@functools.lru_cache(maxsize=4096)
def _is_sensitive_name(key: str) -> bool:
    """Cached: log keys repeat on every line, and this runs for every field of every line."""
    lowered = key.lower()
    return any(part in lowered for part in SENSITIVE_KEY_PARTS)


def _level_number(level: str) -> int:
    try:
        return LEVELS[level.lower()]
    except (KeyError, AttributeError) as err:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}") from err


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def is_journal_stream(stream: TextIO) -> bool:
    """True when ``stream`` is the journald stream systemd named in ``JOURNAL_STREAM``
    (``<device>:<inode>``, sd-daemon(3)); a child whose stream was redirected elsewhere
    inherits the variable but does not match."""
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        stat = os.fstat(stream.fileno())
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (AttributeError, OSError, ValueError):  # no fd (StringIO), closed, malformed
        return False


def _syslog_prefix(_logger: WrappedLogger, method: str, rendered: Any) -> Any:
    """Last processor under journald: ``<N>`` + the rendered line (N = syslog priority)."""
    return f"<{SYSLOG_PRIORITIES.get(method, 6)}>{rendered}"


def _rich_console(out: TextIO) -> Console:
    from rich.console import Console  # a terminal only: off the import path of services

    return Console(file=out, soft_wrap=True, highlight=False)


def json_processors() -> list[Processor]:
    """The processors a JSON line goes through after ``merge_contextvars``, one by one (the
    chain :class:`JsonLineRenderer` does in one call; stdlib records take it as it is)."""
    return [*_shared_processors(), *_final_processors(True, colors=False)]


def _shared_processors() -> list[Processor]:
    """Processors for structlog and stdlib events alike, before rendering."""
    return [
        structlog.processors.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _stack_info_renderer(),
        redact_secrets,
    ]


def _final_processors(as_json: bool, *, colors: bool) -> list[Processor]:
    if as_json:
        return [
            _exception_renderer(),
            _first_keys,
            structlog.processors.JSONRenderer(default=_json_default, ensure_ascii=False),
        ]
    return [structlog.dev.ConsoleRenderer(colors=colors, timestamp_key="ts")]


def _stack_info_renderer() -> structlog.processors.StackInfoRenderer:
    # The stack starts at the caller's frame: frames of structlog and of this module (the
    # fused JsonLineRenderer) are skipped.
    return structlog.processors.StackInfoRenderer(additional_ignores=[__name__])


def _exception_renderer() -> structlog.processors.ExceptionRenderer:
    # Frame locals can hold credentials: tracebacks carry code locations only.
    return structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )


class JsonLineRenderer:
    """structlog's processor chain for JSON lines, after ``merge_contextvars``, in one call.

    It does what the processors of :func:`_shared_processors` and the JSON ones of
    :func:`_final_processors` do, in their order, so a line is the same text: the level
    (``warn`` → ``warning``, ``exception`` → ``error``), the logger's name, ``ts`` (ISO 8601
    UTC, ``Z``), a ``stack`` for ``stack_info=True``, :func:`redact_secrets`, an
    ``exception`` for ``exc_info``, ``ts``/``level``/``logger``/``event`` first, one JSON
    object (``Decimal`` as a number, non-ASCII kept), under journald the ``<N>`` priority
    prefix. One call per line instead of eight, one reused JSON encoder instead of one per
    line (the replay writes some 30,000 lines), the date and time of day of ``ts`` formatted
    once per second (:meth:`_timestamp`).

    Parameters
    ----------
    syslog_prefix : bool
        Start each line with its sd-daemon(3) priority (the stream is journald's).
    """

    def __init__(self, *, syslog_prefix: bool = False) -> None:
        self._syslog_prefix = syslog_prefix
        self._stack_info = _stack_info_renderer()
        self._exceptions = _exception_renderer()
        self._encode = json.JSONEncoder(default=_json_default, ensure_ascii=False).encode
        self._second: tuple[int | None, str] = (None, "")
        """The last whole second stamped (epoch s, UTC) and its ``YYYY-MM-DDTHH:MM:SS``
        (one tuple: a thread sees both or neither of a new second's)."""

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        # structlog.processors.add_log_level
        if method == "warn":
            event_dict["level"] = "warning"
        elif method == "exception":
            event_dict["level"] = "error"
        else:
            event_dict["level"] = method
        event_dict = _add_logger_name(logger, method, event_dict)
        event_dict["ts"] = self._timestamp()
        if "stack_info" in event_dict:  # StackInfoRenderer pops it, adds a stack when true
            event_dict = self._stack_info(logger, method, event_dict)
        event_dict = redact_secrets(logger, method, event_dict)
        if "exc_info" in event_dict:  # ExceptionRenderer pops it, renders an exception
            event_dict = self._exceptions(logger, method, event_dict)
        line: str = self._encode(_first_keys(logger, method, event_dict))
        return _syslog_prefix(logger, method, line) if self._syslog_prefix else line

    def _timestamp(self) -> str:
        """The wall clock now as ``TimeStamper(fmt="iso", utc=True)`` writes it:
        ``datetime.now(tz=UTC).isoformat()`` with ``Z`` for ``+00:00``, microseconds
        (``.ffffff``) omitted when zero. The same clock, truncated to the microsecond as
        ``datetime.now`` does; the date and time of day (``datetime.isoformat``, a few µs) are
        formatted again only when the second changes."""
        second, microsecond = divmod(time_ns() // 1000, 1_000_000)
        known, text = self._second
        if second != known:
            # the text up to the seconds: what isoformat writes before "+00:00"
            text = datetime.fromtimestamp(second, tz=UTC).isoformat()[:-6]
            self._second = (second, text)
        return f"{text}.{microsecond:06d}Z" if microsecond else text + "Z"


def _route_stdlib(
    stream: TextIO, shared: list[Processor], final: list[Processor], level: int
) -> None:
    """Send stdlib log records at ``level`` and above through the same processors."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.setLevel(level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        )
    )
    root.addHandler(handler)


def _add_logger_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    name = record.name if record is not None else getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


def _first_keys(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Put ``ts``, ``level``, ``logger``, ``event`` first so lines read well in a pager."""
    first = {k: event_dict[k] for k in _FIRST_KEYS if k in event_dict}
    return {**first, **event_dict}  # the first keys keep their places, the rest follow in order


def _json_default(value: Any) -> Any:
    """JSON for the non-JSON types that appear in fields: Decimal and Path as text, etc."""
    if isinstance(value, Decimal):
        return float(value)  # a number in the log; the journal keeps the exact value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


class _NamedWriteLogger(structlog.WriteLogger):
    """``WriteLogger`` that remembers the name it was created with."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _ConsoleLogger:
    """Prints rendered lines through a ``rich`` console (above its live progress bar)."""

    def __init__(self, console: Console, name: str) -> None:
        self._console = console
        self.name = name

    def msg(self, message: str) -> None:
        from rich.text import Text

        self._console.print(Text.from_ansi(message))

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class _NamedWriteLoggerFactory:
    """Logger factory: ``structlog.get_logger("zerobeta.x")`` → a named write logger (or a
    console logger when lines go through a ``rich`` console), one per name: structlog asks
    for one on every line (loggers are not cached on first use, so that a new
    :func:`configure_logging`, with a new factory, applies to them)."""

    def __init__(self, file: TextIO, console: Console | None = None) -> None:
        self._file = file
        self._console = console
        self._by_name: dict[str, _NamedWriteLogger | _ConsoleLogger] = {}

    def __call__(self, *args: Any) -> _NamedWriteLogger | _ConsoleLogger:
        name = str(args[0]) if args and args[0] is not None else "zerobeta"
        logger = self._by_name.get(name)
        if logger is None:
            logger = self._by_name[name] = (
                _NamedWriteLogger(self._file, name)
                if self._console is None
                else _ConsoleLogger(self._console, name)
            )
        return logger
