"""The service app factory: one composition root for every service.

`build_app(spec, settings)` wires a service's routers and event handler to the runtime: the
database pool and migrations, the outbox relay, the idempotent consumer, probes and metrics.
Nothing connects at import time; everything is opened in the lifespan and closed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from livskraft_contracts import Event
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import State

from . import asyncapi, consumer, db, dev_clock, metrics, problems, tracing
from .auth import verifier_from_settings
from .clock import Clock
from .events import EventHandlers
from .inbox import Inbox
from .kafka import make_producer
from .outbox import OutboxRelay
from .settings import Settings

log = logging.getLogger(__name__)

BackgroundTask = Callable[[State, Settings], Coroutine[Any, Any, None]]
"""A task a service runs beside its relay and consumer from start-up to shutdown (notify's webhook
and e-mail workers), given the app's state (pool, producer, clock) and the settings. It must run
until cancelled: if it returns or raises, /healthz fails so that the service is restarted."""


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service: its name, schema, HTTP routes, and its one declaration of the events
    it produces and the events it consumes (with a handler each). Subscriptions, the AsyncAPI
    document and the Kafka ACLs in `deploy/` are all derived from `produces` and `consumes`."""

    name: str
    migrations: Path
    produces: tuple[type[Event], ...] = ()
    consumes: EventHandlers = field(default_factory=EventHandlers)
    routers: Sequence[APIRouter] = ()
    description: str = ""
    background: Sequence[BackgroundTask] = ()
    on_start: Callable[[asyncpg.Pool, Settings], Awaitable[None]] | None = None
    """Run once at start-up, right after the migrations and before anything is served (the
    registry fills empty municipality tables from its bundled data). Replicas start at once:
    it must be idempotent and take its own lock."""


def build_app(spec: ServiceSpec, settings: Settings) -> FastAPI:
    if not settings.database_url or not settings.kafka_bootstrap_servers:
        raise RuntimeError(
            "DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set; "
            "`livskraft dev` sets them to its embedded PostgreSQL and Kafka"
        )
    if settings.environment == "production" and not settings.jwt_jwks_url:
        raise RuntimeError("LIVSKRAFT_JWT_JWKS_URL must be set in production: the dev signing key is refused")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.database_url and settings.kafka_bootstrap_servers
        pool = await db.create_pool(settings.database_url)
        await db.migrate(pool, spec.migrations)
        if spec.on_start is not None:
            await spec.on_start(pool, settings)
        connection = {k: v for k, v in settings.kafka_options().items() if k != "bootstrap_servers"}
        producer = make_producer(settings.kafka_bootstrap_servers, **connection)
        await producer.start()
        relay = _FinishingRelay(
            pool,
            settings.database_url,
            producer,
            service=spec.name,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
        )
        tasks = [asyncio.create_task(relay.run(), name=f"{spec.name}-relay")]
        broker = subscription = None
        if spec.consumes:  # a FastStream batch subscriber over the inbox (consumer.py)
            inbox = Inbox(
                pool, producer, service=spec.name, name=settings.consumer_group, handlers=spec.consumes
            )
            broker = consumer.make_broker(settings, spec.name)
            subscription = consumer.subscribe(
                broker,
                inbox,
                batch_size=settings.consumer_batch_size,
                fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            )
            await broker.start()
            tasks.append(asyncio.create_task(subscription.watch(), name=f"{spec.name}-consumer"))
        app.state.pool, app.state.producer, app.state.relay = pool, producer, relay
        app.state.broker, app.state.consumer = broker, subscription
        for run in spec.background:
            name = f"{spec.name}-{getattr(run, '__name__', 'background')}"
            tasks.append(asyncio.create_task(run(app.state, settings), name=name))
        for task in tasks:
            task.add_done_callback(lambda t: _stopped(app, t))
        try:
            yield
        finally:
            await _shut_down(spec.name, tasks, relay, broker, producer, pool)

    app = FastAPI(
        title=f"Livskraft {spec.name}",
        description=spec.description,
        lifespan=lifespan,
        responses=problems.RESPONSES,
    )
    app.state.settings = settings
    app.state.clock = Clock(settings.today)
    app.state.verifier = verifier_from_settings(settings)
    problems.install(app, spec.name)
    _install_http_metrics(app, spec.name)
    app.include_router(_probes())
    app.include_router(dev_clock.router)  # POST /dev/clock: development only

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_document() -> dict[str, Any]:
        """The events this service publishes and consumes (AsyncAPI 3.0)."""
        return asyncapi.document(spec.name, spec.produces, spec.consumes.event_types, spec.description)

    for router in spec.routers:
        app.include_router(router)
    return app


