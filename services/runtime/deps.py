"""What a service's HTTP handlers depend on, declared once for every API module:
the database pool, the service's calendar, and who is asking (by the scopes the token carries)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from .auth import ADMIN, READ, WRITE, Principal, require
from .clock import Clock


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


def _clock(request: Request) -> Clock:
    return request.app.state.clock


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Today = Annotated[Clock, Depends(_clock)]
Staff = Annotated[Principal, Depends(require(ADMIN))]
Writer = Annotated[Principal, Depends(require(WRITE))]
Reader = Annotated[Principal, Depends(require(READ))]
