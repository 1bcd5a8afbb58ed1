"""The tiny HTTP/1.1 server: routes on the event loop, one request per connection, and the
answers for what it does not serve."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from agent.control.http import HttpServer, Response


async def _ok() -> Response:
    return Response(200, b'{"hello": "world"}\n')


async def _broken() -> Response:
    raise RuntimeError("a bug in a handler")


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    http = HttpServer({"/ok": _ok, "/broken": _broken}, read_timeout_s=0.2)
    await http.listen("127.0.0.1", 0)
    await http.start_serving()
    try:
        yield http
    finally:
        await http.close()


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def test_a_route_answers_with_its_body_and_closes(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        answer = await client.get("/ok?verbose=1")
    assert answer.status_code == 200
    assert answer.json() == {"hello": "world"}
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["connection"] == "close"


async def test_unknown_path_method_and_a_failing_handler(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        assert (await client.get("/nope")).status_code == 404
        assert (await client.post("/ok", content=b"")).status_code == 405
        assert (await client.get("/broken")).status_code == 500
        head = await client.head("/ok")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b'{"hello": "world"}\n'))


async def test_malformed_and_slow_requests(server: HttpServer) -> None:
    assert (await _raw(server.port, b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    too_long = b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n"
    assert (await _raw(server.port, too_long)).startswith(b"HTTP/1.1 400 ")
    # No blank line after the request line: the head never completes within read_timeout_s.
    assert (await _raw(server.port, b"GET /ok HTTP/1.1\r\n")).startswith(b"HTTP/1.1 408 ")


async def test_port_zero_binds_a_free_port_and_close_releases_it() -> None:
    http = HttpServer({"/ok": _ok})
    await http.listen("127.0.0.1", 0)
    port = http.port
    assert port > 0
    await http.close()
    await http.close()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