# --- Shutdown ---------------------------------------------------------------------------------------
#
# On SIGTERM uvicorn stops accepting connections and lets the requests under way finish (at most
# HTTP_DRAIN_S, `livskraft serve`), then runs the lifespan's shutdown, `_shut_down`: the consumer
# stops fetching, lets the batch it is applying commit and commits its offsets (at most
# consumer.GRACEFUL_SHUTDOWN_S), and leaves its group; at the same time the relay ends after the
# batch it is publishing is acknowledged and marked published (at most RELAY_STOP_S, after which
# the batch rolls back and is published again by the next relay); then the background tasks are
# cancelled, the producer flushes and the pool closes. preStop (5 s) + 15 + 10 + closing stays
# within the pods' terminationGracePeriodSeconds (40, deploy/). tests/e2e/test_shutdown.py.

HTTP_DRAIN_S = 15.0
RELAY_STOP_S = 10.0
CLOSE_S = 5.0


class _FinishingRelay(OutboxRelay):
    """The outbox relay, whose batch under way outlives the cancellation of its loop: `finish`
    waits for it, so that what was sent is also marked published (and not sent again)."""

    _batch: asyncio.Task[int] | None = None

    async def relay_once(self) -> int:
        self._batch = asyncio.create_task(super().relay_once())
        return await asyncio.shield(self._batch)

    async def finish(self, loop: asyncio.Task[None], timeout_s: float) -> None:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        batch = self._batch
        if batch is None or batch.done():
            return
        try:
            async with asyncio.timeout(timeout_s):
                published = await batch
            log.info("outbox relay: finished its last batch (%d events) before stopping", published)
        except TimeoutError:  # the batch was cancelled and rolled back: published again later
            log.warning("outbox relay: its last batch took over %s s; it is published again later", timeout_s)
        except Exception as exc:  # rolled back too
            log.warning("outbox relay: its last batch failed (%r); it is published again later", exc)


async def _shut_down(
    service: str,
    tasks: list[asyncio.Task[None]],
    relay: _FinishingRelay,
    broker: Any,
    producer: Any,
    pool: asyncpg.Pool,
) -> None:
    started = time.monotonic()
    relay_loop, others = tasks[0], tasks[1:]
    for task in others:  # the consumer's watch, the background tasks: nothing of theirs is lost
        task.cancel()

    async def stop_consumer() -> None:
        if broker is not None:  # waits for the batch being applied, commits, leaves the group
            async with asyncio.timeout(RELAY_STOP_S):
                await broker.stop()

    async def cancelled() -> None:
        if others and (await asyncio.wait(others, timeout=CLOSE_S))[1]:
            log.warning("%s: a task did not end when cancelled; stopping without it", service)

    stopped = await asyncio.gather(
        stop_consumer(), relay.finish(relay_loop, RELAY_STOP_S), cancelled(), return_exceptions=True
    )
    for error in (e for e in stopped if isinstance(e, Exception)):
        log.warning("%s: while stopping: %r", service, error)
    await producer.stop()
    try:
        async with asyncio.timeout(CLOSE_S):
            await pool.close()
    except TimeoutError:
        pool.terminate()
    log.info("%s stopped in %.1f s", service, time.monotonic() - started)


def _stopped(app: FastAPI, task: asyncio.Task[None]) -> None:
    """The relay and the consumer run until shutdown; if one ends sooner, the pod must restart."""
    if task.cancelled():
        return
    error = task.exception()
    app.state.broken = f"{task.get_name()} stopped: {error!r}"
    log.critical("%s; /healthz now fails so the service is restarted", app.state.broken, exc_info=error)


def _probes() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        """Alive: the event loop answers, and the relay and consumer still run."""
        broken = getattr(request.app.state, "broken", None)
        if broken:
            return JSONResponse({"status": "broken", "reason": broken}, status_code=503)
        return JSONResponse({"status": "ok"})

    @router.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Ready: the database and the broker answer."""
        checks = {
            "database": await db.ping(request.app.state.pool),
            "kafka": await _kafka_ping(request.app.state.producer),
        }
        checks["running"] = not getattr(request.app.state, "broken", None)
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": checks}, status_code=status)

    @router.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _kafka_ping(producer: object) -> bool:
    try:
        async with asyncio.timeout(2):
            await producer.client.fetch_all_metadata()  # type: ignore[attr-defined]
        return True
    except Exception:
        return False


def _install_http_metrics(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def count_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        traceparent = tracing.begin(request.headers.get("traceparent"))
        response = await call_next(request)
        response.headers["traceparent"] = traceparent
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(service, request.method, route).observe(time.perf_counter() - started)
        return response
