"""The delivery client against servers that answer in the ways HTTP/1.1 allows: a length, chunks,
no length and a close, a 100 Continue first, an answer too long to read, a kept connection the
server closed meanwhile, and one that is not HTTP at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from services.notify.http_client import MAX_ANSWER, BadAnswer, DeliveryClient, ForbiddenAddress

Answer = Callable[[int], bytes]


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Answer], asyncio.Future[str]]]:
    """`url = await server(answer)`: a loopback server that reads each request and writes
    `answer(n)` for the n-th request it got (from 0); counts the connections it accepted."""
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> str:
        count = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal count
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                    await reader.readexactly(length)
                    reply = answer(count)
                    count += 1
                    writer.write(reply)
                    await writer.drain()
                    if b"close" in reply.lower():  # Connection: close, or X-Close: leave without a word
                        writer.close()
                        return
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(srv)
        return f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/hook?x=1"

    yield start  # type: ignore[misc]
    for srv in servers:
        srv.close()


def client() -> DeliveryClient:
    return DeliveryClient(allow_loopback=True, user_agent="test")


async def test_lengths_chunks_and_close_are_read_and_the_connection_kept_when_it_may_be(server) -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ]
    url = await server(lambda n: answers[n % len(answers)])
    async with client() as http:
        statuses = [(await http.post(url, b"{}", {"webhook-id": "x"})).status for _ in range(4)]
        assert statuses == [200, 202, 204, 500]
        assert len(http._idle.get(("http", "127.0.0.1", int(url.split(":")[2].split("/")[0])), [])) == 0
        again = await http.post(url, b"{}", {})
        assert again.status == 200  # a new connection after the server's close


async def test_a_kept_connection_the_server_closed_is_replaced_once(server) -> None:
    # The server closes each connection after its answer, without saying so (as at an idle timeout).
    url = await server(lambda n: b"HTTP/1.1 200 OK\r\nX-Close: 1\r\nContent-Length: 0\r\n\r\n")
    async with client() as http:
        for _ in range(3):
            assert (await http.post(url, b"{}", {})).status == 200


async def test_an_answer_longer_than_the_limit_is_not_read_and_not_reused(server) -> None:
    size = MAX_ANSWER + 1
    url = await server(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)
    async with client() as http:
        assert (await http.post(url, b"{}", {})).status == 200
        assert all(not kept for kept in http._idle.values())


async def test_what_is_not_http_is_refused(server) -> None:
    url = await server(lambda n: b"SSH-2.0-OpenSSH\r\n\r\n")
    async with client() as http:
        with pytest.raises(BadAnswer):
            await http.post(url, b"{}", {})


async def test_loopback_is_refused_where_it_is_not_allowed(server) -> None:
    url = await server(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    async with DeliveryClient(allow_loopback=False, user_agent="test") as http:
        with pytest.raises(ForbiddenAddress):
            await http.post(url, b"{}", {})
        with pytest.raises(ForbiddenAddress):
            await http.post(url.replace("127.0.0.1", "localhost"), b"{}", {})
