"""`livskraft demo` step 5: the scenario's municipalities report an indicator through the
indicators service (IndicatorReported on Kafka), and reporting's comparison is printed."""

from __future__ import annotations

import statistics
from datetime import date

import asyncpg
from livskraft_contracts import CloudEvent, MunicipalityRegistered

from services.devtools import demo
from services.indicators.app import SPEC as INDICATORS
from services.reporting.app import SPEC as REPORTING


def _codes() -> list[CloudEvent[MunicipalityRegistered]]:
    return [
        CloudEvent.wrap(
            MunicipalityRegistered(
                kommunenummer=code,
                name=name,
                county="17",
                valid_from=date(1964, 1, 1),
                valid_to=date(2018, 1, 1),
            ),
            sequence=1,
        )
        for code, name in demo.MUNICIPALITIES.items()
    ]


async def test_the_demo_reports_values_and_prints_a_comparison(start_service, token):
    indicators = await start_service("indicators", today=demo.SCENARIO_DAY)
    reporting = await start_service("reporting", today=demo.SCENARIO_DAY)
    for service, spec in ((indicators, INDICATORS), (reporting, REPORTING)):
        conn = await asyncpg.connect(service.app.state.settings.database_url)
        try:
            async with conn.transaction():
                await spec.consumes.apply(conn, _codes())
        finally:
            await conn.close()
    said: list[str] = []
    comparison = await demo.play_indicators(
        indicators, reporting, lambda role, kommune: token(role, kommune=kommune), said.append
    )
    assert said[0].startswith("5. 5 municipalities reported")
    assert comparison["kommunenummer"] == "1702" and comparison["name"] == "Steinkjer"
    assert comparison["value"] == {
        "kommunenummer": "1702",
        "year": 2010,
        "value": 5.84,
        "provisional": True,
        "parts": [],
    }
    assert [(o["year"], o["value"]) for o in comparison["own_years"]] == [(2009, 6.12), (2010, 5.84)]
    county = next(g for g in comparison["groups"] if g["kind"] == "county")
    values = [v[1] for v in demo.INDICATOR_VALUES.values()]
    assert county["count"] == 5 and county["median"] == statistics.median(values)
    assert county["standing"]["rank"] == 2  # only Levanger's 5.60 is lower
    assert any("Nord-Trøndelag" in line and "rank 2 of 5" in line for line in said), said
