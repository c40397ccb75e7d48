"""Reading SSB KLASS (kommuneinndeling 131) into dated versions, from the responses bundled with
the registry, and through the live-API code path (timeouts, retries) against those same responses."""

from __future__ import annotations

import ast
import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.registry.municipalities import klass
from services.registry.municipalities.klass import (
    CHANGES_FROM,
    KlassDataError,
    Kommuneinndeling,
    Snapshot,
    SuccessionKind,
    ordered_snapshots,
    parse_responses,
)
from services.registry.municipalities.sources import (
    BUNDLED,
    KLASS_API,
    fetch_kommuneinndeling,
    load_bundled,
    read_folder,
)

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kommuneinndeling() -> Kommuneinndeling:
    return load_bundled()


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- Counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "municipalities"),
    [
        ("2006-01-01", 431),
        ("2007-06-30", 431),
        ("2008-01-01", 430),
        ("2012-01-01", 429),
        ("2013-01-01", 428),
        ("2017-01-01", 426),
        ("2017-12-31", 426),
        ("2018-01-01", 422),
        ("2019-12-31", 422),
        ("2020-01-01", 356),
        ("2023-12-31", 356),
        ("2024-01-01", 357),
        ("2030-01-01", 357),
    ],
)
def test_municipalities_per_year(kommuneinndeling: Kommuneinndeling, day: str, municipalities: int) -> None:
    """9999 'Uoppgitt' is in every KLASS version but is no municipality."""
    on_day = kommuneinndeling.municipalities_on(d(day))
    assert len(on_day) == municipalities
    assert "9999" not in {m.kommunenummer for m in on_day}
    assert len({m.kommunenummer for m in on_day}) == municipalities  # one version per code and day


@pytest.mark.parametrize(
    ("day", "counties"),
    [("2006-01-01", 19), ("2017-12-31", 19), ("2018-01-01", 18), ("2020-01-01", 11), ("2024-01-01", 15)],
)
def test_counties_per_year(kommuneinndeling: Kommuneinndeling, day: str, counties: int) -> None:
    assert len(kommuneinndeling.counties_on(d(day))) == counties


def test_the_counties_of_2024(kommuneinndeling: Kommuneinndeling) -> None:
    assert [c.fylkesnummer for c in kommuneinndeling.counties_on(d("2024-01-01"))] == [
        "03",
        "11",
        "15",
        "18",
        "31",
        "32",
        "33",
        "34",
        "39",
        "40",
        "42",
        "46",
        "50",
        "55",
        "56",
    ]


# --- Steinkjer and other chains --------------------------------------------------------------


def test_steinkjer_1702_then_5004_then_5006(kommuneinndeling: Kommuneinndeling) -> None:
    (s1702,) = kommuneinndeling.versions_of("1702")
    (s5004,) = kommuneinndeling.versions_of("5004")
    (s5006,) = kommuneinndeling.versions_of("5006")

    assert (s1702.name, s1702.fylkesnummer, s1702.valid_to) == ("Steinkjer", "17", d("2018-01-01"))
    assert s1702.valid_from == CHANGES_FROM and not s1702.valid_from_known  # there before 1971
    assert s1702.successors == ("5004",)

    assert (s5004.name, s5004.fylkesnummer) == ("Steinkjer", "50")
    assert (s5004.valid_from, s5004.valid_to) == (d("2018-01-01"), d("2020-01-01"))
    assert (s5004.predecessors, s5004.successors) == (("1702",), ("5006",))

    assert (s5006.name, s5006.valid_from, s5006.valid_to) == ("Steinkjer", d("2020-01-01"), None)
    assert s5006.predecessors == ("5004", "5039")  # merged with Verran
    assert s5006.successors == ()


def test_steinkjer_links_say_how(kommuneinndeling: Kommuneinndeling) -> None:
    links = {(s.old_code, s.new_code): s for s in kommuneinndeling.successions}
    assert links[("1702", "5004")].kind == SuccessionKind.RENUMBER
    assert links[("1702", "5004")].old_valid_from == CHANGES_FROM
    assert links[("5004", "5006")].kind == SuccessionKind.MERGE
    assert links[("5039", "5006")].kind == SuccessionKind.MERGE
    assert links[("1724", "5039")].occurred == d("2018-01-01")  # Verran: 1724 -> 5039 -> 5006


