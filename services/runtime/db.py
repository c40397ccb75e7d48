"""The database: an asyncpg pool and SQL migrations applied at start-up under an advisory lock.

Each service owns a database. Its schema is the runtime's migrations (outbox, inbox) followed by
the service's own `migrations/NNN_name.sql` files, applied once each, in name order, and recorded
in `schema_migrations`. Several replicas starting at once wait on one advisory lock.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import asyncpg

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x6C69_7673  # "livs": one advisory lock id for migrations in every service


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


def migration_files(*folders: Path) -> list[tuple[str, str]]:
    """(id, sql) for every migration, the runtime's first; the id is `<folder>/<file name>`."""
    files: list[tuple[str, str]] = []
    for folder in (RUNTIME_MIGRATIONS, *folders):
        for path in sorted(folder.glob("*.sql")):
            files.append((f"{folder.parent.name}/{path.name}", path.read_text()))
    return files


async def migrate(pool: asyncpg.Pool, *folders: Path) -> list[str]:
    """Apply the migrations not yet applied; return their ids. Safe to run from many replicas."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       id text PRIMARY KEY,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["id"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
            for mig_id, sql in migration_files(*folders):
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if mig_id in done:
                    if done[mig_id] != checksum:
                        raise RuntimeError(f"migration {mig_id} changed after it was applied")
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (id, checksum) VALUES ($1, $2)", mig_id, checksum
                    )
                applied_now.append(mig_id)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


async def ping(pool: asyncpg.Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            answer: object = await conn.fetchval("SELECT 1")
            return answer == 1
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
