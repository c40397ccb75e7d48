"""The national statistics over HTTP: a JSON-stat 2.0 collection at /statistics, each dataset valid
JSON-stat that pyjstat reads into the expected table, CSV on request, public; published versions
frozen at their URL and announced with StatisticsPublished."""

from __future__ import annotations

import asyncio
import csv
import io
import json

from jsonstat_validator import validate_jsonstat
from livskraft_contracts import StatisticsPublished
from pyjstat import pyjstat

from services.reporting.app import SPEC
from services.reporting.domain import DATASETS
from tests.kafka_reader import header, read_records
from tests.reporting.events import caught_up, network_story, produce
from tests.reporting.http import served

YEARS = {"from_year": "2022", "to_year": "2023"}
"""This file's networks run in 2022-2023; no other reporting test uses those years."""
KOMMUNER = ("4601", "1103", "5001")  # Bergen, Stavanger, Trondheim: valid in 2022; Trondheim withdraws


async def reporting_with(start_service, bootstrap, *stories) -> object:
    reporting = await start_service("reporting")
    for story in stories:
        await produce(bootstrap, story)
    await caught_up(bootstrap, reporting.app.state.settings.consumer_group, SPEC.consumes.topics)
    return reporting


def table(document: dict) -> dict[tuple[str, ...], float | None]:
    """pyjstat's reading of a JSON-stat dataset, as {(category ids...): value}."""
    frame = pyjstat.Dataset.read(json.dumps(document)).write("dataframe", naming="id")
    ids = document["id"]
    return {
        tuple(str(row[i]) for i in ids): (None if row["value"] != row["value"] else row["value"])
        for _, row in frame.iterrows()
    }


async def test_every_dataset_is_valid_json_stat_that_pyjstat_reads_into_the_expected_table(
    start_service, bootstrap
):
    story = network_story("Statistikknettverket", 2022, kommuner=KOMMUNER)
    reporting = await reporting_with(start_service, bootstrap, story)
    network = str(story[0].data.network_id)
    documents = {}
    for dataset_id in DATASETS:
        answer = await reporting.get(f"/statistics/{dataset_id}", params=YEARS)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        document = answer.json()
        assert validate_jsonstat(document)
        assert (document["version"], document["class"]) == ("2.0", "dataset")
        assert document["size"] == [
            len(document["dimension"][d]["category"]["index"]) for d in document["id"]
        ]
        assert document["role"]["time"] == ["tid"] and document["role"]["metric"] == ["statistikkvariabel"]
        metric = document["dimension"]["statistikkvariabel"]["category"]
        assert set(metric["unit"]) == set(metric["index"])
        assert all(unit["decimals"] == 0 for unit in metric["unit"].values())
        assert document["updated"] and document["source"].startswith("KS")
        assert document["href"].endswith(f"/statistics/{dataset_id}?from_year=2022&to_year=2023")
        documents[dataset_id] = document

    themes = table(documents["networks-per-theme"])
    assert themes[("klima-energi", "nettverk", "2022")] == 1
    assert themes[("areal", "nettverk", "2023")] == 1
    assert themes[("kulturarv", "nettverk", "2022")] == 0

    counties = table(documents["participating-municipalities"])
    assert documents["participating-municipalities"]["role"]["geo"] == ["fylke"]
    assert {k: v for k, v in counties.items() if v} == {
        ("46", "kommuner", "2022"): 1,
        ("11", "kommuner", "2022"): 1,
        ("46", "kommuner", "2023"): 1,
        ("11", "kommuner", "2023"): 1,
    }

    municipalities = table(documents["networks-per-municipality"])
    assert {k: v for k, v in municipalities.items() if v} == {
        (code, "nettverk", year): 1 for code in ("4601", "1103") for year in ("2022", "2023")
    }

    decisions = table(documents["decisions-per-body"])
    assert decisions[("kommunestyre", "vedtak", "2022")] == 2
    assert decisions[("kommunestyre", "endelige-vedtak", "2022")] == 2
    assert decisions[("formannskap", "vedtak", "2022")] == 1
    assert decisions[("formannskap", "endelige-vedtak", "2022")] == 0
    assert decisions[("utvalg", "vedtak", "2023")] == 0

    gatherings = table(documents["gatherings-and-attendance"])
    assert documents["gatherings-and-attendance"]["dimension"]["nettverk"]["category"]["label"][network] == (
        "Statistikknettverket"
    )
    assert {k[1]: v for k, v in gatherings.items() if k[0] == network and k[2] == "2022"} == {
        "samlinger": 1,
        "oppmote-politician": 2,
        "oppmote-management": 1,
        "oppmote-department": 0,
        "oppmote-resource": 3,
    }
    assert gatherings[(network, "samlinger", "2023")] == 0

    labelled = pyjstat.Dataset.read(json.dumps(documents["networks-per-theme"])).write("dataframe")
    assert list(labelled.columns) == ["temaområde", "statistikkvariabel", "år", "value"]
    assert "Klima og energi" in set(labelled["temaområde"])


