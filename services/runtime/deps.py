"""What a service's HTTP handlers depend on, declared once for every API module:
the database pool, the service's calendar, who is asking (by the scopes the token carries), and a
command's unit of work with the request's `Idempotency-Key`."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request

from .auth import ADMIN, READ, WRITE, Principal, require
from .clock import Clock
from .unit_of_work import IDEMPOTENCY_HEADER, IdempotencyKey, UnitOfWork


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


def _clock(request: Request) -> Clock:
    return request.app.state.clock  # type: ignore[no-any-return]


async def _idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Retry safely: the same key with the same request within 24 hours answers "
            "the first answer again and changes nothing more (IETF httpapi Idempotency-Key draft).",
        ),
    ] = None,
) -> IdempotencyKey | None:
    if key is None:
        return None
    status = getattr(request.scope.get("route"), "status_code", None) or 200
    return IdempotencyKey.of(key, request.method, request.url.path, await request.body(), status)


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Today = Annotated[Clock, Depends(_clock)]
Staff = Annotated[Principal, Depends(require(ADMIN))]
Writer = Annotated[Principal, Depends(require(WRITE))]
Reader = Annotated[Principal, Depends(require(READ))]
Idempotency = Annotated[IdempotencyKey | None, Depends(_idempotency_key)]
"""The request's `Idempotency-Key`, for a service that builds a unit of work for roles of its own."""

# One function per scope, not a closure over it: FastAPI reads these (string) annotations in the
# module's globals, where a closure's variable is not found and the caller would become a body field.


async def _staff_command(pool: Pool, clock: Today, principal: Staff, idempotency: Idempotency) -> UnitOfWork:
    return UnitOfWork(pool, clock, principal, idempotency)


async def _writer_command(
    pool: Pool, clock: Today, principal: Writer, idempotency: Idempotency
) -> UnitOfWork:
    return UnitOfWork(pool, clock, principal, idempotency)


StaffCommand = Annotated[UnitOfWork, Depends(_staff_command)]
"""A command programme staff may give: its unit of work, with the caller and idempotency key."""
WriterCommand = Annotated[UnitOfWork, Depends(_writer_command)]
"""A command a municipality's contact (or staff) may give; the handler checks for whom."""
