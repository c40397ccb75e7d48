"""The statistics' rules, pure: codes through reforms, what each dataset counts, provisional years,
the options refused, and the JSON-stat and CSV made of a cube."""

from __future__ import annotations

import csv
import io
import itertools
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from jsonstat_validator import validate_jsonstat

from services.reporting import domain, jsonstat, reference
from services.reporting.domain import CodeHistory, Facts, MemberFact, NetworkFact, Options, Ref, Version

TODAY = date(2026, 6, 1)


def steinkjer_and_verran() -> CodeHistory:
    """SSB KLASS 131: Steinkjer 1702 -> 5004 (2018) -> 5006 (2020, with Verran 1724 -> 5039)."""
    return CodeHistory(
        [
            Version("1702", "Steinkjer", "17", date(2006, 1, 1), date(2018, 1, 1)),
            Version("1724", "Verran", "17", date(2006, 1, 1), date(2018, 1, 1)),
            Version(
                "5004",
                "Steinkjer",
                "50",
                date(2018, 1, 1),
                date(2020, 1, 1),
                (Ref("1702", date(2017, 12, 31)),),
            ),
            Version(
                "5039", "Verran", "50", date(2018, 1, 1), date(2020, 1, 1), (Ref("1724", date(2017, 12, 31)),)
            ),
            Version(
                "5006",
                "Steinkjer",
                "50",
                date(2020, 1, 1),
                None,
                (Ref("5004", date(2019, 12, 31)), Ref("5039", date(2019, 12, 31))),
            ),
        ]
    )


def cells(document: dict) -> dict[tuple[str, ...], object]:
    """(category of each dimension) -> value, from a JSON-stat dataset."""
    indexes = [document["dimension"][d]["category"]["index"] for d in document["id"]]
    return dict(zip(itertools.product(*indexes), document["value"], strict=True))


def statuses(document: dict) -> dict[tuple[str, ...], str]:
    keys = list(cells(document))
    return {keys[int(position)]: symbol for position, symbol in document.get("status", {}).items()}


def render(cube: jsonstat.Cube) -> dict:
    document = jsonstat.dataset(
        cube, href="http://test/statistics/x", source="test", updated=datetime.now(UTC)
    )
    assert validate_jsonstat(json.loads(json.dumps(document)))
    return document


# -- Codes through time --------------------------------------------------------------------------------


def test_a_code_follows_renumbering_and_merger_forward():
    history = steinkjer_and_verran()
    assert history.code_on("1702", date(2010, 1, 20), date(2017, 1, 1)) == "1702"
    assert history.code_on("1702", date(2010, 1, 20), date(2018, 1, 1)) == "5004"  # the reform's first day
    assert history.code_on("1702", date(2010, 1, 20), date(2019, 12, 31)) == "5004"
    assert history.code_on("1724", date(2010, 1, 20), date(2019, 1, 1)) == "5039"
    assert history.code_on("1724", date(2010, 1, 20), date(2020, 1, 1)) == "5006"
    assert history.code_on("1702", date(2010, 1, 20), date(2024, 1, 1)) == "5006"


def test_a_merged_code_goes_back_to_the_predecessor_with_its_name():
    history = steinkjer_and_verran()
    assert history.code_on("5006", date(2021, 1, 1), date(2019, 1, 1)) == "5004"
    assert history.code_on("5006", date(2021, 1, 1), date(2010, 1, 1)) == "1702"
    assert history.code_on("5039", date(2018, 6, 1), date(2010, 1, 1)) == "1724"


def test_a_code_the_history_does_not_know_stays_as_given():
    assert steinkjer_and_verran().code_on("0301", date(2010, 1, 1), date(2020, 1, 1)) == "0301"
    assert CodeHistory([]).code_on("1702", date(2010, 1, 1), date(2020, 1, 1)) == "1702"


def test_the_bundled_counties_know_trondelag_and_the_2024_split():
    counties = reference.counties()
    names = {c.fylkesnummer: c.name for c in counties}
    assert names["17"] == "Nord-Trøndelag" and names["50"] == "Trøndelag"
    on = date(2019, 1, 1)
    assert len([c for c in counties if c.holds_on(on)]) == 18
    assert len([c for c in counties if c.holds_on(date(2024, 1, 1))]) == 15


# -- What the datasets count ------------------------------------------------------------------------------