def test_a_display_name_does_not_make_a_version(kommuneinndeling: Kommuneinndeling) -> None:
    """Versions 2011 and 2015 write 'Vang (Oppland)', the others 'Vang': no change record."""
    (vang,) = kommuneinndeling.versions_of("0545")
    assert (vang.name, vang.valid_to, vang.successors) == ("Vang", d("2020-01-01"), ("3454",))


def test_an_official_rename_makes_a_version(kommuneinndeling: Kommuneinndeling) -> None:
    before, after = kommuneinndeling.versions_of("1736")
    assert (before.name, before.valid_to) == ("Snåsa", d("2011-01-01"))
    assert (after.name, after.valid_from) == ("Snåase - Snåsa", d("2011-01-01"))
    assert after.predecessors == ("1736",)
    kinds = {(s.old_code, s.new_code, s.occurred): s.kind for s in kommuneinndeling.successions}
    assert kinds[("1736", "1736", d("2011-01-01"))] == SuccessionKind.RENAME


def test_a_merger_that_keeps_the_code_makes_a_version(kommuneinndeling: Kommuneinndeling) -> None:
    """Trondheim took in Klæbu (5030) in 2020 and kept 5001; renamed 'Trondheim - Tråante' in 2023."""
    versions = kommuneinndeling.versions_of("5001")
    assert [(v.valid_from, v.valid_to) for v in versions] == [
        (d("2018-01-01"), d("2020-01-01")),
        (d("2020-01-01"), d("2023-01-01")),
        (d("2023-01-01"), None),
    ]
    assert [v.predecessors for v in versions] == [("1601",), ("5001", "5030"), ("5001",)]
    assert versions[-1].name == "Trondheim - Tråante"


def test_alesund_split_in_2024(kommuneinndeling: Kommuneinndeling) -> None:
    (alesund,) = kommuneinndeling.versions_of("1507")
    assert (alesund.valid_from, alesund.valid_to) == (d("2020-01-01"), d("2024-01-01"))
    assert alesund.successors == ("1508", "1580")
    kinds = {(s.old_code, s.new_code): s.kind for s in kommuneinndeling.successions}
    assert kinds[("1507", "1508")] == kinds[("1507", "1580")] == SuccessionKind.SPLIT
    (haram,) = kommuneinndeling.versions_of("1580")
    assert (haram.name, haram.predecessors) == ("Haram", ("1507",))


def test_starts_come_from_the_change_table_when_before_the_data(kommuneinndeling: Kommuneinndeling) -> None:
    (vindafjord,) = kommuneinndeling.versions_of("1160")
    assert (vindafjord.valid_from, vindafjord.valid_from_known) == (d("2006-01-01"), True)
    assert vindafjord.predecessors == ("1154", "1159")
    (bodo,) = kommuneinndeling.versions_of("1804")
    assert (bodo.valid_from, bodo.valid_from_known, bodo.valid_to) == (d("2005-01-01"), True, None)
    assert kommuneinndeling.versions_of("0704")[0].valid_from == d("1988-01-01")


def test_without_the_change_table_start_a_code_starts_with_the_data() -> None:
    shallow = parse_responses(read_folder(BUNDLED), history_from=None)
    (steinkjer,) = shallow.versions_of("1702")
    assert (steinkjer.valid_from, steinkjer.valid_from_known) == (d("2006-01-01"), False)


def test_every_change_since_2006_lines_up_with_the_versions(kommuneinndeling: Kommuneinndeling) -> None:
    assert kommuneinndeling.unmatched_changes == ()
    for link in kommuneinndeling.successions:
        if link.occurred > d("2006-01-01"):
            assert link.old_valid_from is not None, link
    versions = {(m.kommunenummer, m.valid_from): m for m in kommuneinndeling.municipalities}
    for m in kommuneinndeling.municipalities:
        for code in m.successors:  # a successor starts the day its predecessor ends
            assert (code, m.valid_to) in versions


