"""Comparisons of an indicator, checked by hand on a small case: a county of four values
(10, 20, 30, 40: median 25, quartiles 17.5 and 32.5 as Excel's QUARTILE.INC), the country with
Oslo's 1 added (median 20, quartiles 10 and 30), and Steinkjer, 1702 until 2017 and 5004 from
2018 (merged with Verran, 1724 then 5039, into 5006 in 2020), under the right code each year."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from livskraft_contracts import CloudEvent, EnrolmentConfirmed, MunicipalityInvited, NetworkCreated

from services.reference.population import population
from services.reporting import comparisons
from services.reporting.app import SPEC
from tests.reporting.indicator_events import INDICATOR, defined, reported, version


def test_quartiles_are_excels_quartile_inc():
    assert comparisons.quartiles([40, 10, 30, 20]) == (17.5, 25, 32.5)
    assert comparisons.quartiles([1, 10, 20, 30, 40]) == (10, 20, 30)
    assert comparisons.quartiles([7]) == (7, 7, 7)
    assert comparisons.quartiles([1, 2]) == (1.25, 1.5, 1.75)


@pytest.mark.parametrize(
    ("value", "direction", "rank", "quartile", "text"),
    [
        (10, "lower-is-better", 1, 1, "blant den beste fjerdedelen"),
        (40, "lower-is-better", 4, 4, "blant den svakeste fjerdedelen"),
        (20, "lower-is-better", 2, 2, "bedre enn medianen"),
        (30, "higher-is-better", 2, 3, "bedre enn medianen"),
        (30, "neither", 2, 3, "over medianen"),
    ],
)
def test_where_a_value_stands(value, direction, rank, quartile, text):
    s = comparisons.standing(value, [10, 20, 30, 40], direction)
    assert (s.rank, s.of, s.quartile, s.text) == (rank, 4, quartile, text)


def history() -> list[CloudEvent[Any]]:
    return [
        version("1702", "Steinkjer", 1964, 2018),
        version("1724", "Verran", 1964, 2018),
        version("5004", "Steinkjer", 2018, 2020, ("1702", 2017), sequence=2),
        version("5039", "Verran", 2018, 2020, ("1724", 2017), sequence=2),
        version("5006", "Steinkjer", 2020, None, ("5004", 2019), ("5039", 2019), sequence=3),
        version("5001", "Trondheim", 2018, None),
        version("5025", "Røros", 2018, None),
        version("5035", "Stjørdal", 2018, None),
        version("0301", "Oslo", 1964, None),
    ]


def network(codes: list[str]) -> list[CloudEvent[Any]]:
    network_id = uuid.uuid4()
    events: list[CloudEvent[Any]] = [
        CloudEvent.wrap(
            NetworkCreated(
                network_id=network_id,
                name="Klimanettverket Trøndelag",
                themes=["klima-energi", "areal"],
                county="50",
                period_start=date(2018, 1, 1),
                period_end=date(2020, 12, 31),
                enrolment_deadline=date(2018, 3, 1),
            ),
            sequence=1,
        )
    ]
    for i, code in enumerate(codes):
        ref = {"kommunenummer": code, "valid_on": date(2018, 2, 1)}
        events.append(
            CloudEvent.wrap(MunicipalityInvited(network_id=network_id, municipality=ref), sequence=2 + 2 * i)
        )
        events.append(
            CloudEvent.wrap(EnrolmentConfirmed(network_id=network_id, municipality=ref), sequence=3 + 2 * i)
        )
    return events


VALUES = [
    reported("1702", 2016, 9.0),
    reported("1702", 2017, 8.0),
    reported("1724", 2017, 12.0),
    reported("5004", 2018, 7.5, status="preliminary"),
    reported("5004", 2019, 5.0, revision=1, sequence=1),
    reported("5004", 2019, 20.0, revision=2, sequence=2),  # a correction: the value of record
    reported("5001", 2019, 10.0),
    reported("5025", 2019, 30.0),
    reported("5035", 2019, 40.0),
    reported("5039", 2019, 11.0),
    reported("0301", 2019, 1.0),
]


@pytest.fixture
async def reporting(start_service):
    client = await start_service("reporting")
    conn = await asyncpg.connect(client.app.state.settings.database_url)
    try:
        async with conn.transaction():
            for batch in (history(), [defined()], VALUES, network(["5004", "5001", "5025"])):
                await SPEC.consumes.apply(conn, batch)
    finally:
        await conn.close()
    return client


async def test_a_comparison_checked_by_hand(reporting, token):
    reader = {"Authorization": f"Bearer {token('reader')}"}
    answer = await reporting.get(f"/indicators/{INDICATOR}/comparisons/5004?year=2019", headers=reader)
    assert answer.status_code == 200, answer.text
    c = answer.json()
    assert (c["kommunenummer"], c["name"], c["value"]["value"]) == ("5004", "Steinkjer", 20.0)
    # Its own years, each under the code in use that year.
    assert [(o["year"], o["kommunenummer"], o["value"], o["provisional"]) for o in c["own_years"]] == [
        (2016, "1702", 9.0, False),
        (2017, "1702", 8.0, False),
        (2018, "5004", 7.5, True),
        (2019, "5004", 20.0, False),
    ]
    groups = {g["kind"]: g for g in c["groups"]}
    county = groups["county"]
    # 10, 20, 30, 40 (5001, 5004, 5025, 5035) and Verran's 11 (5039): five values in Trøndelag.
    assert (county["id"], county["label"], county["count"]) == ("50", "Trøndelag", 5)
    assert (county["q1"], county["median"], county["q3"]) == (11.0, 20.0, 30.0)
    assert county["standing"] == {"rank": 3, "of": 5, "quartile": 3, "text": "på medianen"}
    country = groups["country"]
    assert (country["count"], country["q1"], country["median"], country["q3"]) == (6, 10.25, 15.5, 27.5)
    assert (country["minimum"], country["maximum"]) == (1.0, 40.0)
    assert country["standing"]["rank"] == 4 and country["standing"]["text"] == "svakere enn medianen"
    net = groups["network"]
    # The network's three: 10, 20, 30: 5004 on the median, second best (lower is better).
    assert (net["label"], net["members"], net["count"], net["median"]) == (
        "Klimanettverket Trøndelag",
        3,
        3,
        20.0,
    )
    assert (net["q1"], net["q3"], net["standing"]["rank"]) == (15.0, 25.0, 2)


async def test_harmonised_merged_codes_are_combined_by_population(reporting, token):
    reader = {"Authorization": f"Bearer {token('reader')}"}
    # Asked as the old code, harmonised to 2020: Steinkjer and Verran are one, 5006, their
    # values weighted by population on 1 January 2019; the county has 10, 30, 40 and that.
    c = (
        await reporting.get(
            f"/indicators/{INDICATOR}/comparisons/1702?year=2019&harmonised_to=2020", headers=reader
        )
    ).json()
    s, v = population("5004", 2019), population("5039", 2019)
    assert s and v
    combined = round((20.0 * s + 11.0 * v) / (s + v), 1)
    assert c["kommunenummer"] == "5006" and c["value"]["value"] == combined
    assert c["value"]["parts"] == ["5004", "5039"]
    county = next(g for g in c["groups"] if g["kind"] == "county")
    ordered = sorted([10.0, 30.0, 40.0, combined])
    assert county["count"] == 4 and county["median"] == (ordered[1] + ordered[2]) / 2
    # Earlier years under 5006 too: 2017 combines 1702 and 1724 (2016 lacks Verran's value).
    own = {o["year"]: o for o in c["own_years"]}
    assert own[2016]["value"] is None and own[2017]["parts"] == ["1702", "1724"]
    p1, p2 = population("1702", 2017), population("1724", 2017)
    assert p1 and p2
    assert own[2017]["value"] == round((8.0 * p1 + 12.0 * p2) / (p1 + p2), 1)


async def test_a_four_value_county_by_hand(start_service, token):
    client = await start_service("reporting")
    conn = await asyncpg.connect(client.app.state.settings.database_url)
    try:
        async with conn.transaction():
            await SPEC.consumes.apply(conn, [defined()])
            await SPEC.consumes.apply(
                conn,
                [reported(k, 2019, v) for k, v in (("5001", 40), ("5004", 10), ("5025", 30), ("5035", 20))],
            )
    finally:
        await conn.close()
    c = (
        await client.get(
            f"/indicators/{INDICATOR}/comparisons/5035?year=2019",
            headers={"Authorization": f"Bearer {token('reader')}"},
        )
    ).json()
    county = next(g for g in c["groups"] if g["kind"] == "county")
    assert (county["q1"], county["median"], county["q3"]) == (17.5, 25.0, 32.5)
    assert county["standing"] == {"rank": 2, "of": 4, "quartile": 2, "text": "bedre enn medianen"}


async def test_unknown_indicator_and_bad_input(reporting, token):
    reader = {"Authorization": f"Bearer {token('reader')}"}
    assert (
        await reporting.get("/indicators/nope/comparisons/5004?year=2019", headers=reader)
    ).status_code == 404
    assert (
        await reporting.get(f"/indicators/{INDICATOR}/comparisons/50x4?year=2019", headers=reader)
    ).status_code == 422
    assert (
        await reporting.get(f"/indicators/{INDICATOR}/comparisons/5004", headers=reader)
    ).status_code == 422
    assert (await reporting.get(f"/indicators/{INDICATOR}/comparisons/5004?year=2019")).status_code == 401
