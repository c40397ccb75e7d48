"""The plan cycle through the running service: status assessment, goals, measures with their
responsible party, due date and status, their evaluation, and the report in the annual report;
each step dated, kept with its history, and announced in the plan's own sequence. Only an active
member of the network, for itself (or programme staff)."""

from __future__ import annotations

from datetime import date
from typing import Any

from livskraft_contracts import (
    GoalSet,
    MeasureEvaluated,
    MeasurePlanned,
    MeasureUpdated,
    PlanReported,
    StatusAssessed,
)

from tests.indicators.conftest import TODAY, World, refused
from tests.kafka_reader import header, read_records

ASSESSMENT = {"assessed_on": "2010-03-01", "summary": "Mange kulturminner er ikke registrert."}
GOAL = {
    "title": "Flere registrerte kulturminner",
    "theme": "kulturarv",
    "indicator": "kulturminner-registrert",
    "target_value": 60,
    "target_year": 2012,
    "set_on": "2010-03-15",
}
MEASURE = {
    "title": "Registrere kulturminner i Egge med frivillige",
    "responsible": "Kulturetaten",
    "due_date": "2010-12-01",
    "planned_on": "2010-04-01",
}
CHANGE = {k: v for k, v in MEASURE.items() if k != "planned_on"}


class Plan:
    def __init__(self, world: World, kommune: str = "1702", headers: dict[str, str] | None = None) -> None:
        self.world, self.kommune = world, kommune
        self.headers = headers or world.municipality(kommune)
        self.base = f"/networks/{world.network_id}/municipalities/{kommune}/plan"

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self.world.indicators.post(self.base + path, json=body, headers=self.headers)

    async def put(self, path: str, body: dict[str, Any]) -> Any:
        return await self.world.indicators.put(self.base + path, json=body, headers=self.headers)

    async def ok(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await getattr(self, method)(path, body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()  # type: ignore[no-any-return]

    async def read(self) -> dict[str, Any]:
        answer = await self.world.indicators.get(self.base, headers=self.world.bearer_for("reader"))
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


async def test_the_whole_cycle_is_recorded_with_its_history_and_announced_in_order(world: World, bootstrap):
    plan = Plan(world)
    assessed = await plan.ok("post", "/status-assessments", ASSESSMENT)
    goal = await plan.ok("post", "/goals", GOAL)
    revised = await plan.ok(
        "put", f"/goals/{goal['id']}", {**GOAL, "target_value": 70, "set_on": "2010-04-01"}
    )
    measure = await plan.ok("post", "/measures", {**MEASURE, "goal_id": goal["id"]})
    started = {**CHANGE, "goal_id": goal["id"], "status": "in-progress", "changed_on": "2010-05-01"}
    changed = await plan.ok("put", f"/measures/{measure['id']}", started)
    evaluated = await plan.ok(
        "post",
        f"/measures/{measure['id']}/evaluations",
        {"evaluated_on": "2010-06-01", "verdict": "partly-working", "findings": "30 nye registrert."},
    )
    reported = await plan.ok(
        "post", "/reports", {"document": "economy-plan", "year": 2011, "reported_on": "2010-06-15"}
    )
    assert (revised["revision"], changed["revision"]) == (2, 2)
    assert len({a["plan_id"] for a in (assessed, goal, measure, evaluated, reported)}) == 1

    read = await plan.read()
    assert [a["assessed_on"] for a in read["status_assessments"]] == ["2010-03-01"]
    [g] = read["goals"]
    assert (g["revision"], g["target_value"]) == (2, 70)
    assert [(r["revision"], r["target_value"], r["set_on"]) for r in g["revisions"]] == [
        (1, 60, "2010-03-15"),
        (2, 70, "2010-04-01"),
    ]
    [m] = read["measures"]
    assert (m["status"], m["planned_on"], m["responsible"], m["revision"]) == (
        "in-progress",
        "2010-04-01",
        "Kulturetaten",
        2,
    )
    assert [(r["status"], r["dated_on"]) for r in m["revisions"]] == [
        ("planned", "2010-04-01"),
        ("in-progress", "2010-05-01"),
    ]
    assert [(e["verdict"], e["evaluated_on"]) for e in m["evaluations"]] == [("partly-working", "2010-06-01")]
    assert [(r["document"], r["year"]) for r in read["reports"]] == [("economy-plan", 2011)]

    overview = await world.indicators.get(f"/networks/{world.network_id}/plans", headers=world.staff)
    by_member = {p["kommunenummer"]: p for p in overview.json()}
    assert set(by_member) == {"1702", "1724", "1719"}
    assert (by_member["1702"]["goals"], by_member["1702"]["measures"], by_member["1702"]["evaluations"]) == (
        1,
        {"in-progress": 1},
        1,
    )
    assert by_member["1724"]["plan_id"] is None

    plan_key = str(assessed["plan_id"]).encode()
    expected = [
        (StatusAssessed, assessed),
        (GoalSet, goal),
        (GoalSet, revised),
        (MeasurePlanned, measure),
        (MeasureUpdated, changed),
        (MeasureEvaluated, evaluated),
        (PlanReported, reported),
    ]
    sequences = []
    for event_type, accepted in expected:
        [event_id] = accepted["event_ids"]
        records = await read_records(
            bootstrap,
            event_type.topic(),
            until=lambda rs, i=event_id: any(header(r, "ce_id") == i for r in rs),
        )
        [record] = [r for r in records if header(r, "ce_id") == event_id]
        assert record.key == plan_key
        data = event_type.model_validate_json(record.value)
        assert (data.municipality.kommunenummer, str(data.network_id)) == ("1702", world.network_id)
        sequences.append(int(header(record, "ce_sequence") or 0))
    assert sequences == list(range(1, 8))
    evaluated_event = MeasureEvaluated.model_validate_json(
        next(
            r.value
            for r in await read_records(bootstrap, MeasureEvaluated.topic(), until=lambda rs: bool(rs))
            if header(r, "ce_id") == evaluated["event_ids"][0]
        )
    )
    assert str(evaluated_event.verdict) == "partly-working"
    assert "findings" not in MeasureEvaluated.model_fields  # what was found stays here


async def test_a_municipality_keeps_only_its_own_plan_and_only_as_an_active_member(world: World):
    before = await world.state()
    as_verran = Plan(world, "1702", headers=world.municipality("1724"))
    assert (await as_verran.post("/status-assessments", ASSESSMENT)).status_code == 403
    as_reader = Plan(world, "1702", headers=world.bearer_for("reader"))
    assert (await as_reader.post("/status-assessments", ASSESSMENT)).status_code == 403
    not_member = Plan(world, "1736")  # Snåsa is not in this network
    refused(await not_member.post("/status-assessments", ASSESSMENT), 409, "kommunenummer")
    elsewhere = await world.indicators.post(
        "/networks/6a1f7a4e-2d3b-4c5d-8e9f-0a1b2c3d4e5f/municipalities/1702/plan/status-assessments",
        json=ASSESSMENT,
        headers=world.municipality("1702"),
    )
    assert elsewhere.status_code == 404
    assert await world.state() == before

    by_staff = Plan(world, "1702", headers=world.staff)
    assert (await by_staff.post("/status-assessments", ASSESSMENT)).status_code == 201

    await world.registry_command("/enrolments/1719/withdraw")
    await world.until_members({"1719": "withdrawn"})
    refused(await Plan(world, "1719").post("/status-assessments", ASSESSMENT), 409, "kommunenummer")


async def test_a_closed_networks_plans_take_no_new_steps(world: World):
    plan = Plan(world)
    await plan.ok("post", "/status-assessments", ASSESSMENT)
    await world.registry_command("/close", {"reason": "cancelled"})

    async def closed() -> bool:
        return (
            await world.count(
                f"SELECT count(*) FROM networks WHERE network_id = '{world.network_id}' "
                "AND closed_reason IS NOT NULL"
            )
            == 1
        )

    from tests.conftest import eventually

    await eventually(closed)
    refused(await plan.post("/status-assessments", ASSESSMENT), 409, "network_id")
    assert len((await plan.read())["status_assessments"]) == 1  # what was recorded stands


async def test_steps_are_dated_today_at_the_latest_and_in_order(world: World):
    plan = Plan(world)
    today, tomorrow = TODAY.isoformat(), date(TODAY.year, TODAY.month, TODAY.day + 1).isoformat()
    await plan.ok("post", "/status-assessments", {**ASSESSMENT, "assessed_on": today})
    refused(
        await plan.post("/status-assessments", {**ASSESSMENT, "assessed_on": tomorrow}), 422, "assessed_on"
    )
    refused(await plan.post("/goals", {**GOAL, "set_on": tomorrow}), 422, "set_on")
    refused(await plan.post("/measures", {**MEASURE, "planned_on": tomorrow}), 422, "planned_on")
    refused(await plan.post("/measures", {**MEASURE, "due_date": "2010-03-31"}), 422, "due_date")
    same_day = await plan.ok("post", "/measures", {**MEASURE, "due_date": "2010-04-01"})

    path = f"/measures/{same_day['id']}"
    change = {**CHANGE, "due_date": "2010-04-01", "status": "completed"}
    refused(await plan.put(path, {**change, "changed_on": "2010-03-31"}), 422, "changed_on")
    refused(await plan.put(path, {**change, "changed_on": tomorrow}), 422, "changed_on")
    await plan.ok("put", path, {**change, "changed_on": "2010-04-01"})
    cancelled = await plan.ok("put", path, {**change, "status": "cancelled", "changed_on": today})
    assert cancelled["revision"] == 3
    refused(await plan.put(path, {**change, "status": "in-progress", "changed_on": today}), 409, "status")

    evaluations = f"{path}/evaluations"
    body = {"verdict": "working", "findings": "Gjennomført."}
    refused(await plan.post(evaluations, {**body, "evaluated_on": "2010-03-31"}), 422, "evaluated_on")
    await plan.ok("post", evaluations, {**body, "evaluated_on": "2010-04-01"})

    annual = {"document": "annual-report", "reported_on": today}
    await plan.ok("post", "/reports", {**annual, "year": 2010})
    refused(await plan.post("/reports", {**annual, "year": 2011}), 422, "year")
    refused(
        await plan.post("/reports", {**annual, "year": 2009, "reported_on": tomorrow}), 422, "reported_on"
    )
    refused(
        await plan.post("/reports", {"document": "master-plan", "reported_on": today, "year": 2009}),
        422,
        "year",
    )


async def test_goals_and_measures_refer_to_what_exists(world: World):
    plan = Plan(world)
    refused(await plan.post("/goals", {**GOAL, "indicator": "ukjent"}), 422, "indicator")
    refused(await plan.post("/goals", {**GOAL, "target_value": 60, "target_year": None}), 422, "target_year")
    refused(await plan.post("/goals", {**GOAL, "indicator": None}), 422, "indicator")  # a target needs it
    refused(
        await plan.post("/goals", {**GOAL, "indicator": "nye-boliger-i-sentrum", "target_value": 120}),
        422,
        "target_value",
    )
    refused(
        await plan.post("/measures", {**MEASURE, "goal_id": "6a1f7a4e-2d3b-4c5d-8e9f-0a1b2c3d4e5f"}),
        422,
        "goal_id",
    )
    goal = await plan.ok("post", "/goals", GOAL)
    await plan.ok("put", f"/goals/{goal['id']}", {**GOAL, "withdrawn": True})
    refused(await plan.post("/measures", {**MEASURE, "goal_id": goal["id"]}), 409, "goal_id")
    unknown = await plan.put("/goals/6a1f7a4e-2d3b-4c5d-8e9f-0a1b2c3d4e5f", GOAL)
    assert unknown.status_code == 404
    no_measure = await plan.post(
        "/measures/6a1f7a4e-2d3b-4c5d-8e9f-0a1b2c3d4e5f/evaluations",
        {"evaluated_on": "2010-05-01", "verdict": "working", "findings": "x"},
    )
    assert no_measure.status_code == 404
    other = await world.indicators.get(
        f"/networks/{world.network_id}/municipalities/1724/plan", headers=world.staff
    )
    assert other.status_code == 404  # Verran has no plan yet