async def test_the_collection_links_every_dataset_by_href_and_pyjstat_reads_them_all(
    start_service, bootstrap
):
    story = network_story("Samlingsnettverket", 2022, kommuner=KOMMUNER)
    reporting = await reporting_with(start_service, bootstrap, story)
    async with served(reporting.app) as url:
        collection = json.loads(await asyncio.to_thread(_get, f"{url}/statistics"))
        assert validate_jsonstat(collection)
        assert collection["class"] == "collection" and collection["version"] == "2.0"
        items = collection["link"]["item"]
        # The programme's datasets first; then one per indicator defined, if any.
        assert [i["href"] for i in items][: len(DATASETS)] == [f"{url}/statistics/{d}" for d in DATASETS]
        assert all(i["class"] == "dataset" and i["label"] for i in items)
        frames = await asyncio.to_thread(
            lambda: pyjstat.Collection.read(f"{url}/statistics").write("dataframe_list")
        )
    assert len(frames) == len(items) >= len(DATASETS)
    assert all("value" in frame.columns and len(frame) for frame in frames)


def _get(url: str) -> str:
    import requests

    answer = requests.get(url, timeout=30)
    answer.raise_for_status()
    return answer.text


async def test_csv_by_accept_header_or_format_the_same_rows_as_json_stat(start_service, bootstrap):
    reporting = await reporting_with(start_service, bootstrap)
    document = (await reporting.get("/statistics/decisions-per-body", params=YEARS)).json()
    by_accept = await reporting.get(
        "/statistics/decisions-per-body", params=YEARS, headers={"Accept": "text/csv"}
    )
    by_format = await reporting.get("/statistics/decisions-per-body", params={**YEARS, "format": "csv"})
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert by_accept.text == by_format.text
    rows = list(csv.reader(io.StringIO(by_format.text)))
    assert rows[0] == [
        "organ",
        "politisk organ",
        "statistikkvariabel",
        "statistikkvariabel",
        "tid",
        "år",
        "verdi",
        "status",
    ]
    assert [r[6] for r in rows[1:]] == [str(v) for v in document["value"]]
    assert rows[1][:2] == ["kommunestyre", "Kommunestyret"]


async def test_statistics_are_public_and_reports_need_a_token(start_service, bootstrap, token):
    reporting = await reporting_with(start_service, bootstrap)
    assert (await reporting.get("/statistics")).status_code == 200
    assert (await reporting.get("/statistics/networks-per-theme")).status_code == 200
    assert (await reporting.get("/reports/networks")).status_code == 401
    reader = {"Authorization": f"Bearer {token('reader')}"}
    assert (await reporting.get("/reports/networks", headers=reader)).status_code == 200