def test_same_as_the_derived_validity_file(kommuneinndeling: Kommuneinndeling) -> None:
    """derived_kommuner_validity_2006_2024.csv was built from all KLASS versions 1971-2024, more
    than the bundle holds: the yearly versions plus the change table give the same spans."""
    with (BUNDLED / "derived_kommuner_validity_2006_2024.csv").open(encoding="utf-8") as f:
        expected = {
            (
                r["kommunenummer"],
                r["name"],
                r["validFrom"],
                r["validTo"] or None,
                r["validFromIsEarliestInSource"] == "false",
                tuple(p for p in r["predecessors"].split(";") if p),
                tuple(s for s in r["successors"].split(";") if s),
            )
            for r in csv.DictReader(f)
            if r["kommunenummer"] != "9999"
        }
    derived = {
        (
            m.kommunenummer,
            m.name,
            m.valid_from.isoformat(),
            m.valid_to.isoformat() if m.valid_to else None,
            m.valid_from_known,
            m.predecessors,
            m.successors,
        )
        for m in kommuneinndeling.municipalities
    }
    assert derived == expected
    assert len(derived) == 870


# --- Counties --------------------------------------------------------------------------------


def test_trondelag_from_sor_and_nord_trondelag(kommuneinndeling: Kommuneinndeling) -> None:
    counties = {(c.fylkesnummer, c.valid_from): c for c in kommuneinndeling.counties}
    trondelag = counties[("50", d("2018-01-01"))]
    assert (trondelag.name, trondelag.valid_to, trondelag.predecessors) == ("Trøndelag", None, ("16", "17"))
    nord = counties[("17", CHANGES_FROM)]
    assert (nord.name, nord.valid_to, nord.successors) == ("Nord-Trøndelag", d("2018-01-01"), ("50",))


def test_a_county_that_goes_on_has_no_successor(kommuneinndeling: Kommuneinndeling) -> None:
    """Tjeldsund went from Nordland to Troms og Finnmark in 2020; Nordland went on."""
    counties = {(c.fylkesnummer, c.valid_from): c for c in kommuneinndeling.counties}
    assert counties[("18", CHANGES_FROM)].successors == ()
    assert counties[("18", CHANGES_FROM)].valid_to is None
    assert counties[("54", d("2020-01-01"))].predecessors == ("18", "19", "20")
    assert counties[("54", d("2020-01-01"))].successors == ("55", "56")


# --- Organisation numbers --------------------------------------------------------------------


def test_organisation_numbers_where_known(kommuneinndeling: Kommuneinndeling) -> None:
    """Correspondence 1236 names the municipalities of 2023: 356 numbers. None before 2020
    except across plain renames, none for the codes new in 2024."""
    on_2023 = kommuneinndeling.municipalities_on(d("2023-01-01"))
    assert sum(1 for m in on_2023 if m.organisasjonsnummer) == 356
    (steinkjer,) = kommuneinndeling.versions_of("5006")
    assert steinkjer.organisasjonsnummer == "840029212"
    assert kommuneinndeling.versions_of("1702")[0].organisasjonsnummer is None
    assert kommuneinndeling.versions_of("5004")[0].organisasjonsnummer is None
    assert kommuneinndeling.versions_of("1508")[0].organisasjonsnummer is None
    # 1236 writes 'Evenes - Evená??i' (a broken š); the number still lands, and carries over
    # the 2022 rename from 'Evenes'.
    assert {v.organisasjonsnummer for v in kommuneinndeling.versions_of("1853")} == {"940642140"}
    # A rename in 2024 keeps the number; a renumbering (1640 Røros -> 5025 in 2018) does not.
    assert kommuneinndeling.versions_of("1833")[-1].organisasjonsnummer is not None
    assert kommuneinndeling.versions_of("1640")[0].organisasjonsnummer is None


# --- Refusals --------------------------------------------------------------------------------


