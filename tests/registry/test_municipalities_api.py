"""The municipality API on the real embedded parts: the registry imports its bundled KLASS data
when it starts, its MunicipalityRegistered events reach Kafka, a re-import over HTTP changes only
what changed, questions are answered by day, and refusals are problem details naming the field."""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from datetime import date

import httpx
from livskraft_contracts import MunicipalityChanged, MunicipalityRegistered

from services.registry.municipalities.domain import ImportedVersion, ImportResult
from services.registry.municipalities.events import import_events, numbered
from services.registry.municipalities.handlers import REGISTRY
from services.registry.municipalities.klass import MunicipalityVersion
from services.registry.municipalities.sources import BUNDLED
from tests.kafka_reader import header, read_records


def d(text: str) -> date:
    return date.fromisoformat(text)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(answer: httpx.Response, status: int, field: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
        assert field in problem["detail"]
    return problem


# --- Events from an import's result (pure) ---------------------------------------------------


def test_events_are_numbered_per_kommunenummer_ended_version_first() -> None:
    old = MunicipalityVersion("5006", "Steinkjer", d("2020-01-01"), None, "840029212", ("5004", "5039"))
    ended = MunicipalityVersion(
        "5006", "Steinkjer", d("2020-01-01"), d("2026-01-01"), "840029212", ("5004", "5039"), ("5006",)
    )
    renamed = MunicipalityVersion("5006", "Steinkjer - Stientje", d("2026-01-01"), None, None, ("5006",))
    other = MunicipalityVersion("0301", "Oslo", d("1971-01-01"), None, valid_from_known=False)
    result = ImportResult(
        registered=(ImportedVersion(uuid.uuid4(), renamed), ImportedVersion(uuid.uuid4(), other)),
        changed=(ImportedVersion(uuid.uuid4(), ended, previous=old),),
        unchanged=0,
    )

    envelopes = numbered(import_events(result), {"5006": 4, "0301": 1})

    assert [(type(e.data).__name__, e.partitionkey, e.sequence) for e in envelopes] == [
        ("MunicipalityRegistered", "0301", 1),
        ("MunicipalityChanged", "5006", 4),
        ("MunicipalityRegistered", "5006", 5),
    ]
    change, registration = envelopes[1].data, envelopes[2].data
    assert (change.valid_to, change.organisation_number, change.county) == (
        d("2026-01-01"),
        "840029212",
        "50",
    )
    assert [(p.kommunenummer, p.valid_on) for p in change.predecessors] == [
        ("5004", d("2019-12-31")),
        ("5039", d("2019-12-31")),
    ]
    assert [(p.kommunenummer, p.valid_on) for p in registration.predecessors] == [("5006", d("2025-12-31"))]
    assert envelopes[0].type == "no.ks.livskraft.registry.MunicipalityRegistered.v1"


def test_no_changes_no_events() -> None:
    assert import_events(ImportResult((), (), unchanged=870)) == []


# --- The start-up import, events, a re-import and queries ---------------------------------------


async def test_the_registry_starts_knowing_the_municipalities_and_answers_by_day(
    start_service, token, bootstrap, tmp_path
) -> None:
    registry = await start_service("registry", today=date(2024, 6, 1))
    pool = registry.app.state.pool  # type: ignore[attr-defined]
    staff, reader = bearer(token("staff")), bearer(token("reader"))

    # Started on an empty database, it imported the bundled data: one event per version.
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM municipality_versions") == 870
        assert await conn.fetchval("SELECT count(*) FROM county_versions") == 33
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 870
        audit = await conn.fetch("SELECT actor, actor_role, action, network_id FROM audit_log")
        assert len(audit) == 870
        assert {tuple(r) for r in audit} == {(REGISTRY.subject, "system", "MunicipalityRegistered", None)}
        sequences = dict(await conn.fetch("SELECT kommunenummer, sequence FROM municipality_sequences"))
        codes = await conn.fetchval("SELECT count(DISTINCT kommunenummer) FROM municipality_versions")
        assert (sequences["1702"], sequences["5001"], len(sequences)) == (1, 3, codes)
        steinkjer_id = await conn.fetchval(
            "SELECT id::text FROM outbox WHERE aggregate_id = '1702' AND type LIKE '%MunicipalityRegistered%'"
        )

    # Steinkjer 1702's record reaches Kafka: keyed by the kommunenummer, first in its sequence.
    records = await read_records(
        bootstrap,
        MunicipalityRegistered.topic(),
        until=lambda rs: any(header(r, "ce_id") == steinkjer_id for r in rs),
    )
    record = next(r for r in records if header(r, "ce_id") == steinkjer_id)
    assert record.key == b"1702"
    assert header(record, "ce_sequence") == "1"
    assert header(record, "ce_partitionkey") == "1702"
    assert header(record, "ce_type") == "no.ks.livskraft.registry.MunicipalityRegistered.v1"
    data = json.loads(record.value)
    assert (data["name"], data["county"], data["valid_from"], data["valid_to"]) == (
        "Steinkjer",
        "17",
        "1971-01-01",
        "2018-01-01",
    )
    audit_row = await _audit(pool, steinkjer_id)
    assert (audit_row["kommunenummer"], audit_row["network_id"]) == ("1702", None)

    # The import's default source is the bundle: the same data again changes nothing, no events.
    for body in [None, {}, {"source": "bundled"}, {"source": "folder", "folder": str(BUNDLED)}]:
        again = await registry.post("/municipalities/import", json=body, headers=staff)
        assert again.status_code == 200, again.text
        assert again.json() == {
            "source": (body or {}).get("source", "bundled"),
            "registered": 0,
            "changed": 0,
            "unchanged": 870,
            "events": 0,
            "event_types": {},
            "links": 0,
            "counties": {"registered": 0, "changed": 0, "unchanged": 33},
        }
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 870
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 870

    # What held on a day.
    in_2010 = await registry.get("/municipalities/1702", params={"on": "2010-06-01"}, headers=reader)
    assert in_2010.status_code == 200, in_2010.text
    body = in_2010.json()
    assert (body["kommunenummer"], body["name"], body["county"]) == ("1702", "Steinkjer", "17")
    assert (body["valid_from"], body["valid_to"], body["valid_from_known"]) == (
        "1971-01-01",
        "2018-01-01",
        False,
    )
    assert body["successors"] == [{"kommunenummer": "5004", "valid_on": "2018-01-01"}]
    assert_problem(
        await registry.get("/municipalities/1702", params={"on": "2020-06-01"}, headers=reader), 404
    )
    today = await registry.get("/municipalities/5006", headers=reader)  # on: the clock's today
    assert today.status_code == 200, today.text
    assert (today.json()["name"], today.json()["organisation_number"]) == ("Steinkjer", "840029212")
    assert today.json()["predecessors"] == [
        {"kommunenummer": "5004", "valid_on": "2019-12-31"},
        {"kommunenummer": "5039", "valid_on": "2019-12-31"},
    ]

    current = await registry.get("/municipalities/1702/current", params={"on": "2010-01-01"}, headers=reader)
    assert current.status_code == 200, current.text
    assert current.json()["current"] == ["5006"]
    assert current.json()["today"] == "2024-06-01"
    assert current.json()["municipality"]["name"] == "Steinkjer"
    assert [(v["kommunenummer"], v["name"]) for v in current.json()["versions"]] == [("5006", "Steinkjer")]
    split = await registry.get("/municipalities/1534/current", params={"on": "2019-01-01"}, headers=reader)
    assert split.json()["current"] == ["1508", "1580"]  # Haram: into Ålesund, then out again

    history = await registry.get("/municipalities/5001/history", headers=reader)
    assert history.status_code == 200, history.text
    assert [v["valid_from"] for v in history.json()] == ["2018-01-01", "2020-01-01", "2023-01-01"]
    assert history.json()[0]["predecessors"] == [{"kommunenummer": "1601", "valid_on": "2017-12-31"}]
    assert history.json()[0]["successors"] == [{"kommunenummer": "5001", "valid_on": "2020-01-01"}]
    assert_problem(await registry.get("/municipalities/0000/history", headers=reader), 404)

    trondelag = await registry.get("/counties/50/municipalities", params={"on": "2024-01-01"}, headers=reader)
    assert trondelag.status_code == 200, trondelag.text
    assert len(trondelag.json()) == 38
    assert {"kommunenummer": "5006", "name": "Steinkjer"}.items() <= next(
        m for m in trondelag.json() if m["kommunenummer"] == "5006"
    ).items()
    nord = await registry.get("/counties/17/municipalities", params={"on": "2010-01-01"}, headers=reader)
    assert len(nord.json()) == 24 and "1702" in {m["kommunenummer"] for m in nord.json()}
    assert_problem(
        await registry.get("/counties/17/municipalities", params={"on": "2018-01-01"}, headers=reader), 404
    )

    for day, municipalities, counties in [
        ("2006-06-01", 431, 19),
        ("2018-01-01", 422, 18),
        ("2020-01-01", 356, 11),
        ("2024-01-01", 357, 15),
    ]:
        answer = await registry.get("/counties", params={"on": day}, headers=reader)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) == counties, day
        assert sum(c["municipalities"] for c in answer.json()) == municipalities, day
    nord_2006 = next(
        c
        for c in (await registry.get("/counties", params={"on": "2006-06-01"}, headers=reader)).json()
        if c["fylkesnummer"] == "17"
    )
    assert (nord_2006["name"], nord_2006["municipalities"], nord_2006["successors"]) == (
        "Nord-Trøndelag",
        24,
        ["50"],
    )

    # Data that renames a municipality: one MunicipalityChanged, next in the code's sequence.
    renamed = tmp_path / "klass"
    shutil.copytree(BUNDLED, renamed)
    latest = renamed / "Kommuneinndeling 2024.json"
    doc = json.loads(latest.read_text(encoding="utf-8"))
    for item in doc["classificationItems"]:
        if item["code"] == "5006":
            item["name"] = "Steinkjer - Stientje"
    latest.write_text(json.dumps(doc), encoding="utf-8")

    rename = {"source": "folder", "folder": str(renamed)}
    retry_safely = {**staff, "Idempotency-Key": f"klass-{uuid.uuid4()}"}
    changed = await registry.post("/municipalities/import", json=rename, headers=retry_safely)
    assert changed.status_code == 200, changed.text
    assert [changed.json()[k] for k in ("registered", "changed", "unchanged", "events")] == [0, 1, 869, 1]
    assert changed.json()["event_types"] == {"MunicipalityChanged": 1}
    async with pool.acquire() as conn:
        change_id = await conn.fetchval("SELECT id::text FROM outbox WHERE type LIKE '%MunicipalityChanged%'")
    records = await read_records(
        bootstrap,
        MunicipalityChanged.topic(),
        until=lambda rs: any(header(r, "ce_id") == change_id for r in rs),
    )
    record = next(r for r in records if header(r, "ce_id") == change_id)
    assert (record.key, header(record, "ce_sequence")) == (b"5006", "2")
    assert json.loads(record.value)["name"] == "Steinkjer - Stientje"
    assert [(await _audit(pool, change_id))[k] for k in ("action", "actor")] == [
        "MunicipalityChanged",
        "dev-staff",
    ]

    # Sent again with its Idempotency-Key: the first answer, and nothing more written.
    replayed = await registry.post("/municipalities/import", json=rename, headers=retry_safely)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == changed.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 871
    assert_problem(
        await registry.post("/municipalities/import", json={}, headers=retry_safely), 422, "Idempotency-Key"
    )


