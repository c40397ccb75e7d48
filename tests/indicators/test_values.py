"""Reporting values through the running service: a municipality reports for itself only; a
correction is a new revision with the history kept; a final value is never overwritten silently;
each value goes out as IndicatorReported; the code is the one in use in the year."""

from __future__ import annotations

from datetime import date

from livskraft_contracts import IndicatorReported

from tests.indicators.conftest import World, refused
from tests.kafka_reader import header, read_records

SHARE = "nye-boliger-i-sentrum"  # prosent, 1 decimal, 0-100
CO2 = "klimagassutslipp-per-innbygger"  # per inhabitant, 2 decimals


async def test_a_value_goes_out_as_indicator_reported_under_its_published_type(world: World, bootstrap):
    answer = await world.report("1702", indicator=SHARE, year=2009, value=41.5, status="preliminary")
    assert answer.status_code == 200, answer.text
    accepted = answer.json()
    assert accepted["event_types"] == ["no.ks.livskraft.reporting.IndicatorReported.v1"]
    assert (accepted["revision"], accepted["value"], accepted["correction"]) == (1, 41.5, False)

    [event_id] = accepted["event_ids"]
    records = await read_records(
        bootstrap, IndicatorReported.topic(), until=lambda rs: any(header(r, "ce_id") == event_id for r in rs)
    )
    [record] = [r for r in records if header(r, "ce_id") == event_id]
    assert record.topic == "livskraft.reporting.indicator-reported.v1"
    assert record.key == b"1702"
    assert header(record, "ce_source") == "/livskraft/indicators"
    assert header(record, "ce_sequence") == "1"
    data = IndicatorReported.model_validate_json(record.value)
    assert (data.municipality.kommunenummer, data.municipality.valid_on) == ("1702", date(2009, 1, 1))
    assert (data.indicator, data.year, data.value, str(data.status), data.revision) == (
        SHARE,
        2009,
        41.5,
        "preliminary",
        1,
    )


async def test_a_municipality_reports_for_itself_only(world: World):
    before = await world.state()
    for headers in (
        world.municipality("1724"),  # Verran for Steinkjer
        world.municipality("5004"),  # Steinkjer's later code is another municipality code
        world.bearer_for("reader"),
        world.bearer_for("leader"),
    ):
        answer = await world.report(
            "1702", headers=headers, indicator=SHARE, year=2009, value=41.5, status="final"
        )
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    unauthenticated = await world.indicators.post(
        "/municipalities/1702/values", json={"indicator": SHARE, "year": 2009, "value": 1, "status": "final"}
    )
    assert unauthenticated.status_code == 401
    assert await world.state() == before

    own = await world.report("1724", indicator=SHARE, year=2009, value=12.0, status="final")
    assert own.status_code == 200, own.text
    by_staff = await world.report(
        "1702", headers=world.staff, indicator=SHARE, year=2009, value=41.5, status="final"
    )
    assert by_staff.status_code == 200, by_staff.text
    [value] = await world.values("1702")
    assert (value["value"], value["reported_role"]) == (41.5, "staff")


async def test_a_preliminary_value_is_corrected_as_a_new_revision_with_the_history_kept(world: World):
    first = await world.report("1702", indicator=SHARE, year=2009, value=41.5, status="preliminary")
    second = await world.report(
        "1702", indicator=SHARE, year=2009, value=43.0, status="preliminary", comment="Nye tall fra byggesak"
    )
    final = await world.report("1702", indicator=SHARE, year=2009, value=43.0, status="final")
    assert [a.json()["revision"] for a in (first, second, final)] == [1, 2, 3]

    history = await world.history("1702", SHARE, 2009)
    assert [(r["revision"], r["value"], r["status"], r["comment"]) for r in history] == [
        (1, 41.5, "preliminary", None),
        (2, 43.0, "preliminary", "Nye tall fra byggesak"),
        (3, 43.0, "final", None),
    ]
    [of_record] = await world.values("1702", indicator=SHARE)
    assert (of_record["revision"], of_record["value"], of_record["status"]) == (3, 43.0, "final")


async def test_the_value_of_record_reported_again_changes_nothing(world: World):
    await world.report("1702", indicator=SHARE, year=2009, value=41.5, status="final")
    before = await world.state()
    again = await world.report("1702", indicator=SHARE, year=2009, value=41.5, status="final")
    assert again.status_code == 200, again.text
    assert (again.json()["event_ids"], again.json()["revision"]) == ([], 1)
    assert await world.state() == before


async def test_a_final_value_is_never_overwritten_silently(world: World):
    await world.report("1702", indicator=SHARE, year=2009, value=41.5, status="final")
    before = await world.state()

    silent = await world.report("1702", indicator=SHARE, year=2009, value=40.0, status="final")
    body = refused(silent, 409, "supersedes_revision")
    assert "final (revision 1)" in body["detail"]
    downgraded = await world.report("1702", indicator=SHARE, year=2009, value=41.5, status="preliminary")
    refused(downgraded, 409, "supersedes_revision")
    without_reason = await world.report(
        "1702", indicator=SHARE, year=2009, value=40.0, status="final", supersedes_revision=1
    )
    refused(without_reason, 422, "comment")
    stale = await world.report(
        "1702", indicator=SHARE, year=2009, value=40.0, status="final", supersedes_revision=2, comment="x"
    )
    refused(stale, 409, "supersedes_revision")
    assert await world.state() == before
    assert [r["revision"] for r in await world.history("1702", SHARE, 2009)] == [1]


