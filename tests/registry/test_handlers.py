"""Each registry command handler on the real database: the state it leaves, the events in the
outbox and the audit rows, all in one transaction; and nothing at all when it is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest
from livskraft_contracts import ClosureReason

from services.registry import handlers
from services.registry.app import SPEC
from services.registry.schemas import ContactIn, DecisionIn, NetworkIn
from services.runtime import db
from services.runtime.auth import ROLE_SCOPES, Principal
from services.runtime.clock import Clock
from services.runtime.problems import Problem
from services.runtime.settings import Settings
from services.runtime.unit_of_work import UnitOfWork

TODAY = date(2010, 1, 20)
STAFF = Principal("staff-1", "staff", None, ROLE_SCOPES["staff"])
STEINKJER = Principal("steinkjer-1", "municipality", "1702", ROLE_SCOPES["municipality"])
NETWORK = NetworkIn(
    name="Natur- og kulturbasert nyskaping",
    themes=["kulturarv", "produksjon-forbruk"],
    county="17",
    period_start=date(2010, 1, 1),
    period_end=date(2010, 12, 31),
    enrolment_deadline=date(2010, 2, 15),
)
DECISION = DecisionIn(
    body="kommunestyre",
    meeting_date=date(2010, 1, 14),
    case_number="2010/4",
    decision_date=date(2010, 1, 14),
    final=True,
    summary="Deltar.",
)
MAIN_CONTACT = ContactIn(role="main-contact", name="Kari Nordmann", email="kari@example.org")


@pytest.fixture
async def pool(new_database) -> AsyncIterator[asyncpg.Pool]:
    """A registry's database as it is after its first start: migrated, municipalities imported
    from the bundled KLASS data (their events are in the outbox: `outbox()` leaves them out)."""
    pool = await db.create_pool(await new_database("registry"))
    await db.migrate(pool, SPEC.migrations)
    assert SPEC.on_start is not None
    await SPEC.on_start(pool, Settings(service="registry"))
    await pool.execute("DELETE FROM audit_log")  # the import's; the tests read the commands'
    yield pool
    await pool.close()


def uow(pool: asyncpg.Pool, who: Principal = STAFF, today: date = TODAY) -> UnitOfWork:
    return UnitOfWork(pool, Clock(today), who)


async def outbox(pool: asyncpg.Pool) -> list[str]:
    """The names of the events keyed by a network in the outbox, in order (a municipality's own
    events are keyed by its four digits)."""
    rows = await pool.fetch("SELECT type FROM outbox WHERE aggregate_id !~ '^[0-9]{4}$' ORDER BY position")
    return [r["type"].split(".")[-2] for r in rows]


async def audit(pool: asyncpg.Pool) -> list[tuple[str, str, str, str | None]]:
    rows = await pool.fetch("SELECT actor, actor_role, action, kommunenummer FROM audit_log ORDER BY id")
    return [tuple(r) for r in rows]


async def open_network(pool: asyncpg.Pool) -> uuid.UUID:
    return (await handlers.create_network(uow(pool), NETWORK)).id


async def enrolled(pool: asyncpg.Pool, kommune: str = "1702") -> uuid.UUID:
    network_id = await open_network(pool)
    await handlers.enrol(uow(pool), network_id, kommune)
    return network_id


async def refused(command, status: int, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Problem) as problem:
        await command
    assert problem.value.status == status
    assert [e["field"] for e in problem.value.errors] == [field]


async def test_create_network_opens_it_and_writes_network_created(pool):
    created = await handlers.create_network(uow(pool), NETWORK)
    assert (created.state, created.sequence, created.members_active) == ("open", 1, 0)
    row = await pool.fetchrow("SELECT published, sequence, themes FROM networks WHERE id = $1", created.id)
    assert dict(row) == {"published": True, "sequence": 1, "themes": ["kulturarv", "produksjon-forbruk"]}
    assert await outbox(pool) == ["NetworkCreated"]
    assert await audit(pool) == [
        ("staff-1", "staff", "NetworkDrafted", None),
        ("staff-1", "staff", "NetworkCreated", None),
    ]


async def test_create_network_as_a_draft_writes_no_event(pool):
    created = await handlers.create_network(uow(pool), NETWORK.model_copy(update={"draft": True}))
    assert (created.state, created.sequence) == ("draft", 0)
    assert await outbox(pool) == []
    assert [a[2] for a in await audit(pool)] == ["NetworkDrafted"]


async def test_create_network_refused_leaves_nothing(pool):
    wrong = NETWORK.model_copy(update={"period_end": date(2009, 12, 31)})
    await refused(handlers.create_network(uow(pool), wrong), 422, "period_end")
    past = uow(pool, today=date(2010, 2, 16))  # the deadline has passed: it cannot open
    await refused(handlers.create_network(past, NETWORK), 409, "enrolment_deadline")
    assert await pool.fetchval("SELECT count(*) FROM networks") == 0
    assert await outbox(pool) == [] and await audit(pool) == []


async def test_open_network_publishes_a_draft_once(pool):
    draft = await handlers.create_network(uow(pool), NETWORK.model_copy(update={"draft": True}))
    accepted = await handlers.open_network(uow(pool), draft.id)
    assert [t.split(".")[-2] for t in accepted.event_types] == ["NetworkCreated"]
    assert await pool.fetchval("SELECT published FROM networks WHERE id = $1", draft.id)
    await refused(handlers.open_network(uow(pool), draft.id), 409, "network_id")
    assert await outbox(pool) == ["NetworkCreated"]
    assert [a[2] for a in await audit(pool)] == ["NetworkDrafted", "NetworkCreated"]
    with pytest.raises(Problem) as missing:
        await handlers.open_network(uow(pool), uuid.uuid4())
    assert missing.value.status == 404


async def test_close_network_records_the_reason(pool):
    network_id = await open_network(pool)
    await handlers.close_network(uow(pool), network_id, ClosureReason.TOO_FEW_MEMBERS)
    row = await pool.fetchrow("SELECT closed_reason, sequence FROM networks WHERE id = $1", network_id)
    assert dict(row) == {"closed_reason": "too-few-members", "sequence": 2}
    await refused(handlers.close_network(uow(pool), network_id, ClosureReason.COMPLETED), 409, "network_id")
    assert await outbox(pool) == ["NetworkCreated", "NetworkClosed"]
    assert (await audit(pool))[-1] == ("staff-1", "staff", "NetworkClosed", None)


async def test_invite_records_an_invited_municipality(pool):
    network_id = await open_network(pool)
    accepted = await handlers.invite(uow(pool), network_id, "1724")
    row = await pool.fetchrow("SELECT status, valid_on FROM enrolments WHERE kommunenummer = '1724'")
    assert dict(row) == {"status": "invited", "valid_on": TODAY}
    assert (await outbox(pool))[-1] == "MunicipalityInvited"
    assert (await audit(pool))[-1] == ("staff-1", "staff", "MunicipalityInvited", "1724")
    last = await pool.fetchval("SELECT id FROM outbox ORDER BY position DESC LIMIT 1")
    assert accepted.event_ids == [str(last)]
    await refused(handlers.invite(uow(pool), network_id, "1724"), 409, "kommunenummer")
    assert await outbox(pool) == ["NetworkCreated", "MunicipalityInvited"]


async def test_enrol_submits_and_records_a_late_override(pool):
    network_id = await open_network(pool)
    await handlers.enrol(uow(pool, STEINKJER), network_id, "1702")
    await refused(handlers.enrol(uow(pool, STEINKJER), network_id, "1702"), 409, "kommunenummer")
    march = date(2010, 3, 1)
    await refused(handlers.enrol(uow(pool, today=march), network_id, "1724"), 409, "kommunenummer")
    await handlers.enrol(uow(pool, today=march), network_id, "1724", late_override=True)
    rows = await pool.fetch("SELECT kommunenummer, status, late_override FROM enrolments ORDER BY 1")
    assert [tuple(r) for r in rows] == [("1702", "submitted", False), ("1724", "submitted", True)]
    assert await outbox(pool) == ["NetworkCreated", "EnrolmentSubmitted", "EnrolmentSubmitted"]
    assert (await audit(pool))[-2:] == [
        ("steinkjer-1", "municipality", "EnrolmentSubmitted", "1702"),
        ("staff-1", "staff", "EnrolmentSubmitted", "1724"),
    ]


async def test_only_a_municipality_on_the_day_is_invited_or_enrolled(pool):
    network_id = await open_network(pool)
    await refused(handlers.enrol(uow(pool), network_id, "5001"), 422, "kommunenummer")  # Trondheim, 2018
    await refused(handlers.invite(uow(pool), network_id, "9999"), 422, "kommunenummer")
    # Verran was 1724 until 31 December 2017 and is 5038 from 1 January 2018.
    await handlers.invite(uow(pool, today=date(2017, 12, 31)), network_id, "1724")
    await refused(
        handlers.invite(uow(pool, today=date(2018, 1, 1)), network_id, "1736"), 422, "kommunenummer"
    )
    await handlers.invite(uow(pool, today=date(2018, 1, 1)), network_id, "5038")
    rows = await pool.fetch("SELECT kommunenummer, valid_on FROM enrolments ORDER BY 1")
    assert [tuple(r) for r in rows] == [("1724", date(2017, 12, 31)), ("5038", date(2018, 1, 1))]
    assert await outbox(pool) == ["NetworkCreated", "MunicipalityInvited", "MunicipalityInvited"]


async def test_withdraw_keeps_the_enrolment_as_withdrawn(pool):
    network_id = await enrolled(pool)
    await handlers.withdraw(uow(pool, STEINKJER), network_id, "1702")
    assert await pool.fetchval("SELECT status FROM enrolments WHERE kommunenummer = '1702'") == "withdrawn"
    await refused(handlers.withdraw(uow(pool, STEINKJER), network_id, "1702"), 409, "kommunenummer")
    assert (await outbox(pool))[-1] == "EnrolmentWithdrawn"
    assert (await audit(pool))[-1] == ("steinkjer-1", "municipality", "EnrolmentWithdrawn", "1702")


async def test_record_decision_stores_it_and_confirms_with_a_main_contact(pool):
    network_id = await enrolled(pool)
    await handlers.assign_contact(uow(pool, STEINKJER), network_id, "1702", MAIN_CONTACT)
    accepted = await handlers.record_decision(uow(pool, STEINKJER), network_id, "1702", DECISION)
    assert [t.split(".")[-2] for t in accepted.event_types] == ["DecisionRecorded", "EnrolmentConfirmed"]
    row = await pool.fetchrow("SELECT case_number, final FROM decisions WHERE kommunenummer = '1702'")
    assert dict(row) == {"case_number": "2010/4", "final": True}
    assert await pool.fetchval("SELECT status FROM enrolments") == "confirmed"
    assert [a[2] for a in await audit(pool)][-2:] == ["DecisionRecorded", "EnrolmentConfirmed"]
    future = DECISION.model_copy(update={"decision_date": date(2010, 1, 21)})
    await refused(
        handlers.record_decision(uow(pool, STEINKJER), network_id, "1702", future), 422, "decision_date"
    )
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 1


async def test_assign_contact_keeps_the_person_here_and_the_event_carries_an_id(pool):
    network_id = await enrolled(pool)
    accepted = await handlers.assign_contact(uow(pool, STEINKJER), network_id, "1702", MAIN_CONTACT)
    row = await pool.fetchrow("SELECT person_id, role, name, email FROM contacts")
    assert dict(row) == {
        "person_id": accepted.person_id,
        "role": "main-contact",
        "name": "Kari Nordmann",
        "email": "kari@example.org",
    }
    payload = await pool.fetchval("SELECT payload FROM outbox WHERE type LIKE '%ContactAssigned%'")
    assert str(accepted.person_id).encode() in payload and b"Kari" not in payload and b"kari@" not in payload
    assert (await audit(pool))[-1] == ("steinkjer-1", "municipality", "ContactAssigned", "1702")
    await refused(handlers.assign_contact(uow(pool), network_id, "1724", MAIN_CONTACT), 409, "kommunenummer")
    assert await pool.fetchval("SELECT count(*) FROM contacts") == 1
