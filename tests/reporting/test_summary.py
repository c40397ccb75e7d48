"""GET /summary/{year}: a printable page in bokmål with the year's figures, checked here; its HTML
parsed by html5lib in strict mode (no parse errors), each SVG chart well-formed XML with a
<title> and <desc> (and aria-labelledby pointing at them)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import asyncpg
import html5lib

from services.reporting import charts
from services.reporting.app import SPEC
from tests.reporting.events import network_story
from tests.reporting.indicator_events import defined, reported

SVG = "{http://www.w3.org/2000/svg}"


async def _reporting(start_service) -> Any:
    client = await start_service("reporting")
    conn = await asyncpg.connect(client.app.state.settings.database_url)
    try:
        async with conn.transaction():
            for story in (
                network_story("Klimanettverket", 2016),
                network_story("Arealnettverket", 2016, kommuner=("4601", "1103", "5001")),
            ):
                await SPEC.consumes.apply(conn, story)
            await SPEC.consumes.apply(conn, [defined()])
            await SPEC.consumes.apply(
                conn,
                [
                    reported("5001", 2015, 6.0),
                    reported("5006", 2015, 8.0),
                    reported("5001", 2016, 5.0),
                    reported("5006", 2016, 6.0),
                    reported("5035", 2016, 9.0),
                ],
            )
    finally:
        await conn.close()
    return client


def row(label: str, *cells: str) -> str:
    return f'<th scope="row">{label}</th>' + "".join(f'<td class="tall">{c}</td>' for c in cells)


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


async def test_the_summary_has_the_years_figures_and_is_valid_html_with_accessible_svg(start_service):
    reporting = await _reporting(start_service)
    answer = await reporting.get("/summary/2016")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    # Two networks in 2016 (no other test's networks run in 2016), three municipalities each;
    # the third withdraws, and 5001 is in both.
    assert row("Kommunenettverk i gang", "2") in page
    assert row("Kommuner som deltar", "4") in page
    assert row("Politiske vedtak om å delta", "6") in page
    assert row("  herav endelige vedtak", "4") in page
    assert row("Nettverkssamlinger holdt", "2") in page
    assert row("Oppmøte på samlingene i alt", "12") in page
    assert row("Klima og energi", "2") in page and row("Viktige arealpolitiske hensyn", "2") in page
    assert row("Kommunestyret", "4") in page and row("Formannskapet", "2") in page
    assert row("Politikere", "4") in page and row("Ressursmiljø", "6") in page
    # The indicator: median 7,0 in 2015 (6, 8), 6,0 in 2016 (5, 6, 9).
    assert row("2015", "2", "7,0") in page and row("2016", "3", "6,0") in page
    assert "Endring i medianen: -1,0 tonn CO2-ekvivalenter per innbygger." in page
    assert "<script" not in page.lower()
    assert '<html lang="nb">' in page

    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)

    found = svgs(page)
    assert len(found) == 4
    for svg in found:
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert title is not None and title.text and desc is not None and desc.text
        assert svg.get("role") == "img"
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    ids = [e.get("id") for svg in found for e in svg.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    attendance = next(s for s in found if "Oppmøte" in (s.find(f"{SVG}title").text or ""))
    assert attendance.find(f"{SVG}desc").text.endswith(  # type: ignore[union-attr]
        "Politikere: 4 deltakere; Administrativ toppledelse: 2 deltakere; Fagetat: 0 deltakere; "
        "Ressursmiljø: 6 deltakere."
    )


async def test_a_year_without_anything_and_a_bad_year(start_service):
    reporting = await start_service("reporting")
    empty = await reporting.get("/summary/1999")
    assert empty.status_code == 200
    html5lib.HTMLParser(strict=True).parse(empty.text)
    assert row("Kommunenettverk i gang", "0") in empty.text
    assert all(s.find(f"{SVG}title") is not None for s in svgs(empty.text))
    assert (await reporting.get("/summary/99999")).status_code == 422
    assert (await reporting.get("/summary/abc")).status_code == 422


def test_chart_numbers_are_bokmal_and_missing_values_are_said():
    assert charts.number(1234.5, 1) == "1\u00a0234,5"
    assert charts.number(None) == "\u2013"
    svg = charts.bar_chart("x", "Tittel & mer", ["A", "B"], [charts.Series("2020", [1.0, None])], unit="stk")
    tree = ET.fromstring(svg)
    assert tree.find(f"{SVG}title").text == "Tittel & mer"  # type: ignore[union-attr]
    assert tree.find(f"{SVG}desc").text == "Tittel & mer. A: 1 stk; B: \u2013 stk."  # type: ignore[union-attr]
    assert "mangler" in svg
    two = ET.fromstring(
        charts.bar_chart("y", "To", ["A"], [charts.Series("2019", [-2.0]), charts.Series("2020", [3.0])])
    )
    assert two.find(f"{SVG}desc").text == "To. A: 2019 -2, 2020 3."  # type: ignore[union-attr]
