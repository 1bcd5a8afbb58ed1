"""A real HTTP server on 127.0.0.1 for apprise's generic JSON webhook (``json://host:port/path``).

apprise posts with ``requests`` (not httpx), so respx cannot see it: the tests point a
``json://`` URL at this server instead. apprise's JSON payload
(https://github.com/caronc/apprise/wiki/Notify_Custom_JSON): ``{"version": "1.0", "title": ...,
"message": ..., "type": "info" | "success" | "warning" | "failure", "attachments": [...]}``.

The server answers every request with ``status``; with ``hang`` it answers nothing until
:attr:`WebhookServer.release` is set (a notification service that never answers). Each request
is put on :attr:`WebhookServer.received` as it arrives, before it is answered.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

_HEAD_END = b"\r\n\r\n"
_REASONS = {200: "OK", 500: "Internal Server Error"}


@dataclass(frozen=True, slots=True)
class Received:
    """One request: its path (with the URL's token) and its JSON body."""

    path: str
    payload: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.payload["title"])

    @property
    def message(self) -> str:
        return str(self.payload["message"])

    @property
    def kind(self) -> str:
        """The alert kind, the last word of a zerobeta notification title."""
        return self.title.rsplit(" ", 1)[-1]


class WebhookServer:
    """``async with WebhookServer() as server``: listening on 127.0.0.1 (a free port)."""

    def __init__(self, *, status: int = 200, hang: bool = False) -> None:
        self.status = status
        self.hang = hang
        self.received: asyncio.Queue[Received] = asyncio.Queue()
        self.release = asyncio.Event()
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._server: asyncio.Server | None = None
        self.port = 0

    def url(self, token: str) -> str:
        """An apprise URL posting to this server at ``/hook/<token>``."""
        return f"json://127.0.0.1:{self.port}/hook/{token}"

    def received_so_far(self) -> list[Received]:
        """Every request received and not taken yet (the queue is emptied)."""
        out: list[Received] = []
        while not self.received.empty():
            out.append(self.received.get_nowait())
        return out

    async def __aenter__(self) -> WebhookServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()  # answer whatever still waits, then stop
        await self._idle.wait()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._active += 1
        self._idle.clear()
        try:
            head = await reader.readuntil(_HEAD_END)
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int(headers.get("Content-Length", "0"))
            body = await reader.readexactly(length) if length else b"{}"
            await self.received.put(Received(path, json.loads(body)))
            if self.hang:
                await self.release.wait()
            reason = _REASONS.get(self.status, "Status")
            writer.write(
                f"HTTP/1.1 {self.status} {reason}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode("ascii")
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client gave up
        finally:
            writer.close()
            self._active -= 1
            if self._active == 0:
                self._idle.set()
