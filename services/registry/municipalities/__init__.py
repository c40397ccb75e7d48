"""Municipalities (kommuner) and counties (fylker) through time, from SSB KLASS, laid out like a
service: `klass` (reading KLASS responses, pure), `sources` (the bundled files, a folder, the
live API), `domain` (what an import changes, pure), `store` (SQL), `events` (the events an import
writes, pure), `handlers` (the import command, the start-up import, the queries), `schemas` and
`api` (HTTP). The data it carries is in `data/`, with its sources and licence in data/SOURCES.md.

The rest of the registry asks one thing of it: `municipality_on(conn, kommunenummer, day)`, the
municipality that had a number on a day, or None.
"""

from .store import municipality_on

__all__ = ["municipality_on"]
