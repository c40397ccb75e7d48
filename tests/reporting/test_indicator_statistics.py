"""Each indicator as a JSON-stat dataset by municipality and year in the /statistics collection:
valid by jsonstat-validator, read by pyjstat; `p` for preliminary values, `..` missing, `:`
confidential, `.` where the code was not in use; harmonised, merged codes combined."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from jsonstat_validator import validate_jsonstat
from pyjstat import pyjstat

from services.reference.population import population
from services.reporting.app import SPEC
from tests.reporting.http import served
from tests.reporting.indicator_events import INDICATOR, defined, reported
from tests.reporting.test_comparisons import history
from tests.reporting.test_statistics import _get, table

DATASET = f"indicator-{INDICATOR}"
VALUES = [
    reported("1702", 2017, 8.0),
    reported("1724", 2017, 12.0),
    reported("5004", 2018, 7.5, status="preliminary"),
    reported("5004", 2019, 20.0),
    reported("5039", 2019, 11.0),
    reported("5001", 2019, None, status="missing"),
    reported("5025", 2019, None, status="confidential"),
]


async def _reporting(start_service):
    client = await start_service("reporting")
    conn = await asyncpg.connect(client.app.state.settings.database_url)
    try:
        async with conn.transaction():
            for batch in (history(), [defined()], VALUES):
                await SPEC.consumes.apply(conn, batch)
    finally:
        await conn.close()
    return client


async def test_an_indicator_dataset_is_valid_json_stat_that_pyjstat_reads(start_service):
    reporting = await _reporting(start_service)
    answer = await reporting.get(f"/statistics/{DATASET}", params={"from_year": 2017, "to_year": 2019})
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert validate_jsonstat(document)
    assert document["id"] == ["kommune", "statistikkvariabel", "tid"]
    assert document["role"] == {"geo": ["kommune"], "metric": ["statistikkvariabel"], "time": ["tid"]}
    unit = document["dimension"]["statistikkvariabel"]["category"]["unit"][INDICATOR]
    assert unit == {"label": "tonn CO2-ekvivalenter per innbygger", "decimals": 1}
    cells = table(document)
    assert cells[("1702", INDICATOR, "2017")] == 8.0
    assert cells[("5004", INDICATOR, "2019")] == 20.0
    assert cells[("5001", INDICATOR, "2019")] is None
    codes = document["dimension"]["kommune"]["category"]["index"]
    tid = document["dimension"]["tid"]["category"]["index"]

    def status(code: str, year: str) -> str | None:
        position = codes.index(code) * len(tid) + tid.index(year)
        return document["status"].get(str(position))

    assert status("5004", "2018") == "p"
    assert status("5004", "2019") is None
    assert status("5001", "2019") == ".."
    assert status("5025", "2019") == ":"
    assert status("1702", "2019") == "."  # 1702 was not in use in 2019
    assert status("5004", "2017") == "."  # nor 5004 in 2017
    assert document["dimension"]["kommune"]["category"]["label"]["5004"] == "Steinkjer"
    csv = await reporting.get(f"/statistics/{DATASET}", params={"from_year": 2017, "format": "csv"})
    assert csv.status_code == 200 and "5004,Steinkjer" in csv.text


async def test_harmonised_and_in_the_collection(start_service):
    reporting = await _reporting(start_service)
    document = (
        await reporting.get(
            f"/statistics/{DATASET}", params={"from_year": 2017, "to_year": 2019, "harmonised_to": 2020}
        )
    ).json()
    assert validate_jsonstat(document)
    cells = table(document)
    p1, p2 = population("1702", 2017), population("1724", 2017)
    s, v = population("5004", 2019), population("5039", 2019)
    assert p1 and p2 and s and v
    assert cells[("5006", INDICATOR, "2017")] == round((8.0 * p1 + 12.0 * p2) / (p1 + p2), 1)
    assert cells[("5006", INDICATOR, "2019")] == round((20.0 * s + 11.0 * v) / (s + v), 1)
    assert "1702" not in document["dimension"]["kommune"]["category"]["index"]

    async with served(reporting.app) as url:
        collection = json.loads(await asyncio.to_thread(_get, f"{url}/statistics"))
        assert validate_jsonstat(collection)
        assert f"{url}/statistics/{DATASET}" in [i["href"] for i in collection["link"]["item"]]
        frame = await asyncio.to_thread(
            lambda: pyjstat.Dataset.read(f"{url}/statistics/{DATASET}").write("dataframe")
        )
    assert list(frame.columns) == ["kommune", "statistikkvariabel", "år", "value"]
    assert "Steinkjer" in set(frame["kommune"])


async def test_an_unknown_indicator_is_not_found(start_service):
    reporting = await _reporting(start_service)
    assert (await reporting.get("/statistics/indicator-no-such")).status_code == 404
    assert (await reporting.get("/statistics/no-such-dataset")).status_code == 404
    bad = await reporting.get(f"/statistics/{DATASET}", params={"from_year": 2019, "to_year": 2017})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "to_year"
