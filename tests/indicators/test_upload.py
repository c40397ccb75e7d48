"""Uploading a CSV file of values for one municipality: all or nothing. A file with a bad row saves
nothing, and its problem names every bad row (its line) and field."""

from __future__ import annotations

from tests.indicators.conftest import World, refused

GOOD = (
    "indicator,year,value,total,status,comment\n"
    "nye-boliger-i-sentrum,2008,38.0,,final,\n"
    "nye-boliger-i-sentrum,2009,41.5,,preliminary,Foreløpige tall\n"
    "klimagassutslipp-per-innbygger,2009,,131000,final,Miljødirektoratet\n"
    "kulturminner-registrert,2009,42,,final,\n"
)


async def test_a_good_file_is_saved_whole_with_an_event_per_value(world: World):
    answer = await world.upload("1702", GOOD)
    assert answer.status_code == 200, answer.text
    accepted = answer.json()
    assert (accepted["rows"], accepted["reported"], accepted["unchanged"], accepted["corrections"]) == (
        4,
        4,
        0,
        0,
    )
    assert accepted["event_types"] == ["no.ks.livskraft.reporting.IndicatorReported.v1"] * 4
    values = {(v["indicator"], v["year"]): v["value"] for v in await world.values("1702")}
    assert values == {
        ("nye-boliger-i-sentrum", 2008): 38.0,
        ("nye-boliger-i-sentrum", 2009): 41.5,
        ("klimagassutslipp-per-innbygger", 2009): 6.28,
        ("kulturminner-registrert", 2009): 42.0,
    }

    again = await world.upload("1702", GOOD)
    assert (again.json()["reported"], again.json()["unchanged"], again.json()["event_ids"]) == (0, 4, [])


async def test_a_norwegian_spreadsheets_file_is_read(world: World):
    text = (
        "\ufeffindicator;year;value;status\n"
        "nye-boliger-i-sentrum;2009;41,5;endelig\n"
        "merkede-turstier;2009;12,3;foreløpig\n"
    )
    answer = await world.upload("1702", text.encode())
    assert answer.status_code == 200, answer.text
    values = {v["indicator"]: (v["value"], v["status"]) for v in await world.values("1702")}
    assert values == {"nye-boliger-i-sentrum": (41.5, "final"), "merkede-turstier": (12.3, "preliminary")}


async def test_every_bad_row_is_named_and_nothing_is_saved(world: World):
    await world.report("1702", indicator="nye-boliger-i-sentrum", year=2007, value=35.0, status="final")
    before = await world.state()
    text = (
        "indicator,year,value,status,comment\n"
        "nye-boliger-i-sentrum,2008,38.0,final,\n"  # line 2: good
        "nye-boliger-i-sentrum,2011,38.0,final,\n"  # line 3: a year not begun
        "ukjent,2009,1,final,\n"  # line 4: not in the catalogue
        "nye-boliger-i-sentrum,2006,100.5,final,\n"  # line 5: above 100 %
        "nye-boliger-i-sentrum,2007,36.0,final,\n"  # line 6: changes a final value silently
        "merkede-turstier,2009,12.34,final,\n"  # line 7: two decimals, one allowed
        "kulturminner-registrert,2009,42,final,\n"  # line 8: good
    )
    answer = await world.upload("1702", text)
    body = refused(answer, 422, "rows[3].year")
    assert body["title"] == "Invalid file"
    assert [e["field"] for e in body["errors"]] == [
        "rows[3].year",
        "rows[4].indicator",
        "rows[5].value",
        "rows[6].supersedes_revision",
        "rows[7].value",
    ]
    assert "nothing saved" in body["detail"]
    assert await world.state() == before  # not even lines 2 and 8


async def test_a_file_of_the_wrong_shape_is_named_and_saves_nothing(world: World):
    before = await world.state()
    cases = [
        (b"", "file"),
        (b"\xff\xfe\x00i", "file"),
        (b"indicator,year,value,status,owner\nnye-boliger-i-sentrum,2009,1,final,Ola\n", "rows[1].owner"),
        (b"indicator,value,status\nnye-boliger-i-sentrum,1,final\n", "rows[1].year"),
        (b"indicator,year,value,status\nnye-boliger-i-sentrum,2009,1,final,extra\n", "rows[2].file"),
        (
            b"indicator,year,value,status\nnye-boliger-i-sentrum,2009,1,final\nnye-boliger-i-sentrum,2009,2,final\n",
            "rows[3].indicator",
        ),
    ]
    for data, field in cases:
        refused(await world.upload("1702", data), 422, field)
    assert await world.state() == before


async def test_a_file_is_for_the_municipality_itself_only(world: World):
    before = await world.state()
    answer = await world.upload("1702", GOOD, headers=world.municipality("1724"))
    assert answer.status_code == 403, answer.text
    assert await world.state() == before


async def test_a_file_corrects_a_final_value_explicitly(world: World):
    await world.report("1702", indicator="nye-boliger-i-sentrum", year=2009, value=41.5, status="final")
    text = (
        "indicator,year,value,status,supersedes_revision,comment\n"
        "nye-boliger-i-sentrum,2009,40.0,final,1,Feil i sentrumsavgrensningen\n"
    )
    answer = await world.upload("1702", text)
    assert answer.status_code == 200, answer.text
    assert answer.json()["corrections"] == 1
    history = await world.history("1702", "nye-boliger-i-sentrum", 2009)
    assert [(r["revision"], r["value"], r["correction"]) for r in history] == [
        (1, 41.5, False),
        (2, 40.0, True),
    ]
