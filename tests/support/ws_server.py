"""A real websocket server on 127.0.0.1 (port 0) that replays a script per connection.

Connection 1 runs ``scripts[0]``, connection 2 ``scripts[1]`` ... (the last script repeats),
every frame the client sends is recorded per connection, and handshakes listed in ``refuse``
are answered with that HTTP status. Used by the websocket tests of every venue.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Script = Callable[[ServerConnection, "ScriptedServer"], Awaitable[None]]


class ScriptedServer:
    """Runs ``scripts[i]`` for the i-th connection; records received frames per connection."""

    def __init__(self, scripts: list[Script], *, refuse: dict[int, HTTPStatus] | None = None):
        self.scripts = scripts
        self.refuse = refuse or {}
        self.handshakes = 0
        self.connections = 0
        self.received: list[list[str]] = []

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        index = self.handshakes
        self.handshakes += 1
        if index in self.refuse:
            return connection.respond(self.refuse[index], "refused\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        self.received.append([])
        script = self.scripts[min(index, len(self.scripts) - 1)]
        # The client may go away first (aclose at the end of a test); that is expected.
        with suppress(ConnectionClosed):
            await script(ws, self)

    async def recv(self, ws: ServerConnection) -> str:
        frame = await ws.recv()
        assert isinstance(frame, str)
        self.received[-1].append(frame)
        return frame


@asynccontextmanager
async def running(
    server: ScriptedServer, path: str = "/ws?listenKey=secret-listen-key"
) -> AsyncIterator[str]:
    """Serve ``server`` on 127.0.0.1 (a free port); yields ``ws://127.0.0.1:<port><path>``."""
    async with serve(
        server.handler, "127.0.0.1", 0, process_request=server.process_request
    ) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}{path}"


@contextmanager
def running_in_thread(server: ScriptedServer, path: str = "") -> Iterator[str]:
    """Serve ``server`` on 127.0.0.1 from its own thread and event loop, for tests whose code
    under test owns the main thread's loop (``zerobeta run`` calls ``asyncio.run``); yields
    the URL like :func:`running`. The server stops when the block ends."""
    urls: queue.Queue[str | OSError] = queue.Queue()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve_until_stopped() -> None:
        try:
            async with running(server, path) as url:
                urls.put(url)
                await stop.wait()
        except OSError as e:  # could not bind: reported to the test's thread
            urls.put(e)

    thread = threading.Thread(
        target=loop.run_until_complete, args=(serve_until_stopped(),), daemon=True
    )
    thread.start()
    first = urls.get(timeout=10)
    if isinstance(first, OSError):
        raise first
    try:
        yield first
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