async def _audit(pool, event_id: str) -> dict:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM audit_log WHERE event_id = $1::uuid", event_id)
    return dict(row) if row else {}


# --- Refusals ----------------------------------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TABLES = ("municipality_versions", "county_versions", "outbox", "audit_log", "municipality_sequences")


async def _table_counts(pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


async def test_refusals_are_problems_naming_the_field_and_change_nothing(
    start_service, token, tmp_path
) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}/api/klass/v1"
    registry = await start_service("registry", today=date(2010, 1, 20), klass_api_url=unreachable)
    pool = registry.app.state.pool  # type: ignore[attr-defined]
    staff, reader = bearer(token("staff")), bearer(token("reader"))
    steinkjer = bearer(token("municipality", kommune="1702"))
    bundled = {"source": "bundled"}
    before = await _table_counts(pool)
    assert before["municipality_versions"] == 870  # imported at start

    # Who may import: programme staff only.
    assert_problem(await registry.post("/municipalities/import", json=bundled), 401)
    assert_problem(await registry.post("/municipalities/import", json=bundled, headers=reader), 403)
    assert_problem(await registry.post("/municipalities/import", json=bundled, headers=steinkjer), 403)
    assert_problem(await registry.get("/municipalities/1702"), 401)

    # What an import needs.
    missing = {"source": "folder", "folder": str(tmp_path / "no-such-folder")}
    assert_problem(await registry.post("/municipalities/import", json=missing, headers=staff), 422, "folder")
    empty = {"source": "folder", "folder": str(tmp_path)}
    problem = assert_problem(
        await registry.post("/municipalities/import", json=empty, headers=staff), 422, "folder"
    )
    assert "Kommuneinndeling" in problem["detail"]
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "Kommuneinndeling 2024.json").write_text("{not json", encoding="utf-8")
    broken = {"source": "folder", "folder": str(tmp_path / "broken")}
    assert_problem(await registry.post("/municipalities/import", json=broken, headers=staff), 422, "folder")
    assert_problem(
        await registry.post("/municipalities/import", json={"source": "folder"}, headers=staff), 422, "folder"
    )
    assert_problem(
        await registry.post("/municipalities/import", json={"source": "ftp"}, headers=staff), 422, "source"
    )
    for source in ("klass", "bundled"):
        both = {"source": source, "folder": str(tmp_path)}
        assert_problem(await registry.post("/municipalities/import", json=both, headers=staff), 422, "folder")
    assert_problem(
        await registry.post("/municipalities/import", json={"surprise": 1}, headers=staff), 422, "surprise"
    )

    # The live KLASS API (the setting klass_api_url), unreachable: 502, saying so, after retries.
    problem = assert_problem(
        await registry.post("/municipalities/import", json={"source": "klass"}, headers=staff), 502
    )
    assert "SSB KLASS" in problem["detail"] and "cannot connect" in problem["detail"]
    assert unreachable in problem["detail"]

    # Bad codes and dates name the field; an unknown municipality is a 404 problem.
    assert_problem(await registry.get("/municipalities/17A2", headers=reader), 422, "kommunenummer")
    assert_problem(await registry.get("/municipalities/17020/history", headers=reader), 422, "kommunenummer")
    assert_problem(
        await registry.get("/municipalities/1702", params={"on": "01.06.2010"}, headers=reader), 422, "on"
    )
    assert_problem(await registry.get("/counties", params={"on": "2010-13-01"}, headers=reader), 422, "on")
    assert_problem(await registry.get("/counties/5/municipalities", headers=reader), 422, "fylkesnummer")
    assert_problem(
        await registry.get("/municipalities/1702/current", params={"on": "2011-01-01"}, headers=reader),
        422,
        "on",
    )
    assert_problem(await registry.get("/municipalities/5006", headers=reader), 404)  # not until 2020
    assert_problem(await registry.get("/municipalities/0000/history", headers=reader), 404)
    assert_problem(await registry.get("/counties/50/municipalities", headers=reader), 404)

    # What the registry knows on its today (2010-01-20), without anyone having imported anything.
    assert (await registry.get("/municipalities/1702", headers=reader)).json()["name"] == "Steinkjer"
    counties = (await registry.get("/counties", headers=reader)).json()
    assert (len(counties), sum(c["municipalities"] for c in counties)) == (19, 430)

    assert await _table_counts(pool) == before
