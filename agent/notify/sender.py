"""The boundary to apprise (https://github.com/caronc/apprise): one notification to every
configured URL, and the redaction that keeps those URLs out of every log line and message.

apprise turns one URL list into Telegram, Slack, Discord, e-mail, ntfy, generic JSON webhooks
and a hundred more services (URL forms: https://github.com/caronc/apprise/wiki). It is
synchronous (``requests``/``smtplib``), so :class:`AppriseSender` runs each call in a worker
thread of its own — one thread: a hung service delays only later notifications, never the
event loop nor the default executor the strategies' refits run in — while the caller bounds
the wait (``asyncio.timeout``); the thread itself ends within apprise's socket timeouts
(connect and read, 4 s each by default). apprise keeps nothing on disk (memory storage mode).

The URLs carry tokens. :class:`UrlRedactor` replaces each URL, and every part of one that
may be secret (path segments, user, password, host, query values: any piece of 4 characters
or more), with ``**********``; :class:`AppriseSender` puts it on the log records of apprise
and urllib3 (whose messages can hold a service address), on the title and body it sends,
and the dispatcher on the errors it logs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Protocol
from urllib.parse import unquote

from pydantic import SecretStr

from agent.errors import ConfigError
from agent.notify.notice import Severity

REDACTED: Final = "**********"
MIN_SECRET_CHARS: Final = 4
"""Shorter pieces of a URL (``/``, a 3-letter word) are not looked for in text."""
REDACTED_LOGGERS: Final = (
    "apprise",  # apprise.logger.LOGGER_NAME: every apprise module logs through it
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)
"""Loggers whose records may carry a notification URL (a filter applies to its own logger)."""

_SEPARATORS: Final = re.compile(r"[/:@?&=#,;\s]+")
_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,15})://")


class NoticeSender(Protocol):
    """Delivers one rendered notice (:class:`AppriseSender`; tests plug in fakes)."""

    def redact(self, text: str) -> str:
        """``text`` without anything secret the sender knows of."""
        ...

    async def send(self, title: str, body: str, severity: Severity) -> bool:
        """Send to every service; True when each one accepted it. May wait indefinitely: the
        caller bounds the wait."""
        ...

    def shutdown(self) -> None:
        """Release threads and log filters (no wait)."""
        ...


class UrlRedactor:
    """Replaces notification URLs and their secret-looking parts in a text (see the module
    docstring).

    Parameters
    ----------
    urls : Sequence[str]
        The URLs as configured.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        pieces: set[str] = set()
        for url in urls:
            for form in {url, unquote(url)}:
                rest = form.partition("://")[2]
                pieces.update((form, rest))
                pieces.update(p for p in _SEPARATORS.split(rest) if len(p) >= MIN_SECRET_CHARS)
        ordered = sorted((p for p in pieces if p), key=len, reverse=True)  # longest first
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        """``text`` with every URL piece replaced by ``**********``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


class _RedactingFilter(logging.Filter):
    """Rewrites a log record's message (and traceback) through a :class:`UrlRedactor`."""

    def __init__(self, redact: UrlRedactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            record.exc_info = None
            record.exc_text = None
        record.msg = self._redact(message)
        record.args = None
        return True


def url_scheme(url: str) -> str:
    """The scheme of an apprise URL (``tgram``), or ``"?"``: safe to log, never a secret."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else "?"


class AppriseSender:
    """Sends notices to every URL of ``[alerts] urls`` through one :class:`apprise.Apprise`.

    Parameters
    ----------
    urls : SecretStr
        The URLs separated by whitespace.

    Attributes
    ----------
    schemes : tuple[str, ...]
        Each URL's scheme, in order (``json``, ``tgram``): what may be logged about them.

    Raises
    ------
    agent.errors.ConfigError
        On ``alerts.urls`` when apprise cannot use a URL (an unknown service, a missing
        token), naming the URL by position and scheme only.
    """

    def __init__(self, urls: SecretStr) -> None:
        listed = urls.get_secret_value().split()
        self.redact = UrlRedactor(listed)
        self.schemes = tuple(url_scheme(u) for u in listed)
        self._filter = _RedactingFilter(self.redact)
        for name in REDACTED_LOGGERS:  # before apprise parses a URL: it logs bad ones
            logging.getLogger(name).addFilter(self._filter)
        # Imported here, where a sender is built (a run with ``[alerts] urls``): apprise loads
        # its hundred plugins, which no other run needs.
        import apprise

        asset = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)
        self._apprise: apprise.Apprise = apprise.Apprise(asset=asset)
        self._notify_types = {
            Severity.INFO: apprise.NotifyType.INFO,
            Severity.WARNING: apprise.NotifyType.WARNING,
            Severity.ERROR: apprise.NotifyType.FAILURE,
        }
        self._executor: ThreadPoolExecutor | None = None
        self._shut = False
        unusable = [(i, url_scheme(u)) for i, u in enumerate(listed, 1) if not self._add(u)]
        if unusable:
            self.shutdown()
            which = ", ".join(f"{i} ({scheme}://…)" for i, scheme in unusable)
            reason = (
                f"apprise cannot send to URL {which} of {len(listed)}: an unknown service or "
                "a missing part (URL forms: https://github.com/caronc/apprise/wiki)"
            )
            raise ConfigError([("alerts.urls", reason)])
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zerobeta-alerts")

    def _add(self, url: str) -> bool:
        try:
            return bool(self._apprise.add(url))
        except Exception:  # noqa: BLE001 - its text may hold the URL: reported as unusable
            return False

    async def send(self, title: str, body: str, severity: Severity) -> bool:
        """One notification to every URL, from the sender's worker thread; True when every
        service accepted it. The title and body are redacted first."""
        call = functools.partial(
            self._apprise.notify,
            body=self.redact(body),
            title=self.redact(title),
            notify_type=self._notify_types[severity],
        )
        if self._executor is None or self._shut:
            raise RuntimeError("AppriseSender.send after shutdown")
        loop = asyncio.get_running_loop()
        return bool(await loop.run_in_executor(self._executor, call))

    def shutdown(self) -> None:
        """Stop the worker thread without waiting: a send still in progress ends within
        apprise's socket timeouts, and the log filters are removed after it (it may still
        log)."""
        if self._shut:
            return
        self._shut = True
        if self._executor is None:
            self._remove_filters()
            return
        self._executor.submit(self._remove_filters)
        self._executor.shutdown(wait=False, cancel_futures=False)

    def _remove_filters(self) -> None:
        for name in REDACTED_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)
