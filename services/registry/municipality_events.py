"""Municipality events from a KLASS import: MunicipalityRegistered and MunicipalityChanged.

An import (innlesing) writes dated versions; this module turns what it wrote into events: one
MunicipalityRegistered per new version, one MunicipalityChanged (the whole new state) per changed
version. They key on the kommunenummer and are numbered in that kommunenummer's own sequence
(table municipality_sequences), and go to the outbox and the audit log in the import's own
transaction: the events leave if and only if the import commits. A re-import that changes nothing
writes no events.

Counties have no events of their own in the catalogue: a municipality event names its county.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from livskraft_contracts import (
    CloudEvent,
    MunicipalityChanged,
    MunicipalityRef,
    MunicipalityRegistered,
)
from livskraft_contracts.registry import MunicipalityFacts

from services.runtime import outbox, tracing

from .klass import CountyVersion, Kommuneinndeling, MunicipalityVersion
from .municipalities import ImportedVersion, ImportResult, import_kommuneinndeling
from .store import Actor

# --- Events from versions (pure) -------------------------------------------------------------


def municipality_facts(version: MunicipalityVersion) -> dict[str, object]:
    """A version as the events' fields. A predecessor is named with the day before this version
    starts: the day it was valid (it ended then, or went on having given up territory)."""
    day_before = version.valid_from - timedelta(days=1)
    return {
        "kommunenummer": version.kommunenummer,
        "name": version.name,
        "county": version.fylkesnummer,
        "organisation_number": version.organisasjonsnummer,
        "valid_from": version.valid_from,
        "valid_to": version.valid_to,
        "predecessors": [
            MunicipalityRef(kommunenummer=code, valid_on=day_before) for code in version.predecessors
        ],
    }


def registered(imported: ImportedVersion[MunicipalityVersion]) -> MunicipalityRegistered:
    return MunicipalityRegistered(**municipality_facts(imported.version))  # type: ignore[arg-type]


def changed(imported: ImportedVersion[MunicipalityVersion]) -> MunicipalityChanged:
    return MunicipalityChanged(**municipality_facts(imported.version))  # type: ignore[arg-type]


def import_events(result: ImportResult[MunicipalityVersion]) -> list[MunicipalityFacts]:
    """The events an import's result stands for, by kommunenummer, then by the version's start:
    within a code, an ended version's MunicipalityChanged comes before its successor's
    MunicipalityRegistered."""
    events: list[MunicipalityFacts] = [registered(i) for i in result.registered]
    events += [changed(i) for i in result.changed]
    return sorted(events, key=lambda e: (e.kommunenummer, e.valid_from))


def numbered(events: Sequence[MunicipalityFacts], first: Mapping[str, int]) -> list[CloudEvent]:
    """The events in envelopes, numbered on from each kommunenummer's first free number."""
    following = dict(first)
    envelopes = []
    for event in events:
        envelopes.append(
            CloudEvent.wrap(event, sequence=following[event.kommunenummer], traceparent=tracing.current())
        )
        following[event.kommunenummer] += 1
    return envelopes


# --- Writing them (in the caller's transaction) ----------------------------------------------


async def reserve_sequences(conn: asyncpg.Connection, counts: Mapping[str, int]) -> dict[str, int]:
    """Take `counts[k]` numbers from each kommunenummer's sequence; return the first of each.
    The row stays locked until the transaction ends, so numbers are never given out twice."""
    if not counts:
        return {}
    codes = sorted(counts)  # one lock order for every caller
    rows = await conn.fetch(
        """INSERT INTO municipality_sequences (kommunenummer, sequence)
           SELECT * FROM unnest($1::text[], $2::bigint[])
           ON CONFLICT (kommunenummer) DO UPDATE
              SET sequence = municipality_sequences.sequence + EXCLUDED.sequence
           RETURNING kommunenummer, sequence""",
        codes,
        [counts[c] for c in codes],
    )
    return {r["kommunenummer"]: r["sequence"] - counts[r["kommunenummer"]] + 1 for r in rows}


async def commit_import_events(
    conn: asyncpg.Connection, result: ImportResult[MunicipalityVersion], actor: Actor
) -> list[CloudEvent]:
    """Number the import's events, write them to the outbox and the audit log (network_id
    NULL). Call inside the import's transaction. No changes, no events."""
    events = import_events(result)
    if not events:
        return []
    first = await reserve_sequences(conn, Counter(e.kommunenummer for e in events))
    envelopes = numbered(events, first)
    await outbox.write(conn, envelopes)
    await conn.executemany(
        """INSERT INTO audit_log (actor, actor_role, action, network_id, kommunenummer, event_id)
           VALUES ($1, $2, $3, NULL, $4, $5::uuid)""",
        [(actor.subject, actor.role, e.data.event_name(), e.partitionkey, e.id) for e in envelopes],
    )
    return envelopes


@dataclass(frozen=True)
class ImportOutcome:
    """What an import stored, and the events it wrote."""

    municipalities: ImportResult[MunicipalityVersion]
    counties: ImportResult[CountyVersion]
    events: list[CloudEvent]


async def import_and_publish(conn: asyncpg.Connection, data: Kommuneinndeling, actor: Actor) -> ImportOutcome:
    """Import a kommuneinndeling and write its events, all in one transaction (a savepoint
    inside the caller's, if any). Idempotent: a second import of the same data writes nothing."""
    async with conn.transaction():
        municipalities, counties = await import_kommuneinndeling(conn, data)
        events = await commit_import_events(conn, municipalities, actor)
    return ImportOutcome(municipalities, counties, events)