async def test_refusals_answer_as_problems_naming_the_field(start_service, bootstrap):
    reporting = await reporting_with(start_service, bootstrap)
    unknown = await reporting.get("/statistics/no-such-dataset")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    not_geo = await reporting.get("/statistics/networks-per-theme", params={"harmonised_to": "2020"})
    assert not_geo.status_code == 422
    assert not_geo.json()["errors"][0]["field"] == "harmonised_to"
    backwards = await reporting.get(
        "/statistics/decisions-per-body", params={"from_year": "2010", "to_year": "2009"}
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to_year"
    assert (await reporting.get("/statistics/decisions-per-body/versions/999")).status_code == 404


async def test_a_published_version_is_frozen_at_its_url_and_announced(start_service, bootstrap, token):
    reporting = await reporting_with(
        start_service, bootstrap, network_story("Publisert", 2022, kommuner=("0301", "3201", "4204"))
    )
    staff = {"Authorization": f"Bearer {token('staff')}"}
    period = {"period_start": "2022-01-01", "period_end": "2023-12-31"}
    first = await reporting.post("/statistics/decisions-per-body/versions", json=period, headers=staff)
    assert first.status_code == 201, first.text
    published = first.json()["published"]
    assert published["version"] >= 1
    href = published["href"]
    assert href.endswith(f"/statistics/decisions-per-body/versions/{published['version']}")
    frozen = await reporting.get(href)
    document = frozen.json()
    assert validate_jsonstat(document)
    assert document["href"] == href
    assert document["extension"]["livskraft"]["version"] == published["version"]
    assert document["extension"]["livskraft"]["period"] == {"start": "2022-01-01", "end": "2023-12-31"}
    assert document["dimension"]["tid"]["category"]["index"] == ["2022", "2023"]

    # More decisions arrive: the live dataset changes, the published version does not.
    await produce(bootstrap, network_story("Senere", 2022, kommuner=("0301", "3201", "4204")))
    await caught_up(bootstrap, reporting.app.state.settings.consumer_group, SPEC.consumes.topics)
    live = (await reporting.get("/statistics/decisions-per-body", params=YEARS)).json()
    assert live["value"] != document["value"]
    assert (await reporting.get(href)).content == frozen.content
    assert (await reporting.get(href, params={"format": "csv"})).text.startswith("organ,")

    second = await reporting.post("/statistics/decisions-per-body/versions", json=period, headers=staff)
    assert second.json()["published"]["version"] == published["version"] + 1
    versions = (await reporting.get("/statistics/decisions-per-body/versions")).json()
    assert validate_jsonstat(versions)
    assert [i["href"] for i in versions["link"]["item"]][-2:] == [href, second.json()["published"]["href"]]

    records = await read_records(
        bootstrap,
        StatisticsPublished.topic(),
        until=lambda rs: any(header(r, "ce_id") == second.json()["event_ids"][0] for r in rs),
    )
    ours = {header(r, "ce_id"): r for r in records}
    event = json.loads(ours[first.json()["event_ids"][0]].value)
    assert event == {
        "dataset_id": "decisions-per-body",
        "dataset_version": published["version"],
        "period_start": "2022-01-01",
        "period_end": "2023-12-31",
        "link": href,
    }
    assert header(ours[first.json()["event_ids"][0]], "ce_sequence") == str(published["version"])


async def test_publishing_is_for_programme_staff_and_checks_what_it_is_asked(start_service, bootstrap, token):
    reporting = await reporting_with(start_service, bootstrap)
    period = {"period_start": "2022-01-01", "period_end": "2022-12-31"}
    reader = {"Authorization": f"Bearer {token('reader')}"}
    assert (await reporting.post("/statistics/networks-per-theme/versions", json=period)).status_code == 401
    assert (
        await reporting.post("/statistics/networks-per-theme/versions", json=period, headers=reader)
    ).status_code == 403
    staff = {"Authorization": f"Bearer {token('staff')}"}
    harmonised = await reporting.post(
        "/statistics/networks-per-theme/versions", json={**period, "harmonised_to": 2020}, headers=staff
    )
    assert harmonised.status_code == 422 and harmonised.json()["errors"][0]["field"] == "harmonised_to"
    backwards = await reporting.post(
        "/statistics/networks-per-theme/versions",
        json={"period_start": "2022-01-02", "period_end": "2022-01-01"},
        headers=staff,
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "period_end"
    unknown = await reporting.post("/statistics/no-such/versions", json=period, headers=staff)
    assert unknown.status_code == 404