def merger_facts() -> Facts:
    network = uuid.uuid4()
    return Facts(
        networks=[
            NetworkFact(network, "Innherred", ("areal", "kulturarv"), date(2017, 1, 1), date(2020, 12, 31))
        ],
        members=[
            MemberFact(network, "1702", date(2017, 1, 20), "confirmed"),
            MemberFact(network, "1724", date(2017, 1, 20), "submitted"),
        ],
        history=steinkjer_and_verran(),
        counties=reference.counties(),
    )


def test_participating_municipalities_by_the_county_codes_of_each_year():
    document = render(domain.participating_municipalities(merger_facts(), Options(today=TODAY)))
    values, symbols = cells(document), statuses(document)
    assert document["dimension"]["tid"]["category"]["index"] == ["2017", "2018", "2019", "2020"]
    assert values[("17", "kommuner", "2017")] == 2
    assert values[("50", "kommuner", "2018")] == 2  # 5004 and 5039
    assert values[("50", "kommuner", "2020")] == 1  # 5006: one municipality now
    assert values[("17", "kommuner", "2018")] is None and symbols[("17", "kommuner", "2018")] == "."
    assert symbols[("50", "kommuner", "2017")] == "."
    assert values[("03", "kommuner", "2019")] == 0
    assert document["role"] == {"geo": ["fylke"], "metric": ["statistikkvariabel"], "time": ["tid"]}
    assert document["dimension"]["fylke"]["category"]["label"]["50"] == "Trøndelag"


def test_networks_per_municipality_under_the_code_of_each_year_and_once_when_harmonised():
    facts = merger_facts()
    each_year = cells(render(domain.networks_per_municipality(facts, Options(today=TODAY))))
    assert {k: v for k, v in each_year.items() if v} == {
        ("1702", "nettverk", "2017"): 1,
        ("1724", "nettverk", "2017"): 1,
        ("5004", "nettverk", "2018"): 1,
        ("5039", "nettverk", "2018"): 1,
        ("5004", "nettverk", "2019"): 1,
        ("5039", "nettverk", "2019"): 1,
        ("5006", "nettverk", "2020"): 1,
    }
    harmonised = render(domain.networks_per_municipality(facts, Options(today=TODAY, harmonised_to=2020)))
    assert cells(harmonised) == {("5006", "nettverk", str(y)): 1 for y in range(2017, 2021)}
    assert harmonised["extension"]["livskraft"] == {
        "dataset": "networks-per-municipality",
        "codes": "harmonised",
        "harmonised_to": 2020,
    }
    assert any("telles én gang" in note for note in harmonised["note"])
    counties = cells(
        render(domain.participating_municipalities(facts, Options(today=TODAY, harmonised_to=2020)))
    )
    assert {k: v for k, v in counties.items() if v} == {
        ("50", "kommuner", str(y)): 1 for y in range(2017, 2021)
    }


def test_a_withdrawn_or_only_invited_member_does_not_take_part():
    facts = merger_facts()
    network = facts.networks[0].network_id
    facts = Facts(
        networks=facts.networks,
        members=[
            MemberFact(network, "1702", date(2017, 1, 20), "withdrawn"),
            MemberFact(network, "1724", date(2017, 1, 20), "invited"),
        ],
        history=facts.history,
        counties=facts.counties,
    )
    assert not any(cells(render(domain.participating_municipalities(facts, Options(today=TODAY)))).values())


def test_networks_per_theme_counts_each_theme_each_year_of_the_period_but_not_cancelled_networks():
    facts = Facts(
        networks=[
            NetworkFact(uuid.uuid4(), "A", ("klima-energi", "areal"), date(2006, 1, 1), date(2007, 6, 30)),
            NetworkFact(
                uuid.uuid4(), "B", ("klima-energi", "kulturarv"), date(2006, 3, 1), date(2006, 12, 31)
            ),
            NetworkFact(
                uuid.uuid4(), "C", ("areal", "kulturarv"), date(2006, 1, 1), date(2006, 12, 31), "cancelled"
            ),
            NetworkFact(
                uuid.uuid4(), "D", ("areal", "kulturarv"), date(2006, 1, 1), date(2006, 12, 31), "completed"
            ),
        ]
    )
    values = cells(render(domain.networks_per_theme(facts, Options(today=TODAY))))
    assert values[("klima-energi", "nettverk", "2006")] == 2
    assert values[("klima-energi", "nettverk", "2007")] == 1
    assert values[("areal", "nettverk", "2006")] == 2
    assert values[("kulturarv", "nettverk", "2006")] == 2
    assert values[("internasjonalt", "nettverk", "2006")] == 0


