"""systemd's notification protocol: READY once trading, watchdog pings while healthy.

Under ``Type=notify`` systemd passes a datagram socket in ``$NOTIFY_SOCKET`` (a path, or an
abstract-namespace name written with a leading ``@``) and, with ``WatchdogSec=``, the watchdog
interval in ``$WATCHDOG_USEC`` (microseconds; ``$WATCHDOG_PID`` names the process it is meant
for). The service sends newline-separated ``KEY=value`` assignments: ``READY=1`` once it is up,
``STATUS=...`` free text for ``systemctl status``, ``STOPPING=1`` when it begins to stop, and
``WATCHDOG=1`` at least once per interval — systemd kills and restarts a service whose pings
stop. Source: sd_notify(3) and systemd.service(5), "WatchdogSec=",
https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html .

:func:`watchdog_pings` runs on the agent's own event loop, so a blocked loop stops the pings
by itself; it also skips a ping while ``healthy()`` is False (no step or mark for too long), so
systemd restarts an agent that is alive but no longer trading. Outside systemd (no
``$NOTIFY_SOCKET``) :meth:`SystemdNotifier.from_env` returns None and nothing is sent.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Mapping

import structlog

log = structlog.get_logger("zerobeta.systemd")


class SystemdNotifier:
    """Sends sd_notify messages to one socket.

    Parameters
    ----------
    address : str
        ``$NOTIFY_SOCKET``: a filesystem path, or ``@name`` for the abstract namespace.
    watchdog_interval_s : float | None
        ``$WATCHDOG_USEC`` in seconds when the watchdog is on for this process, else None.
    """

    def __init__(self, address: str, watchdog_interval_s: float | None = None) -> None:
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_interval_s = watchdog_interval_s

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SystemdNotifier | None:
        """The notifier systemd asked for, or None when not started with ``Type=notify``.

        A ``$WATCHDOG_PID`` naming another process (the variable was inherited) turns the
        watchdog off for this one, as sd_watchdog_enabled(3) does.
        """
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        interval_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            interval_s = int(usec) / 1e6
        return cls(address, interval_s)

    def notify(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines (``notify(READY="1", STATUS="trading")``); False, logged,
        when the socket cannot take it (the agent keeps running)."""
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, self._address)
        except OSError as error:
            log.warning("systemd_notify_failed", error=str(error))
            return False
        return True

    def ready(self, status: str) -> bool:
        """The agent is trading (``READY=1``) with a one-line status."""
        return self.notify(READY="1", STATUS=status)

    def stopping(self, status: str) -> bool:
        """The agent begins to stop (``STOPPING=1``)."""
        return self.notify(STOPPING="1", STATUS=status)

    def ping(self) -> bool:
        """One watchdog ping (``WATCHDOG=1``)."""
        return self.notify(WATCHDOG="1")


async def watchdog_pings(
    notifier: SystemdNotifier,
    healthy: Callable[[], bool],
    sleep: Callable[[float], Awaitable[object]],
    done: Callable[[], bool] = lambda: False,
) -> None:
    """Ping twice per watchdog interval while ``healthy()``, until ``done()`` (or cancelled).
    Returns at once when the watchdog is off. ``sleep`` waits the given seconds
    (``asyncio.sleep``, or a wait that returns early when the run ends)."""
    interval_s = notifier.watchdog_interval_s
    if interval_s is None:
        return
    while not done():
        if healthy():
            notifier.ping()
        else:
            log.warning("watchdog_ping_withheld", reason="agent unhealthy")
        await sleep(interval_s / 2)
