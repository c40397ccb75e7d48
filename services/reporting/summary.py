"""The year's summary for the consultation arrangement (pure: facts in, an HTML page out).

`GET /summary/{year}`: a page in bokmål that reads and prints without JavaScript: the programme's
figures for the year (networks running, municipalities taking part, decisions, gatherings held and
attendance) and each indicator's median against the year before, each chart drawn here as SVG
(`charts.py`, with its `<title>` and `<desc>`) beside a table of the same figures.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from . import charts, comparisons, domain


@dataclass(frozen=True)
class IndicatorYear:
    indicator: comparisons.IndicatorFact
    count: int
    median: float | None
    count_before: int
    median_before: float | None

    @property
    def change(self) -> float | None:
        if self.median is None or self.median_before is None:
            return None
        return round(self.median - self.median_before, self.indicator.decimals)


@dataclass(frozen=True)
class Summary:
    year: int
    provisional: bool
    networks: int
    networks_per_theme: dict[str, int]
    municipalities: int
    decisions: int
    final_decisions: int
    decisions_per_body: dict[str, int]
    gatherings: int
    attendance: dict[str, int]
    indicators: tuple[IndicatorYear, ...]


def indicator_year(
    indicator: comparisons.IndicatorFact, values: Sequence[comparisons.ValueFact], year: int
) -> IndicatorYear:
    now = [v.value for v in values if v.year == year]
    before = [v.value for v in values if v.year == year - 1]
    return IndicatorYear(
        indicator,
        len(now),
        statistics.median(now) if now else None,
        len(before),
        statistics.median(before) if before else None,
    )


def figures(facts: domain.Facts, year: int, today: date, indicators: Sequence[IndicatorYear] = ()) -> Summary:
    running = [n for n in facts.networks if n.ran and year in n.years()]
    themes: Counter[str] = Counter(t for n in running for t in n.themes)
    taking_part = domain._participation(facts, domain.Options(today=today))
    decisions = [d for d in facts.decisions if d.decision_date.year == year]
    held = [g for g in facts.gatherings if g.held and g.held_on is not None and g.held_on.year == year]
    attendance: Counter[str] = Counter()
    for g in held:
        for role, count in g.attendance:
            attendance[role] += count
    return Summary(
        year=year,
        provisional=year >= today.year,
        networks=len(running),
        networks_per_theme={t: themes[t] for t in domain.THEME_LABELS if themes[t]},
        municipalities=len(taking_part.get(year, {})),
        decisions=len(decisions),
        final_decisions=sum(1 for d in decisions if d.final),
        decisions_per_body=dict(sorted(Counter(d.body for d in decisions).items())),
        gatherings=len(held),
        attendance={r: attendance[r] for r in domain.ROLE_LABELS},
        indicators=tuple(indicators),
    )


_STYLE = """
body { font-family: Georgia, serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #111; }
h1, h2 { font-family: sans-serif; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #999; padding: 0.2rem 0.6rem; text-align: left; }
td.tall { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0.5rem 0; break-inside: avoid; }
@media print { body { margin: 0; max-width: none; } a { color: inherit; text-decoration: none; } }
"""


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    out = [f"<table><caption>{escape(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            if i == 0:
                out.append(f'<th scope="row">{escape(cell)}</th>')
            else:
                cls = ' class="tall"' if i >= numeric_from else ""
                out.append(f"<td{cls}>{escape(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _counted(
    chart_id: str,
    title: str,
    caption: str,
    head: tuple[str, str],
    counts: dict[str, int],
    year: int,
    unit: str,
) -> str:
    """A bar chart of counts by label, and the same figures as a table (the chart's text alternative
    for those who read tables)."""
    labels = list(counts)
    chart = charts.bar_chart(
        chart_id, title, labels, [charts.Series(str(year), [float(c) for c in counts.values()])], unit=unit
    )
    table = _table(caption, list(head), [[label, charts.number(c)] for label, c in counts.items()])
    return _figure(chart) + "\n" + table


def _figure(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def render(s: Summary) -> str:
    n = charts.number
    year, before = s.year, s.year - 1
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nb"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Livskraftige kommuner: årsoversikt {year}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Livskraftige kommuner: årsoversikt {year}</h1>",
        "<p>Tall fra programmet Livskraftige kommuner til konsultasjonsordningen mellom staten og "
        "kommunesektoren.</p>",
    ]
    if s.provisional:
        parts.append(f"<p><strong>Foreløpige tall:</strong> {year} er ikke omme.</p>")
    parts += [
        "<h2>Hovedtall</h2>",
        _table(
            f"Hovedtall {year}",
            ["Hva", "Antall"],
            [
                ["Kommunenettverk i gang", n(s.networks)],
                ["Kommuner som deltar", n(s.municipalities)],
                ["Politiske vedtak om å delta", n(s.decisions)],
                ["  herav endelige vedtak", n(s.final_decisions)],
                ["Nettverkssamlinger holdt", n(s.gatherings)],
                ["Oppmøte på samlingene i alt", n(sum(s.attendance.values()))],
            ],
        ),
        "<h2>Nettverk etter temaområde</h2>",
    ]
    parts.append(
        _counted(
            "tema",
            f"Kommunenettverk i gang etter temaområde, {year}",
            "Nettverk etter temaområde (et nettverk telles under hvert av sine tema)",
            ("Temaområde", "Nettverk"),
            {domain.THEME_LABELS.get(t, t): c for t, c in s.networks_per_theme.items()},
            year,
            "nettverk",
        )
    )
    parts.append("<h2>Vedtak</h2>")
    parts.append(
        _counted(
            "vedtak",
            f"Politiske vedtak etter organ, {year}",
            "Vedtak etter organ",
            ("Organ", "Vedtak"),
            {domain.BODY_LABELS.get(b, b): c for b, c in s.decisions_per_body.items()},
            year,
            "vedtak",
        )
    )
    parts.append("<h2>Samlinger og oppmøte</h2>")
    parts.append(
        _counted(
            "oppmote",
            f"Oppmøte på nettverkssamlinger etter rollekategori, {year}",
            f"Oppmøte på {n(s.gatherings)} samlinger",
            ("Rollekategori", "Deltakere"),
            {domain.ROLE_LABELS.get(r, r): c for r, c in s.attendance.items()},
            year,
            "deltakere",
        )
    )
    parts.append(f"<h2>Indikatorer: {year} mot {before}</h2>")
    if not s.indicators:
        parts.append(f"<p>Ingen indikatorverdier rapportert for {before} eller {year}.</p>")
    for i, ind in enumerate(s.indicators):
        f = ind.indicator
        parts.append(f"<h3>{escape(f.label)}</h3>")
        parts.append(
            _figure(
                charts.bar_chart(
                    f"indikator-{i}",
                    f"{f.label}: median blant kommunene, {before} og {year}",
                    [str(before), str(year)],
                    [charts.Series("median", [ind.median_before, ind.median])],
                    unit=f.unit,
                    decimals=f.decimals,
                )
            )
        )
        parts.append(
            _table(
                f"{f.label} ({f.unit}); kilde: {f.source}",
                ["År", "Kommuner med verdi", "Median"],
                [
                    [str(before), n(ind.count_before), n(ind.median_before, f.decimals)],
                    [str(year), n(ind.count), n(ind.median, f.decimals)],
                ],
            )
        )
        if ind.change is not None:
            parts.append(f"<p>Endring i medianen: {escape(n(ind.change, f.decimals))} {escape(f.unit)}.</p>")
    parts += [
        "<p>Kilde: KS, programmet Livskraftige kommuner; indikatorverdier rapportert av kommunene. "
        "Kommunenumre er de som gjaldt hvert år.</p>",
        "</body></html>",
    ]
    return "".join(parts)