def test_the_year_not_yet_over_is_provisional_and_the_one_before_is_not():
    facts = Facts(
        networks=[
            NetworkFact(uuid.uuid4(), "A", ("areal", "kulturarv"), date(2025, 1, 1), date(2026, 12, 31))
        ]
    )
    document = render(domain.networks_per_theme(facts, Options(today=date(2026, 1, 1))))
    symbols = statuses(document)
    assert symbols[("areal", "nettverk", "2026")] == "p"
    assert ("areal", "nettverk", "2025") not in symbols
    assert document["extension"]["status"] == {"p": jsonstat.STATUS_LABELS["p"]}


def test_years_asked_for_are_shown_even_without_data():
    document = render(
        domain.decisions_per_body(Facts(), Options(today=TODAY, first_year=2008, last_year=2010))
    )
    assert document["dimension"]["tid"]["category"]["index"] == ["2008", "2009", "2010"]
    assert set(document["value"]) == {0}


def test_gatherings_and_attendance_per_network_and_year():
    network = uuid.uuid4()
    facts = Facts(
        networks=[
            NetworkFact(network, "Natur", ("areal", "kulturarv"), date(2010, 1, 1), date(2010, 12, 31))
        ],
        gatherings=[
            domain.GatheringFact(network, "held", date(2010, 3, 1), (("politician", 3), ("management", 2))),
            domain.GatheringFact(network, "held", date(2010, 9, 1), (("politician", 1), ("resource", 4))),
            domain.GatheringFact(network, "cancelled", None),
        ],
    )
    document = render(domain.gatherings_and_attendance(facts, Options(today=TODAY, first_year=2009)))
    values, symbols = cells(document), statuses(document)
    key = str(network)
    assert values[(key, "samlinger", "2010")] == 2
    assert values[(key, "oppmote-politician", "2010")] == 4
    assert values[(key, "oppmote-resource", "2010")] == 4
    assert values[(key, "oppmote-department", "2010")] == 0
    assert symbols[(key, "samlinger", "2009")] == "."  # the network had not begun
    units = document["dimension"]["statistikkvariabel"]["category"]["unit"]
    assert units["samlinger"] == {"label": "samlinger", "decimals": 0}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"first_year": 2010, "last_year": 2009}, "to_year"),
        ({"first_year": 1899}, "from_year"),
        ({"harmonised_to": 2101}, "harmonised_to"),
    ],
)
def test_options_refused_name_the_field(args, field):
    with pytest.raises(domain.Refused) as refused:
        domain.options(
            TODAY, args.get("first_year"), args.get("last_year"), args.get("harmonised_to"), geo=True
        )
    assert refused.value.field == field


def test_harmonising_a_dataset_without_geo_is_refused():
    with pytest.raises(domain.Refused) as refused:
        domain.options(TODAY, None, None, 2020, geo=False)
    assert refused.value.field == "harmonised_to"


def test_a_period_ending_on_its_first_day_is_one_year_and_ending_before_it_is_refused():
    assert domain.period_options(TODAY, date(2010, 1, 1), date(2010, 1, 1), None, geo=False).last_year == 2010
    with pytest.raises(domain.Refused) as backwards:
        domain.period_options(TODAY, date(2010, 1, 2), date(2010, 1, 1), None, geo=False)
    assert backwards.value.field == "period_end"
    with pytest.raises(domain.Refused) as too_early:
        domain.period_options(TODAY, date(1899, 12, 31), date(2010, 1, 1), None, geo=False)
    assert too_early.value.field == "period_start"


# -- CSV -------------------------------------------------------------------------------------------------


def test_csv_has_a_row_per_cell_with_codes_labels_value_and_status():
    document = render(domain.participating_municipalities(merger_facts(), Options(today=TODAY)))
    rows = list(csv.reader(io.StringIO(jsonstat.to_csv(document))))
    assert rows[0] == [
        "fylke",
        "fylke",
        "statistikkvariabel",
        "statistikkvariabel",
        "tid",
        "år",
        "verdi",
        "status",
    ]
    assert len(rows) == 1 + len(document["value"])
    by_cell = {(r[0], r[4]): r for r in rows[1:]}
    assert by_cell[("50", "2020")][1] == "Trøndelag" and by_cell[("50", "2020")][6] == "1"
    assert by_cell[("17", "2020")][6:] == ["", "."]