async def test_a_final_value_is_corrected_explicitly_and_the_correction_is_audited(world: World):
    await world.report("1702", indicator=SHARE, year=2009, value=41.5, status="final")
    answer = await world.report(
        "1702",
        indicator=SHARE,
        year=2009,
        value=40.0,
        status="final",
        supersedes_revision=1,
        comment="Feil i sentrumsavgrensningen",
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["revision"], answer.json()["correction"]) == (2, True)
    history = await world.history("1702", SHARE, 2009)
    assert [(r["revision"], r["value"], r["correction"], r["supersedes_revision"]) for r in history] == [
        (1, 41.5, False, None),
        (2, 40.0, True, 1),
    ]
    assert history[1]["reported_by"]  # staff see who
    audited = await world.count(
        "SELECT count(*) FROM audit_log WHERE action = 'IndicatorCorrected' "
        "AND reason = 'Feil i sentrumsavgrensningen' AND kommunenummer = '1702' "
        "AND indicator = 'nye-boliger-i-sentrum'"
    )
    assert audited == 1
    reader = await world.indicators.get(
        "/municipalities/1702/values/nye-boliger-i-sentrum/2009", headers=world.bearer_for("reader")
    )
    assert [r["reported_by"] for r in reader.json()["revisions"]] == [None, None]  # a reader does not


async def test_a_value_breaking_the_indicator_is_refused_naming_the_field(world: World):
    before = await world.state()
    cases = [
        ({"value": 100.1}, 422, "value"),  # above the maximum of a share
        ({"value": -0.1}, 422, "value"),
        ({"value": 41.55}, 422, "value"),  # one decimal for this indicator
        ({"year": 2011}, 422, "year"),  # not begun (today is 15 June 2010)
        ({"indicator": "ukjent-indikator"}, 422, "indicator"),
        ({"status": "missing"}, 422, "status"),
        ({"value": None}, 422, "value"),
        ({"total": 1000.0}, 422, "total"),  # a share is not per inhabitant
        ({"supersedes_revision": 1}, 422, "supersedes_revision"),  # nothing to supersede
        ({"year": 1970}, 422, "year"),  # 1702 came into use in 1971 (as KLASS has it)
        ({"surprise": 1}, 422, "surprise"),
        ({"comment": "a\x00b"}, 422, "comment"),
    ]
    for changes, status, field in cases:
        body = {"indicator": SHARE, "year": 2009, "value": 41.5, "status": "final", **changes}
        refused(await world.report("1702", **body), status, field)
    assert await world.state() == before


async def test_boundaries_this_year_and_the_bounds_themselves(world: World):
    for year, value in ((2010, 0.0), (2009, 100.0)):
        answer = await world.report("1702", indicator=SHARE, year=year, value=value, status="preliminary")
        assert answer.status_code == 200, answer.text


async def test_a_total_is_reported_per_inhabitant_of_1_january(world: World):
    answer = await world.report("1702", indicator=CO2, year=2009, total=131000, status="final")
    assert answer.status_code == 200, answer.text
    assert answer.json()["value"] == 6.28  # 131,000 t / 20,868 inhabitants on 1 January 2009
    [value] = await world.values("1702", indicator=CO2)
    assert (value["total"], value["population"], value["value"]) == (131000.0, 20868, 6.28)
    population = await world.indicators.get("/population/1702/2009", headers=world.staff)
    assert population.json()["population"] == 20868

    # Inderøy (1729) is missing from the bundled SSB 07459 until 2011: no population, no division.
    missing = await world.report("1729", indicator=CO2, year=2010, total=1000, status="final")
    body = refused(missing, 422, "total")
    assert "no population" in body["detail"]
    direct = await world.report("1729", indicator=CO2, year=2010, value=5.5, status="final")
    assert direct.status_code == 200, direct.text


async def test_a_year_is_reported_under_the_code_in_use_that_year(world: World, bootstrap):
    await world.move_clock(date(2024, 6, 1))
    last_of_1702 = await world.report("1702", indicator=SHARE, year=2017, value=40.0, status="final")
    assert last_of_1702.status_code == 200, last_of_1702.text
    refused(await world.report("1702", indicator=SHARE, year=2018, value=40.0, status="final"), 422, "year")

    first_of_5004 = await world.report("5004", indicator=SHARE, year=2018, value=42.0, status="final")
    assert first_of_5004.status_code == 200, first_of_5004.text
    refused(await world.report("5004", indicator=SHARE, year=2017, value=42.0, status="final"), 422, "year")
    refused(await world.report("5004", indicator=SHARE, year=2020, value=42.0, status="final"), 422, "year")
    merged = await world.report("5006", indicator=SHARE, year=2020, value=44.0, status="final")
    assert merged.status_code == 200, merged.text
    body = refused(
        await world.report("5006", indicator=SHARE, year=2019, value=44.0, status="final"), 422, "year"
    )
    assert "in use 2020-" in body["detail"]

    event_id = first_of_5004.json()["event_ids"][0]
    records = await read_records(
        bootstrap, IndicatorReported.topic(), until=lambda rs: any(header(r, "ce_id") == event_id for r in rs)
    )
    [record] = [r for r in records if header(r, "ce_id") == event_id]
    data = IndicatorReported.model_validate_json(record.value)
    assert (data.municipality.kommunenummer, data.municipality.valid_on) == ("5004", date(2018, 1, 1))


async def test_one_municipalitys_reports_are_numbered_in_one_sequence(world: World):
    for year in (2007, 2008, 2009):
        answer = await world.report("1702", indicator=SHARE, year=year, value=40.0, status="final")
        assert answer.status_code == 200, answer.text
    await world.report("1702", indicator=CO2, year=2009, value=6.0, status="final")
    assert await world.count("SELECT sequence FROM value_streams WHERE kommunenummer = '1702'") == 4
    assert (
        await world.count(
            "SELECT count(DISTINCT aggregate_id) FROM outbox WHERE type LIKE '%IndicatorReported%'"
        )
        == 1
    )