def test_versions_that_do_not_meet_are_refused() -> None:
    first = Snapshot(d("2006-01-01"), d("2008-01-01"), {"1702": "Steinkjer"})
    later = Snapshot(d("2011-01-01"), None, {"1702": "Steinkjer"})
    with pytest.raises(KlassDataError, match="do not meet"):
        ordered_snapshots([later, first])


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KlassDataError, match="Kommuneinndeling"):
        read_folder(tmp_path)


# --- The live API's code path, against the same responses ------------------------------------


def klass_api_double(
    folder: Path, folder_result: Kommuneinndeling
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """KLASS as an httpx transport: 131 answered from the saved files; 104 and its changes made
    from the folder's counties (no 104 response was saved); 1236 from the CSV as JSON."""
    responses = read_folder(folder)
    by_id: dict[str, Any] = {str(v["id"]): v for v in responses.municipality_versions}
    county_docs = _county_version_docs(folder_result, responses.municipality_versions)
    by_id.update({str(doc["id"]): doc for doc in county_docs})
    routes: dict[str, Any] = {
        "classifications/131": json.loads((folder / "131.json").read_text(encoding="utf-8")),
        "classifications/131/changes": dict(responses.municipality_changes),
        "classifications/104": {
            "versions": [{k: doc[k] for k in ("id", "name", "validFrom", "validTo")} for doc in county_docs]
        },
        "classifications/104/changes": {
            "codeChanges": [
                {
                    "oldCode": s.old_code,
                    "oldName": "",
                    "newCode": s.new_code,
                    "newName": "",
                    "changeOccurred": s.occurred.isoformat(),
                }
                for s in folder_result.county_successions
            ]
        },
        "correspondencetables/1236": {"correspondenceMaps": list(responses.organisation_numbers)},
    }
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path.removeprefix("/api/klass/v1/")
        if path.startswith("versions/") and path.removeprefix("versions/") in by_id:
            return httpx.Response(200, json=by_id[path.removeprefix("versions/")])
        if path in routes:
            return httpx.Response(200, json=routes[path])
        return httpx.Response(404, json={"error": path})

    return httpx.MockTransport(handle), seen


def _county_version_docs(result: Kommuneinndeling, municipal: Any) -> list[dict[str, Any]]:
    docs = []
    for n, version in enumerate(sorted(municipal, key=lambda v: v["validFrom"])):
        day = d(version["validFrom"])
        docs.append(
            {
                "id": 90000 + n,
                "name": f"Fylkesinndeling {day.year}",
                "validFrom": version["validFrom"],
                "validTo": version.get("validTo"),
                "classificationItems": [
                    {"code": c.fylkesnummer, "parentCode": None, "level": "1", "name": c.name}
                    for c in result.counties_on(day)
                ]
                + [{"code": "99", "parentCode": None, "level": "1", "name": "Uoppgitt"}],
            }
        )
    return docs


async def test_the_live_api_path_reads_the_same(kommuneinndeling: Kommuneinndeling) -> None:
    transport, seen = klass_api_double(BUNDLED, kommuneinndeling)
    fetched = await fetch_kommuneinndeling(KLASS_API, transport=transport)

    assert fetched == kommuneinndeling
    assert all(r.headers["accept"] == "application/json" for r in seen)
    assert all(not r.url.path.endswith(".json") for r in seen)
    changes = next(r for r in seen if r.url.path.endswith("/classifications/131/changes"))
    assert changes.url.params["from"] == "1971-01-01"
    fetched_versions = {r.url.path.rsplit("/", 1)[-1] for r in seen if "/versions/" in r.url.path}
    assert {"476", "833", "1860", "1710"} <= fetched_versions  # 2006, 2018, 2020, 2024
    assert "477" not in fetched_versions  # 2005 ended before the registry's first day


def flaky(
    transport: httpx.MockTransport, failures: list[Any]
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """The double, failing the first requests in turn: a status code answers with it, an
    exception is raised (as a timeout or a refused connection would be)."""
    tried: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        tried.append(request)
        if failures:
            failure = failures.pop(0)
            if isinstance(failure, int):
                return httpx.Response(failure, json={"error": "try again"})
            raise failure
        return transport.handle_request(request)

    return httpx.MockTransport(handle), tried


@pytest.mark.parametrize(
    "failures",
    [
        [503, 502],
        [429],
        [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")],
        [500, httpx.RemoteProtocolError("dropped")],
    ],
)
async def test_the_live_api_is_tried_again_after_what_may_pass(
    kommuneinndeling: Kommuneinndeling, failures: list[Any]
) -> None:
    double, _ = klass_api_double(BUNDLED, kommuneinndeling)
    count = len(failures)
    transport, tried = flaky(double, failures)
    fetched = await fetch_kommuneinndeling(KLASS_API, transport=transport, attempts=3, backoff_s=0.001)
    assert fetched == kommuneinndeling
    assert tried[0].url == tried[count].url  # the first request, tried until it answered


async def test_the_live_api_gives_up_after_its_attempts(kommuneinndeling: Kommuneinndeling) -> None:
    double, _ = klass_api_double(BUNDLED, kommuneinndeling)
    transport, tried = flaky(double, [503, 503, 503, 503])
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await fetch_kommuneinndeling(KLASS_API, transport=transport, attempts=3, backoff_s=0.001)
    assert refused.value.response.status_code == 503
    assert len(tried) == 3

    transport, tried = flaky(double, [httpx.ConnectTimeout("no answer")] * 2)
    with pytest.raises(httpx.ConnectTimeout):
        await fetch_kommuneinndeling(KLASS_API, transport=transport, attempts=2, backoff_s=0.001)
    assert len(tried) == 2


async def test_a_final_answer_is_not_tried_again(kommuneinndeling: Kommuneinndeling) -> None:
    double, _ = klass_api_double(BUNDLED, kommuneinndeling)
    transport, tried = flaky(double, [404])
    with pytest.raises(httpx.HTTPStatusError):
        await fetch_kommuneinndeling(KLASS_API, transport=transport, attempts=3, backoff_s=0.001)
    assert len(tried) == 1


async def test_each_request_has_a_timeout(kommuneinndeling: Kommuneinndeling) -> None:
    double, seen = klass_api_double(BUNDLED, kommuneinndeling)
    await fetch_kommuneinndeling(KLASS_API, transport=double, timeout_s=7.5)
    assert {r.extensions["timeout"]["read"] for r in seen} == {7.5}


# --- Where the data lives ------------------------------------------------------------------------


def test_klass_parsing_does_no_io() -> None:
    """klass.py reads nothing and fetches nothing: sources.py does."""
    tree = ast.parse(Path(klass.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not imported & {"httpx", "pathlib", "os", "json", "asyncio", "asyncpg", "urllib"}
    assert "open(" not in Path(klass.__file__).read_text(encoding="utf-8")


def test_the_bundle_is_inside_the_project_with_its_sources() -> None:
    assert BUNDLED.is_relative_to(PROJECT)
    sources = (BUNDLED / "SOURCES.md").read_text(encoding="utf-8")
    assert "NLOD" in sources and "Statistisk sentralbyrå" in sources
    for name in ["changetables.json", "131.json", "Kommuneinndeling 2006.json", "Kommuneinndeling 2024.json"]:
        assert (BUNDLED / name).is_file(), name
        assert name in sources or "Kommuneinndeling YYYY.json" in sources
    population = PROJECT / "services" / "reporting" / "data"
    assert (population / "population_ssb07459.csv").is_file()
    assert "07459" in (population / "README.md").read_text(encoding="utf-8")


def test_nothing_reads_data_from_outside_the_project() -> None:
    """No path to the research folder beside the project, in code, tests or benchmarks."""
    folder_name = "sha" + "red"  # spelt apart, so that this file does not find itself
    outside, beside = f"{folder_name}/data", f'"{folder_name}"'
    found = [
        str(path.relative_to(PROJECT))
        for folder in ("services", "tests", "bench")
        for path in (PROJECT / folder).rglob("*.py")
        if outside in (text := path.read_text(encoding="utf-8")) or beside in text
    ]
    assert found == []
