"""The indicator catalogue: loaded from the bundled file into an empty service, announced with
IndicatorDefined, maintained by programme staff only, every revision kept."""

from __future__ import annotations

from livskraft_contracts import IndicatorDefined

from services.indicators.handlers import load_catalogue_file
from tests.indicators.conftest import World, refused
from tests.kafka_reader import header, read_records

NEW = {
    "indicator": "ladepunkter-per-innbygger",
    "theme": "klima-energi",
    "label": "Offentlige ladepunkter for elbil",
    "unit": "antall",
    "decimals": 0,
    "direction": "higher-is-better",
    "source": "Nobil",
    "minimum": 0,
}


async def test_an_empty_service_loads_the_bundled_catalogue_and_announces_each_entry(world: World, bootstrap):
    answer = await world.indicators.get("/indicators", headers=world.municipality("1702"))
    assert answer.status_code == 200, answer.text
    bundled = {e.indicator for e in load_catalogue_file()}
    assert {e["indicator"] for e in answer.json()} == bundled
    assert {e["revision"] for e in answer.json()} == {1}

    ids = await world.count("SELECT count(*) FROM outbox WHERE type LIKE '%IndicatorDefined%'")
    assert ids == len(bundled)

    def all_announced(records) -> bool:
        return bundled <= {IndicatorDefined.model_validate_json(r.value).indicator for r in records}

    records = await read_records(bootstrap, IndicatorDefined.topic(), until=all_announced)
    record = next(r for r in records if r.key == b"klimagassutslipp-per-innbygger")
    assert header(record, "ce_type") == "no.ks.livskraft.indicators.IndicatorDefined.v1"
    assert header(record, "ce_source") == "/livskraft/indicators"
    entry = IndicatorDefined.model_validate_json(record.value)
    assert (entry.label, entry.per_inhabitant, str(entry.direction)) == (
        "Klimagassutslipp per innbygger",
        True,
        "lower-is-better",
    )


async def test_staff_add_and_revise_indicators_and_every_revision_is_kept(world: World):
    added = await world.indicators.post("/indicators", json=NEW, headers=world.staff)
    assert added.status_code == 201, added.text
    assert added.json()["revision"] == 1
    revised_body = {k: v for k, v in NEW.items() if k != "indicator"} | {"label": "Offentlige ladepunkter"}
    path = f"/indicators/{NEW['indicator']}"
    revised = await world.indicators.put(path, json=revised_body, headers=world.staff)
    assert revised.status_code == 200, revised.text
    assert (revised.json()["revision"], revised.json()["label"]) == (2, "Offentlige ladepunkter")

    before = await world.state()
    unchanged = await world.indicators.put(path, json=revised_body, headers=world.staff)
    assert unchanged.json()["revision"] == 2
    assert await world.state() == before

    detail = await world.indicators.get(path, headers=world.staff)
    assert [(r["revision"], r["entry"]["label"], r["actor_role"]) for r in detail.json()["revisions"]] == [
        (1, "Offentlige ladepunkter for elbil", "staff"),
        (2, "Offentlige ladepunkter", "staff"),
    ]


async def test_only_staff_change_the_catalogue(world: World):
    before = await world.state()
    for headers in (world.municipality("1702"), world.bearer_for("reader"), world.bearer_for("leader")):
        answer = await world.indicators.post("/indicators", json=NEW, headers=headers)
        assert answer.status_code == 403, answer.text
        put = await world.indicators.put(
            "/indicators/kulturminner-registrert",
            json={k: v for k, v in NEW.items() if k != "indicator"},
            headers=headers,
        )
        assert put.status_code == 403, put.text
    assert await world.state() == before


async def test_a_bad_entry_is_refused_naming_the_field(world: World):
    before = await world.state()
    cases = [
        ({"indicator": "Kulturminner Registrert"}, 422, "indicator"),
        ({"indicator": "kulturminner-registrert"}, 409, "indicator"),  # there already
        ({"theme": "sport"}, 422, "theme"),
        ({"decimals": 7}, 422, "decimals"),
        ({"direction": "up"}, 422, "direction"),
        ({"minimum": 10, "maximum": 5}, 422, "maximum"),
        ({"minimum": 0.5}, 422, "minimum"),  # no decimals for a count
        ({"label": " "}, 422, "label"),
    ]
    for changes, status, field in cases:
        refused(
            await world.indicators.post("/indicators", json={**NEW, **changes}, headers=world.staff),
            status,
            field,
        )
    missing = await world.indicators.put(
        "/indicators/finnes-ikke",
        json={k: v for k, v in NEW.items() if k != "indicator"},
        headers=world.staff,
    )
    assert missing.status_code == 404
    assert await world.state() == before


async def test_a_retired_indicator_takes_no_new_values_and_its_old_ones_stand(world: World):
    await world.report("1702", indicator="vennskapsavtaler", year=2009, value=2, status="final")
    entry = next(e for e in load_catalogue_file() if e.indicator == "vennskapsavtaler")
    body = entry.model_dump(mode="json", exclude={"indicator", "revision"}) | {"retired": True}
    retired = await world.indicators.put("/indicators/vennskapsavtaler", json=body, headers=world.staff)
    assert retired.status_code == 200, retired.text
    assert (retired.json()["revision"], retired.json()["retired"]) == (2, True)
    refused(
        await world.report("1702", indicator="vennskapsavtaler", year=2010, value=3, status="final"),
        409,
        "indicator",
    )
    assert [v["value"] for v in await world.values("1702", indicator="vennskapsavtaler")] == [2.0]


async def test_a_restart_does_not_load_the_catalogue_again(world: World, start_service):
    await world.indicators.put(
        "/indicators/vennskapsavtaler",
        json=next(e for e in load_catalogue_file() if e.indicator == "vennskapsavtaler").model_dump(
            mode="json", exclude={"indicator", "revision"}
        )
        | {"label": "Vennskapsavtaler"},
        headers=world.staff,
    )
    before = await world.count("SELECT count(*) FROM outbox")
    again = await start_service("indicators", database_url=world.database)
    answer = await again.get("/indicators/vennskapsavtaler", headers=world.staff)
    assert (answer.json()["revision"], answer.json()["label"]) == (2, "Vennskapsavtaler")
    assert await world.count("SELECT count(*) FROM outbox") == before
