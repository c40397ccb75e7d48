"""A fault of the moment is a 503 with Retry-After, logged once as a warning with the trace id and
counted; a bug is a 500, logged once (not again by the server as "Exception in ASGI application").

The database faults are real: the registry runs against the embedded PostgreSQL, and its
connections are terminated (`pg_terminate_backend`) or its pool closed while a command waits on a
row lock, so that the fault comes in the middle of the command's transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from aiokafka import errors as kafka_errors
from fastapi import APIRouter
from prometheus_client import REGISTRY

from services.runtime import faults
from services.runtime.app import ServiceSpec, build_app
from services.runtime.logs import JsonFormatter
from tests.conftest import eventually
from tests.e2e.test_backbone import SEED_NETWORK
from tests.processes import free_port

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


# -- What is transient ------------------------------------------------------------------------------


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InterfaceError("pool is closing"),
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        BrokenPipeError(32, "Broken pipe"),
        ConnectionResetError(104, "Connection reset by peer"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        kafka_errors.KafkaConnectionError("no connection"),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NotLeaderForPartitionError(),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        ExceptionGroup("both", [BrokenPipeError(), TimeoutError()]),
    ],
    ids=lambda e: type(e).__name__,
)
def test_faults_of_the_moment_are_transient(exc: BaseException):
    assert faults.is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("a bug"),
        KeyError("name"),
        ValueError("bad"),
        asyncpg.exceptions.DataError("invalid input for query argument $1"),
        asyncpg.exceptions.OutdatedSchemaCacheError("cache lookup failed for type 1234"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.exceptions.UniqueViolationError("duplicate key value"),
        asyncpg.exceptions.UndefinedTableError('relation "x" does not exist'),
        FileNotFoundError(2, "No such file or directory"),  # our own code's, not a driver's
        PermissionError(13, "Permission denied"),
        kafka_errors.IllegalStateError(),
        ExceptionGroup("mixed", [BrokenPipeError(), RuntimeError("a bug")]),
    ],
    ids=lambda e: f"{type(e).__name__}-{e}"[:40],
)
def test_bugs_are_not_transient(exc: BaseException):
    assert not faults.is_transient(_raised(exc))


def test_a_bug_raised_from_a_fault_is_transient_and_a_fault_met_while_handling_a_bug_is_not():
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as exc:
            raise RuntimeError("could not save") from exc
    except RuntimeError as chained:
        assert faults.is_transient(chained)
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError:
            raise KeyError("oops") from None
    except KeyError as unrelated:
        assert not faults.is_transient(unrelated)


async def test_an_os_error_from_the_database_driver_is_transient(tmp_path: Path):
    """A missing Unix socket (PostgreSQL between stop and start) is a FileNotFoundError, raised
    inside asyncpg's connect: transient, where the same error from our own code is a bug."""
    with pytest.raises(OSError) as caught:
        await asyncpg.connect(host=str(tmp_path), port=5432, user="x", database="x", timeout=2)
    assert faults.is_transient(caught.value)


# -- Answered once, logged once ---------------------------------------------------------------------


class LogLines(logging.Handler):
    """Every log record, formatted as the services format it (JSON, with the trace id) at once."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def warnings(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["level"] in ("warning", "error", "critical")]

    def about(self, text: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if text in line["message"] or text in line.get("exception", "")]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _faulty_router() -> APIRouter:
    router = APIRouter()

    @router.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug in the handler")

    @router.get("/reset")
    async def reset() -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    @router.get("/database-gone")
    async def database_gone() -> None:
        raise asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")

    @router.post("/kafka-gone")
    async def kafka_gone() -> None:
        raise kafka_errors.KafkaConnectionError("Unable to bootstrap from the brokers")

    return router


@pytest.fixture
async def faulty_server(
    new_database: Callable[[str], Any], service_settings: Callable[..., Any], tmp_path: Path
) -> AsyncIterator[str]:
    """A service with routes that fail, served by uvicorn as `livskraft serve` serves one."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    spec = ServiceSpec(name="faulty", migrations=migrations, routers=[_faulty_router()])
    app = build_app(spec, service_settings("faulty", await new_database("faulty")))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), timeout=60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _counted(name: str, route: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "faulty", "route": route}) or 0.0


async def test_a_bug_is_a_500_logged_once_and_not_again_by_the_server(
    faulty_server: str, log_lines: LogLines
):
    before = _counted("livskraft_http_unexpected_errors_total", "/bug")
    async with httpx.AsyncClient(base_url=faulty_server) as client:
        answer = await client.get("/bug", headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "instance": "/bug",
        "detail": "The error is logged",
    }
    assert answer.headers["traceparent"] == TRACEPARENT
    [line] = [line for line in log_lines.warnings() if "/bug" in line["message"] + line.get("exception", "")]
    assert line["level"] == "error" and line["trace_id"] == TRACE
    assert line["message"] == "unexpected error answering GET /bug"
    assert "RuntimeError: a bug in the handler" in line["exception"]
    assert not log_lines.about("Exception in ASGI application")
    assert _counted("livskraft_http_unexpected_errors_total", "/bug") == before + 1


