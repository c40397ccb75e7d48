"""The seed's tables, made from events that travel over Kafka from the registry's API to reporting,
and read back as a statistics client reads them (pyjstat):

- slide 5: the networks per theme in 2006 (19 klima-energi, 18 areal, 13 folkehelse-friluftsliv,
  7 produksjon-forbruk, 3 internasjonalt, 5 kulturarv);
- Steinkjer and Verran through the reforms: 1702 and 1724 (Nord-Trøndelag, 17) until 2017, 5004
  and 5039 (Trøndelag, 50) in 2018-2019, one municipality 5006 from 2020: counted under the code of
  each year, and once when harmonised to 2020's codes.
"""

from __future__ import annotations

import json
from datetime import date

from jsonstat_validator import validate_jsonstat
from pyjstat import pyjstat

from services.reporting.app import SPEC
from tests.reporting.events import caught_up

SLIDE_5 = {
    "klima-energi": 19,
    "areal": 18,
    "folkehelse-friluftsliv": 13,
    "produksjon-forbruk": 7,
    "internasjonalt": 3,
    "kulturarv": 5,
}


def themes_of_networks() -> list[list[str]]:
    """32 networks of two themes or more (one has three) whose theme counts are slide 5's:
    the 65 theme places dealt out in order, so no network gets a theme twice."""
    networks: list[list[str]] = [[] for _ in range(32)]
    place = 0
    for theme, count in SLIDE_5.items():
        for _ in range(count):
            networks[place % 32].append(theme)
            place += 1
    return networks


def frame(document: dict) -> dict[tuple[str, ...], float]:
    df = pyjstat.Dataset.read(json.dumps(document)).write("dataframe", naming="id")
    return {tuple(str(row[d]) for d in document["id"]): row["value"] for _, row in df.iterrows()}


async def test_the_networks_per_theme_of_2006_come_out_as_slide_5(start_service, bootstrap, token):
    registry = await start_service("registry", today=date(2006, 1, 10))
    reporting = await start_service("reporting")
    staff = {"Authorization": f"Bearer {token('staff')}"}
    for n, themes in enumerate(themes_of_networks(), start=1):
        assert len(themes) >= 2 and len(set(themes)) == len(themes)
        created = await registry.post(
            "/networks",
            json={
                "name": f"Nettverk {n} (2006)",
                "themes": themes,
                "period_start": "2006-01-01",
                "period_end": "2006-12-31",
                "enrolment_deadline": "2006-03-01",
            },
            headers=staff,
        )
        assert created.status_code == 201, created.text
    await caught_up(bootstrap, reporting.app.state.settings.consumer_group, SPEC.consumes.topics)

    answer = await reporting.get("/statistics/networks-per-theme")
    document = answer.json()
    assert validate_jsonstat(document)
    table = frame(document)
    assert {theme: table[(theme, "nettverk", "2006")] for theme in SLIDE_5} == SLIDE_5

    labelled = pyjstat.Dataset.read(answer.text).write("dataframe")
    of_2006 = labelled[labelled["år"] == "2006"]
    assert dict(zip(of_2006["temaområde"], of_2006["value"], strict=True)) == {
        "Klima og energi": 19,
        "Viktige arealpolitiske hensyn": 18,
        "Friluftsliv, folkehelse og livskvalitet": 13,
        "Framtidsrettet produksjon og forbruk, miljøbasert næringsutvikling": 7,
        "Internasjonalt samarbeid": 3,
        "Kulturarven som grunnlag for nærings- og samfunnsutvikling": 5,
    }


async def test_steinkjer_and_verran_count_under_each_years_code_and_once_when_harmonised(
    start_service, bootstrap, token
):
    # The registry imports SSB KLASS 131 (bundled) at its start and publishes every municipality's
    # versions: reporting learns the code history from those events.
    registry = await start_service("registry", today=date(2017, 1, 20))
    reporting = await start_service("reporting")
    staff = {"Authorization": f"Bearer {token('staff')}"}
    created = await registry.post(
        "/networks",
        json={
            "name": "Innherred 2017-2020",
            "themes": ["areal", "folkehelse-friluftsliv"],
            "county": "17",
            "period_start": "2017-01-01",
            "period_end": "2020-12-31",
            "enrolment_deadline": "2017-02-15",
        },
        headers=staff,
    )
    assert created.status_code == 201, created.text
    network = created.json()["id"]
    for kommune in ("1702", "1724"):
        invited = await registry.post(
            f"/networks/{network}/invitations", json={"kommunenummer": kommune}, headers=staff
        )
        assert invited.status_code == 201, invited.text
        own = {"Authorization": f"Bearer {token('municipality', kommune=kommune)}"}
        enrolled = await registry.post(
            f"/networks/{network}/enrolments", json={"kommunenummer": kommune}, headers=own
        )
        assert enrolled.status_code == 201, enrolled.text
    await caught_up(bootstrap, reporting.app.state.settings.consumer_group, SPEC.consumes.topics)

    years = {"from_year": "2017", "to_year": "2020"}
    counties = (await reporting.get("/statistics/participating-municipalities", params=years)).json()
    assert validate_jsonstat(counties)
    by_county = frame(counties)
    assert by_county[("17", "kommuner", "2017")] == 2
    assert by_county[("50", "kommuner", "2018")] == 2
    assert by_county[("50", "kommuner", "2019")] == 2
    assert by_county[("50", "kommuner", "2020")] == 1
    assert counties["dimension"]["fylke"]["category"]["label"]["17"] == "Nord-Trøndelag"

    municipalities = (await reporting.get("/statistics/networks-per-municipality", params=years)).json()
    assert validate_jsonstat(municipalities)
    each_year = {k: v for k, v in frame(municipalities).items() if v == v and v}
    assert each_year == {
        ("1702", "nettverk", "2017"): 1,
        ("1724", "nettverk", "2017"): 1,
        ("5004", "nettverk", "2018"): 1,
        ("5039", "nettverk", "2018"): 1,
        ("5004", "nettverk", "2019"): 1,
        ("5039", "nettverk", "2019"): 1,
        ("5006", "nettverk", "2020"): 1,
    }
    labels = municipalities["dimension"]["kommune"]["category"]["label"]
    assert (labels["1702"], labels["5039"], labels["5006"]) == ("Steinkjer", "Verran", "Steinkjer")

    harmonised = (
        await reporting.get(
            "/statistics/networks-per-municipality", params={**years, "harmonised_to": "2020"}
        )
    ).json()
    assert validate_jsonstat(harmonised)
    assert {k: v for k, v in frame(harmonised).items() if v == v and v} == {
        ("5006", "nettverk", str(year)): 1 for year in range(2017, 2021)
    }
    assert harmonised["extension"]["livskraft"]["harmonised_to"] == 2020
    assert any("slått sammen" in note for note in harmonised["note"])
    harmonised_counties = (
        await reporting.get(
            "/statistics/participating-municipalities", params={**years, "harmonised_to": "2020"}
        )
    ).json()
    assert {k: v for k, v in frame(harmonised_counties).items() if v == v and v} == {
        ("50", "kommuner", str(year)): 1 for year in range(2017, 2021)
    }
