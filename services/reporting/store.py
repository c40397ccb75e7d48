"""Reporting's SQL: the projection's writes (one bulk statement per run of events), the facts the
statistics count, published versions, and the rebuild's schema work.

Writes take rows (tuples, one per event or per row to write) and send them as one
`INSERT ... SELECT FROM unnest(...)`: a run of thousands of events is one round trip. A statement
may touch a row once, so callers fold a run to one event per row first (`domain.latest`).
Unqualified table names: the rebuild writes the same statements into a schema of its own by
putting it first on the connection's search_path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from . import domain

Row = tuple[Any, ...]

PROJECTION_TABLES = (
    "networks",
    "members",
    "enrolment_history",
    "decisions",
    "contact_assignments",
    "municipality_versions",
    "gatherings",
    "participants",
    "attendance",
    "cases_presented",
    "indicators",
    "indicator_values",
)
"""Every table the events build, and nothing else: a rebuild replaces exactly these."""


async def _bulk(conn: asyncpg.Connection, sql: str, rows: Sequence[Row]) -> None:
    if rows:
        await conn.execute(sql, *(list(column) for column in zip(*rows, strict=True)))


async def _copy(conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """Rows that are only ever added, by COPY (binary): the cheapest way in. A row already there
    is an error of the event (two events with one aggregate's sequence number), not a no-op."""
    if rows:
        await conn.copy_records_to_table(table, columns=list(columns), records=rows)


# -- Networks, members, decisions, contacts -------------------------------------------------------------


async def networks_created(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(network_id, name, themes joined by ',', county, region, period_start, period_end,
    enrolment_deadline, target_size_min, target_size_max, created_at, sequence)"""
    await _bulk(
        conn,
        """INSERT INTO networks AS n (network_id, name, themes, county, region, period_start, period_end,
                                      enrolment_deadline, target_size_min, target_size_max, created_at,
                                      created_sequence)
           SELECT id, name, string_to_array(themes, ','), county, region, ps, pe, dl, tmin, tmax, at, seq
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[], $7::date[],
                       $8::date[], $9::int[], $10::int[], $11::timestamptz[], $12::bigint[])
                AS u(id, name, themes, county, region, ps, pe, dl, tmin, tmax, at, seq)
           ON CONFLICT (network_id) DO UPDATE  -- a NetworkClosed came first
           SET name = EXCLUDED.name, themes = EXCLUDED.themes, county = EXCLUDED.county,
               region = EXCLUDED.region, period_start = EXCLUDED.period_start,
               period_end = EXCLUDED.period_end, enrolment_deadline = EXCLUDED.enrolment_deadline,
               target_size_min = EXCLUDED.target_size_min, target_size_max = EXCLUDED.target_size_max,
               created_at = EXCLUDED.created_at, created_sequence = EXCLUDED.created_sequence
           WHERE n.created_sequence < EXCLUDED.created_sequence""",
        rows,
    )


async def networks_closed(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(network_id, reason, closed_at, sequence)"""
    await _bulk(
        conn,
        """INSERT INTO networks AS n (network_id, closed_reason, closed_at, closed_sequence)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::bigint[])
           ON CONFLICT (network_id) DO UPDATE
           SET closed_reason = EXCLUDED.closed_reason, closed_at = EXCLUDED.closed_at,
               closed_sequence = EXCLUDED.closed_sequence
           WHERE n.closed_sequence < EXCLUDED.closed_sequence""",
        rows,
    )


async def member_states(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(network_id, kommunenummer, valid_on, status, sequence, at, first_sequence, first_at):
    the latest event sets the status, the first sets enrolled_at."""
    await _bulk(
        conn,
        """INSERT INTO members AS m (network_id, kommunenummer, valid_on, status, sequence, updated_at,
                                     first_sequence, enrolled_at)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[], $5::bigint[],
                                $6::timestamptz[], $7::bigint[], $8::timestamptz[])
           ON CONFLICT (network_id, kommunenummer) DO UPDATE SET
               valid_on = CASE WHEN EXCLUDED.sequence > m.sequence THEN EXCLUDED.valid_on ELSE m.valid_on END,
               status = CASE WHEN EXCLUDED.sequence > m.sequence THEN EXCLUDED.status ELSE m.status END,
               updated_at = CASE WHEN EXCLUDED.sequence > m.sequence
                                 THEN EXCLUDED.updated_at ELSE m.updated_at END,
               sequence = GREATEST(m.sequence, EXCLUDED.sequence),
               enrolled_at = CASE WHEN EXCLUDED.first_sequence < m.first_sequence
                                  THEN EXCLUDED.enrolled_at ELSE m.enrolled_at END,
               first_sequence = LEAST(m.first_sequence, EXCLUDED.first_sequence)""",
        rows,
    )


async def enrolment_history(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(network_id, sequence, kommunenummer, valid_on, status, late_override, at)"""
    await _copy(
        conn,
        "enrolment_history",
        ("network_id", "sequence", "kommunenummer", "valid_on", "status", "late_override", "at"),
        rows,
    )


async def decisions(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(decision_id, network_id, kommunenummer, valid_on, body, case_number, decision_date, final,
    event_id, meeting_date, sequence, recorded_at). A decision id recorded twice is an error of
    the event, not of the moment: it fails (and the consumer dead-letters that event alone)."""
    await _copy(
        conn,
        "decisions",
        (
            "decision_id",
            "network_id",
            "kommunenummer",
            "valid_on",
            "body",
            "case_number",
            "decision_date",
            "final",
            "event_id",
            "meeting_date",
            "sequence",
            "recorded_at",
        ),
        rows,
    )


async def contact_assignments(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(network_id, sequence, kommunenummer, valid_on, role, assigned_at)"""
    await _copy(
        conn,
        "contact_assignments",
        ("network_id", "sequence", "kommunenummer", "valid_on", "role", "assigned_at"),
        rows,
    )


# -- Municipalities ---------------------------------------------------------------------------------------


async def municipality_versions(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(kommunenummer, valid_from, valid_to, name, county, organisation_number, predecessors as
    JSON text, sequence, updated_at)"""
    await _bulk(
        conn,
        """INSERT INTO municipality_versions AS v (kommunenummer, valid_from, valid_to, name, county,
                                                   organisation_number, predecessors, sequence, updated_at)
           SELECT k, vf, vt, name, county, orgnr, predecessors::jsonb, seq, at
           FROM unnest($1::text[], $2::date[], $3::date[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::bigint[], $9::timestamptz[])
                AS u(k, vf, vt, name, county, orgnr, predecessors, seq, at)
           ON CONFLICT (kommunenummer, valid_from) DO UPDATE
           SET valid_to = EXCLUDED.valid_to, name = EXCLUDED.name, county = EXCLUDED.county,
               organisation_number = EXCLUDED.organisation_number, predecessors = EXCLUDED.predecessors,
               sequence = EXCLUDED.sequence, updated_at = EXCLUDED.updated_at
           WHERE v.sequence < EXCLUDED.sequence""",
        rows,
    )


# -- Gatherings -------------------------------------------------------------------------------------------


async def gathering_plans(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(gathering_id, network_id, starts_on, ends_on, place, host_kommunenummer, host_valid_on,
    sequence, status): a plan and a status, each kept if it is the latest of its kind."""
    await _bulk(
        conn,
        """INSERT INTO gatherings AS g (gathering_id, network_id, starts_on, ends_on, place,
                                        host_kommunenummer, host_valid_on, plan_sequence, status,
                                        status_sequence, status_at, held_sequence)
           SELECT id, nid, s, e, place, host, host_on, seq, status, seq, at, 0
           FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::date[], $5::text[], $6::text[], $7::date[],
                       $8::bigint[], $9::text[], $10::timestamptz[])
                AS u(id, nid, s, e, place, host, host_on, seq, status, at)
           ON CONFLICT (gathering_id) DO UPDATE SET
               network_id = CASE WHEN EXCLUDED.plan_sequence > g.plan_sequence
                                 THEN EXCLUDED.network_id ELSE g.network_id END,
               starts_on = CASE WHEN EXCLUDED.plan_sequence > g.plan_sequence
                                THEN EXCLUDED.starts_on ELSE g.starts_on END,
               ends_on = CASE WHEN EXCLUDED.plan_sequence > g.plan_sequence
                              THEN EXCLUDED.ends_on ELSE g.ends_on END,
               place = CASE WHEN EXCLUDED.plan_sequence > g.plan_sequence
                            THEN EXCLUDED.place ELSE g.place END,
               host_kommunenummer = CASE WHEN EXCLUDED.plan_sequence > g.plan_sequence
                                         THEN EXCLUDED.host_kommunenummer ELSE g.host_kommunenummer END,
               host_valid_on = CASE WHEN EXCLUDED.plan_sequence > g.plan_sequence
                                    THEN EXCLUDED.host_valid_on ELSE g.host_valid_on END,
               plan_sequence = GREATEST(g.plan_sequence, EXCLUDED.plan_sequence),
               status = CASE WHEN EXCLUDED.status_sequence > g.status_sequence
                             THEN EXCLUDED.status ELSE g.status END,
               status_at = CASE WHEN EXCLUDED.status_sequence > g.status_sequence
                                THEN EXCLUDED.status_at ELSE g.status_at END,
               status_sequence = GREATEST(g.status_sequence, EXCLUDED.status_sequence)""",
        rows,
    )


async def gatherings_held(conn: asyncpg.Connection, rows: Sequence[Row]) -> set[Any]:
    """(gathering_id, network_id, held_on, sequence, at). Returns the gatherings whose latest
    GatheringHeld this is: their attendance and cases are to be replaced."""
    if not rows:
        return set()
    ids, network_ids, held_on, sequences, times = (list(c) for c in zip(*rows, strict=True))
    result = await conn.fetch(
        """INSERT INTO gatherings AS g (gathering_id, network_id, held_on, held_sequence, status,
                                        status_sequence, status_at, plan_sequence)
           SELECT id, nid, h, seq, 'held', seq, at, 0
           FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::bigint[], $5::timestamptz[])
                AS u(id, nid, h, seq, at)
           ON CONFLICT (gathering_id) DO UPDATE SET
               held_on = CASE WHEN EXCLUDED.held_sequence > g.held_sequence
                              THEN EXCLUDED.held_on ELSE g.held_on END,
               held_sequence = GREATEST(g.held_sequence, EXCLUDED.held_sequence),
               status = CASE WHEN EXCLUDED.status_sequence > g.status_sequence
                             THEN EXCLUDED.status ELSE g.status END,
               status_at = CASE WHEN EXCLUDED.status_sequence > g.status_sequence
                                THEN EXCLUDED.status_at ELSE g.status_at END,
               status_sequence = GREATEST(g.status_sequence, EXCLUDED.status_sequence)
           RETURNING gathering_id, held_sequence""",
        ids,
        network_ids,
        held_on,
        sequences,
        times,
    )
    ours = dict(zip(ids, sequences, strict=True))
    return {r["gathering_id"] for r in result if r["held_sequence"] == ours[r["gathering_id"]]}


async def replace_attendance(
    conn: asyncpg.Connection, gathering_ids: Sequence[Any], attendance: Sequence[Row], cases: Sequence[Row]
) -> None:
    """attendance: (gathering_id, kommunenummer, valid_on, role_category, count);
    cases: (gathering_id, position, kommunenummer, valid_on, title)."""
    if not gathering_ids:
        return
    await conn.execute("DELETE FROM attendance WHERE gathering_id = ANY($1::uuid[])", list(gathering_ids))
    await conn.execute(
        "DELETE FROM cases_presented WHERE gathering_id = ANY($1::uuid[])", list(gathering_ids)
    )
    await _copy(
        conn,
        "attendance",
        ("gathering_id", "kommunenummer", "valid_on", "role_category", "count"),
        attendance,
    )
    await _copy(
        conn, "cases_presented", ("gathering_id", "position", "kommunenummer", "valid_on", "title"), cases
    )


async def participants(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(gathering_id, sequence, kommunenummer, valid_on, role_category, registered_at)"""
    await _copy(
        conn,
        "participants",
        ("gathering_id", "sequence", "kommunenummer", "valid_on", "role_category", "registered_at"),
        rows,
    )


# -- Indicators -------------------------------------------------------------------------------------------


async def indicators_defined(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(indicator, revision, theme, label, unit, decimals, direction, source, per_inhabitant,
    minimum, maximum, retired, sequence, defined_at): the highest revision wins."""
    await _bulk(
        conn,
        """INSERT INTO indicators AS i (indicator, revision, theme, label, unit, decimals, direction, source,
                                        per_inhabitant, minimum, maximum, retired, sequence, defined_at)
           SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::int[],
                                $7::text[], $8::text[], $9::boolean[], $10::float8[], $11::float8[],
                                $12::boolean[], $13::bigint[], $14::timestamptz[])
           ON CONFLICT (indicator) DO UPDATE
           SET revision = EXCLUDED.revision, theme = EXCLUDED.theme, label = EXCLUDED.label,
               unit = EXCLUDED.unit, decimals = EXCLUDED.decimals, direction = EXCLUDED.direction,
               source = EXCLUDED.source, per_inhabitant = EXCLUDED.per_inhabitant,
               minimum = EXCLUDED.minimum, maximum = EXCLUDED.maximum, retired = EXCLUDED.retired,
               sequence = EXCLUDED.sequence, defined_at = EXCLUDED.defined_at
           WHERE (i.revision, i.sequence) < (EXCLUDED.revision, EXCLUDED.sequence)""",
        rows,
    )


async def indicator_values(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """(kommunenummer, indicator, year, valid_on, value, status, revision, sequence, reported_at):
    the highest revision wins (then the highest sequence)."""
    await _bulk(
        conn,
        """INSERT INTO indicator_values AS v (kommunenummer, indicator, year, valid_on, value, status,
                                              revision, sequence, reported_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::date[], $5::float8[], $6::text[],
                                $7::int[], $8::bigint[], $9::timestamptz[])
           ON CONFLICT (kommunenummer, indicator, year) DO UPDATE
           SET valid_on = EXCLUDED.valid_on, value = EXCLUDED.value, status = EXCLUDED.status,
               revision = EXCLUDED.revision, sequence = EXCLUDED.sequence,
               reported_at = EXCLUDED.reported_at
           WHERE (v.revision, v.sequence) < (EXCLUDED.revision, EXCLUDED.sequence)""",
        rows,
    )


async def indicator_catalogue(conn: asyncpg.Connection, *, with_values: bool = False) -> list[asyncpg.Record]:
    """The catalogue; `with_values`: only indicators some municipality has reported."""
    return await conn.fetch(  # type: ignore[no-any-return]
        """SELECT * FROM indicators i
           WHERE NOT $1 OR EXISTS (SELECT 1 FROM indicator_values v WHERE v.indicator = i.indicator)
           ORDER BY theme, indicator""",
        with_values,
    )


async def indicator(conn: asyncpg.Connection, indicator_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM indicators WHERE indicator = $1", indicator_id)


async def values_of(conn: asyncpg.Connection, indicator_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(  # type: ignore[no-any-return]
        """SELECT kommunenummer, year, value, status, reported_at FROM indicator_values
           WHERE indicator = $1 ORDER BY year, kommunenummer""",
        indicator_id,
    )


async def networks_of_members(conn: asyncpg.Connection, year: int) -> list[asyncpg.Record]:
    """Networks running in `year`, not cancelled, with the members taking part (kommunenummer,
    valid_on)."""
    return await conn.fetch(  # type: ignore[no-any-return]
        """SELECT n.network_id, n.name, array_agg(m.kommunenummer ORDER BY m.kommunenummer) AS codes,
                  array_agg(m.valid_on ORDER BY m.kommunenummer) AS valid_on
           FROM networks n JOIN members m USING (network_id)
           WHERE n.name IS NOT NULL AND m.status = ANY($2::text[])
             AND extract(year FROM n.period_start) <= $1 AND extract(year FROM n.period_end) >= $1
             AND coalesce(n.closed_reason, '') <> 'cancelled'
           GROUP BY n.network_id, n.name ORDER BY n.name, n.network_id""",
        year,
        sorted(domain.PARTICIPATING),
    )


# -- Facts for the statistics -----------------------------------------------------------------------------


async def facts(
    conn: asyncpg.Connection, needs: Iterable[str], counties: Sequence[domain.County]
) -> domain.Facts:
    """What a dataset counts, read in the caller's (repeatable read) transaction."""
    needs = set(needs)
    networks: list[domain.NetworkFact] = []
    members: list[domain.MemberFact] = []
    decisions_: list[domain.DecisionFact] = []
    gatherings: list[domain.GatheringFact] = []
    versions: list[domain.Version] = []
    if "networks" in needs:
        networks = [
            domain.NetworkFact(
                network_id=r["network_id"],
                name=r["name"],
                themes=tuple(r["themes"]),
                period_start=r["period_start"],
                period_end=r["period_end"],
                closed_reason=r["closed_reason"],
            )
            for r in await conn.fetch(
                """SELECT network_id, name, themes, period_start, period_end, closed_reason
                   FROM networks WHERE name IS NOT NULL"""
            )
        ]
    if "members" in needs:
        members = [
            domain.MemberFact(r["network_id"], r["kommunenummer"], r["valid_on"], r["status"])
            for r in await conn.fetch("SELECT network_id, kommunenummer, valid_on, status FROM members")
        ]
    if "decisions" in needs:
        decisions_ = [
            domain.DecisionFact(r["body"], r["decision_date"], r["final"])
            for r in await conn.fetch("SELECT body, decision_date, final FROM decisions")
        ]
    if "gatherings" in needs:
        gatherings = [
            domain.GatheringFact(
                network_id=r["network_id"],
                status=r["status"],
                held_on=r["held_on"],
                attendance=tuple(zip(r["roles"], r["counts"], strict=True)),
            )
            for r in await conn.fetch(
                """SELECT g.network_id, g.status, g.held_on,
                          coalesce(array_agg(a.role_category ORDER BY a.role_category)
                                   FILTER (WHERE a.role_category IS NOT NULL), '{}') AS roles,
                          coalesce(array_agg(a.total ORDER BY a.role_category)
                                   FILTER (WHERE a.role_category IS NOT NULL), '{}') AS counts
                   FROM gatherings g
                   LEFT JOIN (SELECT gathering_id, role_category, sum(count)::int AS total
                              FROM attendance GROUP BY gathering_id, role_category) a USING (gathering_id)
                   GROUP BY g.gathering_id"""
            )
        ]
    if "history" in needs:
        versions = [
            domain.Version(
                kommunenummer=r["kommunenummer"],
                name=r["name"],
                county=r["county"],
                valid_from=r["valid_from"],
                valid_to=r["valid_to"],
                predecessors=tuple(
                    domain.Ref(p["kommunenummer"], date.fromisoformat(p["valid_on"]))
                    for p in r["predecessors"]
                ),
            )
            for r in await conn.fetch(
                """SELECT kommunenummer, name, county, valid_from, valid_to, predecessors
                   FROM municipality_versions"""
            )
        ]
    return domain.Facts(
        networks=networks,
        members=members,
        decisions=decisions_,
        gatherings=gatherings,
        history=domain.CodeHistory(versions),
        counties=counties,
    )


_UPDATED = {
    "networks": "SELECT max(greatest(created_at, closed_at)) FROM networks",
    "members": "SELECT max(updated_at) FROM members",
    "decisions": "SELECT max(recorded_at) FROM decisions",
    "gatherings": "SELECT max(status_at) FROM gatherings",
    "history": "SELECT max(updated_at) FROM municipality_versions",
}


async def updated(conn: asyncpg.Connection, needs: Iterable[str]) -> datetime | None:
    """The time of the newest event behind these facts (the dataset's `updated`)."""
    parts = [f"({_UPDATED[n]})" for n in sorted(needs)]
    return await conn.fetchval(f"SELECT greatest({', '.join(parts)})")  # type: ignore[no-any-return]


# -- Published versions -------------------------------------------------------------------------------------


async def lock_dataset(conn: asyncpg.Connection, dataset_id: str) -> int:
    """Serialise publications of one dataset; return how many versions it has."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('livskraft.statistics.' || $1, 0))", dataset_id
    )
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT coalesce(max(version), 0) FROM published_datasets WHERE dataset_id = $1", dataset_id
    )


async def insert_published(conn: asyncpg.Connection, **row: Any) -> None:
    await conn.execute(
        """INSERT INTO published_datasets (dataset_id, version, period_start, period_end, harmonised_to,
                                           href, document, published_at, published_by, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        row["dataset_id"],
        row["version"],
        row["period_start"],
        row["period_end"],
        row["harmonised_to"],
        row["href"],
        row["document"],
        row["published_at"],
        row["published_by"],
        row["event_id"],
    )


async def published(conn: asyncpg.Connection, dataset_id: str, version: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM published_datasets WHERE dataset_id = $1 AND version = $2", dataset_id, version
    )


async def published_versions(conn: asyncpg.Connection, dataset_id: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(  # type: ignore[no-any-return]
        """SELECT dataset_id, version, period_start, period_end, harmonised_to, href, published_at
           FROM published_datasets WHERE $1::text IS NULL OR dataset_id = $1
           ORDER BY dataset_id, version""",
        dataset_id,
    )


# -- Reports (reader queries) -------------------------------------------------------------------------------


async def report_network_ids(conn: asyncpg.Connection) -> list[Any]:
    return [
        r["network_id"]
        for r in await conn.fetch(
            "SELECT network_id FROM networks WHERE name IS NOT NULL ORDER BY created_at, network_id"
        )
    ]


async def report(conn: asyncpg.Connection, network_id: Any) -> dict[str, Any] | None:
    """A network with its members, decisions, contacts by role, gatherings and attendance."""
    network = await conn.fetchrow(
        "SELECT * FROM networks WHERE network_id = $1 AND name IS NOT NULL", network_id
    )
    if network is None:
        return None
    return {
        "network": network,
        "members": await conn.fetch(
            "SELECT * FROM members WHERE network_id = $1 ORDER BY kommunenummer", network_id
        ),
        "decisions": await conn.fetch(
            "SELECT * FROM decisions WHERE network_id = $1 ORDER BY decision_date, case_number", network_id
        ),
        "contacts": await conn.fetch(
            """SELECT kommunenummer, role, count(*) AS count FROM contact_assignments
               WHERE network_id = $1 GROUP BY kommunenummer, role ORDER BY kommunenummer, role""",
            network_id,
        ),
        "gatherings": await conn.fetch(
            """SELECT * FROM gatherings WHERE network_id = $1
               ORDER BY coalesce(held_on, starts_on), gathering_id""",
            network_id,
        ),
        "attendance": await conn.fetch(
            """SELECT a.* FROM attendance a JOIN gatherings g USING (gathering_id)
               WHERE g.network_id = $1 ORDER BY a.gathering_id, a.kommunenummer, a.role_category""",
            network_id,
        ),
        "participants": await conn.fetch(
            """SELECT p.gathering_id, p.role_category, count(*) AS count
               FROM participants p JOIN gatherings g USING (gathering_id)
               WHERE g.network_id = $1 GROUP BY p.gathering_id, p.role_category""",
            network_id,
        ),
        "cases": await conn.fetch(
            """SELECT c.* FROM cases_presented c JOIN gatherings g USING (gathering_id)
               WHERE g.network_id = $1 ORDER BY c.gathering_id, c.position""",
            network_id,
        ),
    }


# -- The rebuild: fresh tables in a schema of their own, swapped in at the end ------------------------------

REBUILD_SCHEMA = re.compile(r"^rebuild_[0-9]+$")
REBUILD_LOCK = 0x6C69_7672  # "livr": one rebuild at a time per database
_CONSUMER_TABLES = ("inbox", "dead_letters")
"""The consumer's own tables: cloned so that the rebuild de-duplicates as the consumer does."""


def rebuild_schema(name: str) -> str:
    if not REBUILD_SCHEMA.fullmatch(name):
        raise ValueError(f"not a rebuild schema: {name!r}")
    return name


async def leftover_rebuild_schemas(conn: asyncpg.Connection) -> list[str]:
    return [
        r["nspname"]
        for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname ~ '^rebuild_[0-9]+$'")
    ]


async def drop_schema(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {rebuild_schema(schema)} CASCADE")


async def create_rebuild_schema(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Empty copies of the projection's and the consumer's tables in `schema`: columns, defaults,
    checks, primary keys and unique constraints by the same names. Returns the statements that
    create the other indexes, to run once the tables are full (building an index once is cheaper
    than keeping it up to date row by row)."""
    schema = rebuild_schema(schema)
    later: list[str] = []
    async with conn.transaction():
        await conn.execute(f"CREATE SCHEMA {schema}")
        for table in (*PROJECTION_TABLES, *_CONSUMER_TABLES):
            await conn.execute(
                f"""CREATE TABLE {schema}.{table} (LIKE public.{table}
                    INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY
                    INCLUDING STORAGE INCLUDING COMMENTS)"""
            )
            for c in await conn.fetch(
                """SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
                   WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x') ORDER BY conname""",
                f"public.{table}",
            ):
                await conn.execute(
                    f'ALTER TABLE {schema}.{table} ADD CONSTRAINT "{c["conname"]}" {c["definition"]}'
                )
            for i in await conn.fetch(
                """SELECT pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i
                   WHERE i.indrelid = $1::regclass
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                   ORDER BY i.indexrelid""",
                f"public.{table}",
            ):
                definition, n = re.subn(
                    r" ON (ONLY )?public\.", rf" ON \g<1>{schema}.", i["definition"], count=1
                )
                if n != 1:
                    raise RuntimeError(f"cannot place this index in {schema}: {i['definition']}")
                later.append(definition)
    return later


async def live_positions(conn: asyncpg.Connection, consumer: str) -> dict[tuple[str, int], int]:
    """The highest offset per partition among the events the live consumer applied."""
    return {
        (r["topic"], r["partition"]): r["offset"]
        for r in await conn.fetch(
            """SELECT topic, partition, max("offset") AS offset FROM public.inbox
               WHERE consumer = $1 GROUP BY topic, partition""",
            consumer,
        )
    }


async def lock_live_inbox(conn: asyncpg.Connection) -> None:
    """Hold the live consumer at its next batch until this transaction ends (its first write is
    to the inbox); batches already under way finish first."""
    await conn.execute("LOCK TABLE public.inbox IN EXCLUSIVE MODE")


async def swap_in(conn: asyncpg.Connection, schema: str, consumer: str) -> None:
    """In the caller's transaction: the rebuilt tables replace the live ones, under the same
    names, with the rebuild's inbox; dead letters met on the way are added to the live ones."""
    schema = rebuild_schema(schema)
    await conn.execute(
        f"INSERT INTO {schema}.inbox SELECT * FROM public.inbox WHERE consumer <> $1", consumer
    )
    await conn.execute(
        f"INSERT INTO public.dead_letters SELECT * FROM {schema}.dead_letters ON CONFLICT DO NOTHING"
    )
    for table in (*PROJECTION_TABLES, "inbox"):
        await conn.execute(f"DROP TABLE public.{table}")
        await conn.execute(f"ALTER TABLE {schema}.{table} SET SCHEMA public")
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")


DEAD = """
    INSERT INTO dead_letters (consumer, topic, partition, "offset", key, reason)
    SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[])
    ON CONFLICT DO NOTHING
"""


async def table_rows(conn: asyncpg.Connection, table: str) -> list[tuple[Any, ...]]:
    """Every row of a projection table, in a set order (for comparisons)."""
    if table not in PROJECTION_TABLES:
        raise ValueError(f"not a projection table: {table}")
    return [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {table}::text")]