@pytest.mark.parametrize(
    ("method", "path", "fault"),
    [
        ("GET", "/reset", "ConnectionResetError: [Errno 104] Connection reset by peer"),
        ("GET", "/database-gone", "AdminShutdownError: terminating connection due to administrator command"),
        ("POST", "/kafka-gone", "KafkaConnectionError: KafkaConnectionError: Unable to bootstrap"),
    ],
)
async def test_a_fault_of_the_moment_is_a_503_with_retry_after_logged_once_as_a_warning_and_counted(
    faulty_server: str, log_lines: LogLines, method: str, path: str, fault: str
):
    before = _counted("livskraft_http_transient_faults_total", path)
    async with httpx.AsyncClient(base_url=faulty_server) as client:
        answer = await client.request(method, path, headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["status"], problem["title"], problem["instance"]) == (503, "Service Unavailable", path)
    assert "Idempotency-Key is safe to retry with the same key" in problem["detail"]
    assert answer.headers["traceparent"] == TRACEPARENT
    [line] = [line for line in log_lines.warnings() if path in line["message"]]
    assert line["level"] == "warning" and line["trace_id"] == TRACE
    assert line["message"].startswith(f"transient fault answering {method} {path}, answered 503: {fault}")
    assert "exception" not in line  # a warning names the fault; no traceback
    assert not log_lines.about("Exception in ASGI application")
    assert _counted("livskraft_http_transient_faults_total", path) == before + 1


async def test_a_503_a_handler_raises_carries_retry_after_too(start_service, token):
    """A Problem(503) of a handler's own (the indicators service before the municipality codes
    have arrived, a JWKS that cannot be fetched) says when to come back, like the barrier's."""
    from fastapi import FastAPI

    from services.runtime import problems

    app = FastAPI()
    problems.install(app, "check")

    @app.get("/later")
    async def later() -> None:
        raise problems.Problem(503, "Service Unavailable", "not yet")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/later")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"


# -- A real service, its database connections cut mid-command ---------------------------------------


async def _waiting_on_a_lock(conn: asyncpg.Connection, database: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            database,
        )
    )


async def _draft(registry: httpx.AsyncClient, staff: dict[str, str]) -> str:
    keyed = {**staff, "Idempotency-Key": str(uuid.uuid4())}
    created = await registry.post("/networks", json={**SEED_NETWORK, "draft": True}, headers=keyed)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _command_held_on_a_lock(
    registry: httpx.AsyncClient,
    url: str,
    network_id: str,
    headers: dict[str, str],
    fault: Callable[[int], Awaitable[None]],
) -> httpx.Response:
    """POST /networks/{id}/open while another transaction holds the network's row, so that the
    command is inside its transaction, waiting; then `fault()`; then the lock is let go."""
    holder = await asyncpg.connect(url)
    database = await holder.fetchval("SELECT current_database()")
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM networks WHERE id = $1::uuid FOR UPDATE", network_id)
        command = asyncio.create_task(registry.post(f"/networks/{network_id}/open", headers=headers))
        await eventually(lambda: _waiting_on_a_lock(holder, database))
        await fault(holder.get_server_pid())
        await asyncio.sleep(0.2)
        await transaction.rollback()
        return await asyncio.wait_for(command, timeout=30)
    finally:
        await holder.close()


def _unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Service Unavailable"


async def test_connections_terminated_mid_command_answer_503_and_the_same_key_then_succeeds_once(
    start_service, new_database, token
):
    url = await new_database("registry")
    registry = await start_service("registry", database_url=url, today=date(2010, 1, 20))
    staff = {"Authorization": f"Bearer {token('staff')}"}
    network_id = await _draft(registry, staff)
    key = {**staff, "Idempotency-Key": f"open-{network_id}"}

    async def terminate_every_connection(holder_pid: int) -> None:
        admin = await asyncpg.connect(url)
        try:
            terminated = await admin.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1""",
                holder_pid,
            )
            assert terminated > 0
        finally:
            await admin.close()

    answer = await _command_held_on_a_lock(registry, url, network_id, key, terminate_every_connection)
    _unavailable(answer)
    assert "safe to retry with the same key" in answer.json()["detail"]

    # The pool reconnects; the same key runs the command now, once.
    retried = await registry.post(f"/networks/{network_id}/open", headers=key)
    assert retried.status_code == 200, retried.text
    again = await registry.post(f"/networks/{network_id}/open", headers=key)
    assert (again.status_code, again.json()) == (200, retried.json())
    assert again.headers.get("idempotent-replayed") == "true"
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE aggregate_id = $1", network_id) == 1
    finally:
        await conn.close()


async def test_the_pool_closed_mid_command_answers_503_then_every_request_503_never_500(
    start_service, new_database, token
):
    url = await new_database("registry")
    registry = await start_service("registry", database_url=url, today=date(2010, 1, 20))
    staff = {"Authorization": f"Bearer {token('staff')}"}
    network_id = await _draft(registry, staff)
    pool = registry.app.state.pool  # type: ignore[attr-defined]

    async def close_the_pool(holder_pid: int) -> None:
        pool.terminate()

    key = {**staff, "Idempotency-Key": f"open-{network_id}"}
    _unavailable(await _command_held_on_a_lock(registry, url, network_id, key, close_the_pool))
    _unavailable(await registry.get("/networks", headers=staff))
    _unavailable(await registry.post("/networks", json=SEED_NETWORK, headers=staff))
