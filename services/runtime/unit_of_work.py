"""The unit of work: one database transaction per command, with idempotency keys built in.

A command handler owns its transaction through a `UnitOfWork` (cosmicpython's pattern):

    async def open_network(uow: UnitOfWork, network_id: UUID) -> Accepted:
        async with uow:
            network = await store.lock_network(uow.conn, network_id)
            events = domain.open_network(network, uow.today)
            envelopes = await store.commit_events(uow.conn, network, events, uow.actor)
            return await uow.commit(Accepted.of(envelopes))

`commit(answer)` commits state, outbox and audit together, and with them the answer, when the
request carried an `Idempotency-Key` (the IETF httpapi draft; Stripe's behaviour):
- the same key with the same request within 24 hours answers the first answer again, and runs
  nothing (`Replayed`, answered by `problems.install` with `Idempotent-Replayed: true`);
- the same key with another request (method, path or body) is a 422 naming the header;
- two requests with one key at once wait for each other on a transaction-level advisory lock,
  so one of them runs and the other answers the first answer.
Refusals (4xx) roll the transaction back and keep no answer: a retry is decided again.
Keys belong to the token's subject: two clients cannot see each other's answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel

from .auth import Principal
from .clock import Clock
from .problems import Replayed, field_error

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEPT_HOURS = 24
ACQUIRE_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)
A = TypeVar("A", bound=BaseModel)


@dataclass(frozen=True)
class Actor:
    """Who issued a command, for the audit log: the token's subject and role, never a name."""

    subject: str
    role: str


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's key and the fingerprint of what it asked (method, path, body)."""

    key: str
    fingerprint: str
    status: int

    @classmethod
    def of(cls, key: str, method: str, path: str, body: bytes, status: int) -> IdempotencyKey:
        digest = hashlib.sha256(b"\0".join((method.encode(), path.encode(), body))).hexdigest()
        return cls(key, digest, status)


class UnitOfWork:
    """One command's transaction: `async with uow:` opens it, `await uow.commit(answer)` ends it.
    Leaving the block without `commit` (a refusal, an error) rolls everything back."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        principal: Principal,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        self._pool, self._clock, self.principal, self._idempotency = pool, clock, principal, idempotency
        self._conn: Any = None
        self._transaction: Any = None

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("use the unit of work inside `async with uow:`")
        return self._conn

    @property
    def actor(self) -> Actor:
        return Actor(self.principal.subject, self.principal.role)

    @property
    def today(self) -> date:
        return self._clock.today()

    def now(self) -> datetime:
        return self._clock.now()

    async def __aenter__(self) -> UnitOfWork:
        # A pool that cannot give a connection in time is a fault of the moment: 503, not a hang.
        self._conn = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S)
        try:
            transaction = self._conn.transaction()
            await transaction.start()
            self._transaction = transaction
            if self._idempotency:
                await self._replay_if_answered(self._idempotency)
        except BaseException:
            await self._end(commit=False)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._conn is not None:  # not committed: refused or failed
            await self._end(commit=False)

    async def commit(self, answer: A) -> A:
        """Commit the command's work, with its answer kept for the idempotency key, and return it."""
        if self._idempotency:
            await self.conn.execute(
                """INSERT INTO idempotency_keys (subject, key, fingerprint, status, response)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (subject, key) DO UPDATE  -- an expired key used again
                   SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
                       response = EXCLUDED.response, created_at = now()""",
                self.principal.subject,
                self._idempotency.key,
                self._idempotency.fingerprint,
                self._idempotency.status,
                answer.model_dump_json().encode(),
            )
        await self._end(commit=True)
        return answer

    async def _replay_if_answered(self, idem: IdempotencyKey) -> None:
        lock = json.dumps([self.principal.subject, idem.key])  # PostgreSQL text holds no NUL
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock)
        row = await self.conn.fetchrow(
            f"""SELECT fingerprint, status, response FROM idempotency_keys
                WHERE subject = $1 AND key = $2 AND created_at > now() - interval '{KEPT_HOURS} hours'""",
            self.principal.subject,
            idem.key,
        )
        if row is None:
            return
        if row["fingerprint"] != idem.fingerprint:
            raise field_error(
                IDEMPOTENCY_HEADER,
                "was used for another request within 24 hours; use a new key for a new request",
            )
        raise Replayed(row["status"], row["response"])

    async def _end(self, *, commit: bool) -> None:
        transaction, conn = self._transaction, self._conn
        self._transaction = self._conn = None
        try:
            if transaction is not None:
                await (transaction.commit() if commit else transaction.rollback())
        finally:
            if conn is not None:
                try:
                    await self._pool.release(conn)
                except Exception as exc:
                    # After a commit the command is done, whatever befalls the connection now (the
                    # database restarting as it is reset): answer it, don't turn it into an error.
                    if not commit:
                        raise
                    log.warning("a connection could not be released after a commit: %r", exc)


async def purge_idempotency_keys(pool: asyncpg.Pool) -> int:
    """Forget answers older than 24 hours (the relay's hourly purge calls this)."""
    result = await pool.execute(
        f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{KEPT_HOURS} hours'"
    )
    return int(result.split()[-1])
