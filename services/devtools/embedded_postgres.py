"""The embedded PostgreSQL: a real server from the pgserver wheel, in a local data folder.

`livskraft dev` keeps its folder (`.livskraft/pgdata`) between runs; tests use a throwaway one.
The server listens on a Unix socket only. In production, DATABASE_URL names a real server.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pgserver.postgres_server import get_server


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, throwaway: bool = False) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._throwaway = throwaway
        self._server = get_server(data_dir, cleanup_mode="stop")

    def url(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database))

    def create_database(self, name: str) -> str:
        """Create a database if it is missing and return its URL."""
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{name}";')
        return self.url(name)

    def close(self) -> None:
        self._server.cleanup()
        if self._throwaway:
            shutil.rmtree(self.data_dir, ignore_errors=True)
