"""A tiny HTTP/1.1 server on the event loop (``asyncio.start_server``), for ``GET`` of a few
fixed paths.

Why not a library: the endpoint answers three GETs to a local scraper or prober. A web
framework (aiohttp, Starlette + an ASGI server) would add a large dependency for that, and
``prometheus_client``'s own ``start_http_server`` answers from a thread — which keeps answering
while the event loop is hung, the one thing ``/healthz`` must not do. Here every answer is
computed on the loop, so a hung loop answers nothing and a prober times out.

What it speaks: one request per connection (``Connection: close``), ``GET`` and ``HEAD``, the
query string ignored, no request body; 404 for an unknown path, 405 for another method, 400 for
a malformed request, 408 when the request line and headers do not arrive within
``read_timeout_s`` seconds, 500 (logged with its traceback) when a handler fails. The request
head is limited to :data:`MAX_HEAD_BYTES` per line and :data:`MAX_HEADER_LINES` lines.

Each connection is handled in a task of ``asyncio``'s server (not of the supervisor's task
group): it lives for one request, bounded by ``read_timeout_s`` plus the handler's own time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

import structlog

log = structlog.get_logger("zerobeta.control")

MAX_HEAD_BYTES = 8192
"""Longest request line or header line, bytes."""
MAX_HEADER_LINES = 64
"""Most header lines in a request."""


@dataclass(frozen=True, slots=True)
class Response:
    """An answer: HTTP status, body and its content type."""

    status: int
    body: bytes
    content_type: str = "application/json"


Handler = Callable[[], Awaitable[Response]]


class BadRequest(Exception):
    """The request cannot be parsed (answered 400)."""


class HttpServer:
    """Serves ``routes`` (path → handler) once :meth:`listen` has bound it.

    Parameters
    ----------
    routes : Mapping[str, Handler]
        Exact paths (``/healthz``) to the coroutine functions answering them.
    read_timeout_s : float
        Time allowed for the request line and headers, seconds.
    """

    def __init__(self, routes: Mapping[str, Handler], *, read_timeout_s: float = 5.0) -> None:
        self._routes = dict(routes)
        self._read_timeout_s = read_timeout_s
        self._server: asyncio.Server | None = None
        self._port: int | None = None

    async def listen(self, host: str, port: int) -> None:
        """Bind ``host:port`` (``port`` 0: any free port) without accepting yet.

        Raises
        ------
        OSError
            If the address cannot be bound (in use, not local, not permitted).
        """
        self._server = await asyncio.start_server(
            self._handle, host, port, limit=MAX_HEAD_BYTES, start_serving=False
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        """The bound TCP port (the one chosen when ``port`` was 0; kept after :meth:`close`).

        Raises
        ------
        RuntimeError
            Before :meth:`listen`.
        """
        if self._port is None:
            raise RuntimeError("the HTTP server was never bound")
        return self._port

    async def start_serving(self) -> None:
        """Accept connections (queued ones are answered now)."""
        if self._server is not None:
            await self._server.start_serving()

    async def close(self) -> None:
        """Stop accepting and close the listening socket; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head_only = False
        try:
            try:
                async with asyncio.timeout(self._read_timeout_s):
                    method, path = await _read_head(reader)
                head_only = method == "HEAD"
                response = await self._respond(method, path)
            except TimeoutError:
                response = _plain(HTTPStatus.REQUEST_TIMEOUT)
            except BadRequest:
                response = _plain(HTTPStatus.BAD_REQUEST)
            await _write(writer, response, head_only=head_only)
        except ConnectionError:
            log.debug("control_client_gone")  # nothing left to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, method: str, path: str) -> Response:
        handler = self._routes.get(path)
        if handler is None:
            return _plain(HTTPStatus.NOT_FOUND)
        if method not in ("GET", "HEAD"):
            return _plain(HTTPStatus.METHOD_NOT_ALLOWED)
        try:
            return await handler()
        except Exception:  # one request failing answers 500 (logged); the agent runs on
            log.error("control_request_failed", path=path, exc_info=True)
            return _plain(HTTPStatus.INTERNAL_SERVER_ERROR)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The request's method and path (query dropped); the headers are read and ignored.

    Raises
    ------
    BadRequest
        On a malformed or oversized request line or header, or too many headers.
    """
    line = await _line(reader)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(line)
    for _ in range(MAX_HEADER_LINES):
        if not await _line(reader):
            return parts[0], parts[1].split("?", 1)[0]
    raise BadRequest("too many header lines")


async def _line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as err:
        raise BadRequest("connection closed mid-request") from err
    except asyncio.LimitOverrunError as err:
        raise BadRequest("request line too long") from err
    try:
        return raw.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise BadRequest("not ASCII") from err


def _plain(status: HTTPStatus) -> Response:
    return Response(int(status), f"{status.phrase}\n".encode(), "text/plain; charset=utf-8")


async def _write(writer: asyncio.StreamWriter, response: Response, *, head_only: bool) -> None:
    phrase = HTTPStatus(response.status).phrase
    head = (
        f"HTTP/1.1 {response.status} {phrase}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("ascii") + (b"" if head_only else response.body))
    await writer.drain()
