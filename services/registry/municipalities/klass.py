"""SSB KLASS: municipalities (kommuneinndeling, 131) and counties (fylkesinndeling, 104) through time.

KLASS publishes a classification as versions, each valid for a period and listing every code and
name valid in it, plus a change table (`changes`) saying which old codes became which new codes on
which date. From these this module derives *dated versions*: one per continuous span of a code,
cut where a change record names the code as its new code (mergers that keep the code, renames).
A bare kommunenummer is never a timeless key; (kommunenummer, valid_from) is.

The same responses come from the files bundled with the registry, a folder of saved ones, or the
live API (see sources.py, which does all the reading); one parser, `parse_responses`, reads them.
This module is pure: no files, no network.

Conventions (KLASS's own): valid_from is inclusive, valid_to exclusive, no valid_to = still valid.
Code 9999 / 99 "Uoppgitt" (unknown) is not a municipality or county and is left out.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

KOMMUNEINNDELING = 131
"""KLASS classification 131, Standard for kommuneinndeling."""
FYLKESINNDELING = 104
"""KLASS classification 104, Standard for fylkesinndeling."""
ORGANISASJONSNUMMER_TIL_KOMMUNE = 1236
"""KLASS correspondence table 1236: organisation number (582) -> municipality (131)."""
CHANGES_FROM = date(1971, 1, 1)
"""Where the change table starts: the bundled changetables.json and the live query both ask from here.
A code no change record names since then has existed, unchanged, at least since this day."""
FIRST_DAY = date(2006, 1, 1)
"""The first day the registry needs: the programme started in 2006."""
UNKNOWN_CODES = frozenset({"9999", "99"})
"""'Uoppgitt': KLASS lists it in every version, but it is no municipality or county."""

_KOMMUNENUMMER = re.compile(r"[0-9]{4}")
_FYLKESNUMMER = re.compile(r"[0-9]{2}")
_ORGANISASJONSNUMMER = re.compile(r"[0-9]{9}")


class KlassDataError(ValueError):
    """KLASS data that cannot be read into versions (gaps between versions, malformed codes)."""


class SuccessionKind(StrEnum):
    """How a version became another (kommuneendring)."""

    RENAME = "rename"  # navneendring: same code, new name
    RENUMBER = "renumber"  # nytt nummer: one old code, one new code
    MERGE = "merge"  # sammenslåing: several old versions into one
    SPLIT = "split"  # deling: one old version into several
    BOUNDARY = "boundary"  # grensejustering: same code and name, new territory


# --- The results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MunicipalityVersion:
    """A municipality (kommune) as it was in one period: [valid_from, valid_to).

    `valid_from_known` is False when the code already existed when the data starts: the
    municipality then existed *at least* since valid_from. Predecessors (forgjengere) and
    successors (etterfølgere) are the codes it came from on valid_from and became on valid_to.
    """

    kommunenummer: str
    name: str
    valid_from: date
    valid_to: date | None
    organisasjonsnummer: str | None = None
    predecessors: tuple[str, ...] = ()
    successors: tuple[str, ...] = ()
    valid_from_known: bool = True

    @property
    def fylkesnummer(self) -> str:
        """The county (fylke): the first two digits of the kommunenummer."""
        return self.kommunenummer[:2]

    @property
    def code(self) -> str:
        return self.kommunenummer

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class CountyVersion:
    """A county (fylke) as it was in one period: [valid_from, valid_to)."""

    fylkesnummer: str
    name: str
    valid_from: date
    valid_to: date | None
    predecessors: tuple[str, ...] = ()
    successors: tuple[str, ...] = ()
    valid_from_known: bool = True

    @property
    def code(self) -> str:
        return self.fylkesnummer

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class Succession:
    """A link from one dated version to the next (kommuneendring), effective on `occurred`.

    The new version starts on `occurred`; the old one (valid from `old_valid_from`, None when it
    lies before the data) ends then.
    """

    old_code: str
    old_valid_from: date | None
    new_code: str
    occurred: date
    kind: SuccessionKind


@dataclass(frozen=True)
class Kommuneinndeling:
    """Municipalities and counties through time, and the links between their versions."""

    municipalities: tuple[MunicipalityVersion, ...]
    successions: tuple[Succession, ...]
    counties: tuple[CountyVersion, ...]
    county_successions: tuple[Succession, ...]
    unmatched_changes: tuple[CodeChange, ...] = ()
    """Change records that start no version (a date with no KLASS version): worth a look."""

    def municipalities_on(self, day: date) -> list[MunicipalityVersion]:
        return [m for m in self.municipalities if m.valid_on(day)]

    def counties_on(self, day: date) -> list[CountyVersion]:
        return [c for c in self.counties if c.valid_on(day)]

    def versions_of(self, kommunenummer: str) -> list[MunicipalityVersion]:
        return sorted(
            (m for m in self.municipalities if m.kommunenummer == kommunenummer),
            key=lambda m: m.valid_from,
        )


# --- The inputs: KLASS responses -----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One KLASS version (e.g. 'Kommuneinndeling 2018'): every code and name in its period."""

    valid_from: date
    valid_to: date | None
    names: Mapping[str, str]


@dataclass(frozen=True)
class CodeChange:
    """One record of a KLASS change table (endring): old_code became new_code on `occurred`.

    No old code: the new code started to exist; no new code: the old one ceased (KLASS api-guide).
    """

    old_code: str | None
    old_name: str
    new_code: str | None
    new_name: str
    occurred: date


@dataclass(frozen=True)
class KlassResponses:
    """The raw KLASS responses, as JSON objects: from a folder of saved ones or the live API."""

    municipality_versions: tuple[Mapping[str, Any], ...]
    """`/versions/{id}` of classification 131, one per period."""
    municipality_changes: Mapping[str, Any]
    """`/classifications/131/changes?from=1971-01-01&to=...`: {"codeChanges": [...]}."""
    county_versions: tuple[Mapping[str, Any], ...] = ()
    """`/versions/{id}` of classification 104; empty: counties come from the kommunenummer."""
    county_changes: Mapping[str, Any] | None = None
    county_names: Mapping[str, str] = field(default_factory=dict)
    """Fylkesnummer -> name, for counties derived from the kommunenummer."""
    organisation_numbers: tuple[Mapping[str, str], ...] = ()
    """Rows of correspondence 1236: sourceCode (orgnr), sourceName, targetCode, targetName."""


def snapshot_from_version(doc: Mapping[str, Any]) -> Snapshot:
    """A KLASS version response (kommune- or fylkesinndeling) as a snapshot, 'Uoppgitt' left out."""
    names = {
        str(item["code"]): str(item["name"]).strip()
        for item in doc["classificationItems"]
        if str(item.get("level", "1")) == "1" and str(item["code"]) not in UNKNOWN_CODES
    }
    valid_to = doc.get("validTo")
    return Snapshot(
        valid_from=date.fromisoformat(doc["validFrom"]),
        valid_to=date.fromisoformat(valid_to) if valid_to else None,
        names=names,
    )


def changes_from_response(doc: Mapping[str, Any]) -> list[CodeChange]:
    """A KLASS `changes` response ({"codeChanges": [...]}) as change records (kommuneendringer)."""
    return [
        CodeChange(
            old_code=_code_or_none(item.get("oldCode")),
            old_name=(item.get("oldName") or "").strip(),
            new_code=_code_or_none(item.get("newCode")),
            new_name=(item.get("newName") or "").strip(),
            occurred=date.fromisoformat(item["changeOccurred"]),
        )
        for item in doc.get("codeChanges", [])
    ]


def _code_or_none(code: object) -> str | None:
    text = str(code).strip() if code is not None else ""
    return None if not text or text in UNKNOWN_CODES else text


# --- Versions through time (generic: municipalities and counties alike) ---------------------


@dataclass(frozen=True)
class _Span:
    """A continuous period of one code, one name: the shape both kinds of version share."""

    code: str
    name: str
    valid_from: date
    valid_to: date | None
    valid_from_known: bool
    predecessors: tuple[str, ...] = ()
    successors: tuple[str, ...] = ()


def ordered_snapshots(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """The snapshots by date; each must end where the next starts (KLASS versions do)."""
    ordered = sorted(snapshots, key=lambda s: s.valid_from)
    if not ordered:
        raise KlassDataError("no KLASS versions to read")
    for current, following in pairwise(ordered):
        if current.valid_to != following.valid_from:
            raise KlassDataError(
                f"KLASS versions do not meet: one ends {current.valid_to}, "
                f"the next starts {following.valid_from}"
            )
    return ordered


def code_spans(
    snapshots: Sequence[Snapshot], changes: Sequence[CodeChange], history_from: date | None
) -> list[_Span]:
    """One span per continuous presence of a code, cut where a change names it as new code.

    A code present in the first snapshot starts at its latest change before then, or else at
    `history_from` (the change table's start; the first snapshot's start when None), unknown.
    """
    starts = {(c.new_code, c.occurred) for c in changes if c.new_code is not None}
    spans: list[_Span] = []
    for code in sorted({code for s in snapshots for code in s.names}):
        spans.extend(_spans_of(code, snapshots, starts))
    return [_with_first_start(s, snapshots[0].valid_from, changes, history_from) for s in spans]


def _spans_of(code: str, snapshots: Sequence[Snapshot], starts: set[tuple[str, date]]) -> list[_Span]:
    spans: list[_Span] = []
    current: _Span | None = None
    for snap in snapshots:
        name = snap.names.get(code)
        if current is not None and (name is None or (code, snap.valid_from) in starts):
            spans.append(current)
            current = None
        if name is None:
            continue
        if current is None:
            current = _Span(code, name, snap.valid_from, snap.valid_to, valid_from_known=True)
        else:  # the same version, seen again: its name is the latest one, its end moves on
            current = replace(current, name=name, valid_to=snap.valid_to)
    if current is not None:
        spans.append(current)
    return spans


def _with_first_start(
    span: _Span, first_day: date, changes: Sequence[CodeChange], history_from: date | None
) -> _Span:
    if span.valid_from != first_day:
        return span
    earlier = [c.occurred for c in changes if c.new_code == span.code and c.occurred <= first_day]
    if earlier:
        return replace(span, valid_from=max(earlier), valid_from_known=True)
    return replace(span, valid_from=min(history_from or first_day, first_day), valid_from_known=False)


def successions_between(spans: Sequence[_Span], changes: Sequence[CodeChange]) -> list[Succession]:
    """The links between spans: each change record whose new code starts a span on its date."""
    starting = {(s.code, s.valid_from) for s in spans}
    linked = [c for c in changes if c.old_code and c.new_code and (c.new_code, c.occurred) in starting]
    fan_out = _count_by(linked, lambda c: (c.old_code, c.occurred))
    fan_in = _count_by(linked, lambda c: (c.new_code, c.occurred))
    links = {
        (c.old_code, c.new_code, c.occurred): Succession(
            old_code=c.old_code or "",
            old_valid_from=_start_of_span_on(spans, c.old_code or "", c.occurred - timedelta(days=1)),
            new_code=c.new_code or "",
            occurred=c.occurred,
            kind=_kind(c, fan_out[(c.old_code, c.occurred)], fan_in[(c.new_code, c.occurred)]),
        )
        for c in linked
    }
    return sorted(links.values(), key=lambda s: (s.occurred, s.new_code, s.old_code))


def _count_by(changes: Iterable[CodeChange], key: Any) -> dict[Any, int]:
    counts: dict[Any, int] = defaultdict(int)
    for c in {(c.old_code, c.new_code, c.occurred): c for c in changes}.values():
        counts[key(c)] += 1
    return counts


def _kind(change: CodeChange, successors: int, predecessors: int) -> SuccessionKind:
    if successors > 1:
        return SuccessionKind.SPLIT
    if predecessors > 1:
        return SuccessionKind.MERGE
    if change.old_code != change.new_code:
        return SuccessionKind.RENUMBER
    if change.old_name != change.new_name:
        return SuccessionKind.RENAME
    return SuccessionKind.BOUNDARY


def _start_of_span_on(spans: Sequence[_Span], code: str, day: date) -> date | None:
    for s in spans:
        if s.code == code and s.valid_from <= day and (s.valid_to is None or day < s.valid_to):
            return s.valid_from
    return None


def linked_spans(spans: Sequence[_Span], links: Sequence[Succession]) -> list[_Span]:
    """The spans with their predecessors and successors (codes, sorted) filled in.

    A successor is what a version became when it ended. A version that gave territory to a new
    one and went on (Nordland to Troms og Finnmark in 2020) is the new one's predecessor, but
    has no successor then.
    """
    before: dict[tuple[str, date], set[str]] = defaultdict(set)
    after: dict[tuple[str, date | None], set[tuple[str, date]]] = defaultdict(set)
    for link in links:
        before[(link.new_code, link.occurred)].add(link.old_code)
        after[(link.old_code, link.old_valid_from)].add((link.new_code, link.occurred))
    return [
        replace(
            s,
            predecessors=tuple(sorted(before[(s.code, s.valid_from)])),
            successors=tuple(
                sorted(code for code, day in after[(s.code, s.valid_from)] if day == s.valid_to)
            ),
        )
        for s in spans
    ]


def unmatched_changes(
    spans: Sequence[_Span], changes: Sequence[CodeChange], first_day: date
) -> list[CodeChange]:
    """Change records after the data's first day whose new code starts no version that day."""
    starting = {(s.code, s.valid_from) for s in spans}
    return [
        c
        for c in changes
        if c.new_code and c.occurred > first_day and (c.new_code, c.occurred) not in starting
    ]


def versions_through_time(
    snapshots: Iterable[Snapshot], changes: Sequence[CodeChange], history_from: date | None
) -> tuple[list[_Span], list[Succession]]:
    """Dated versions and their links, from yearly snapshots plus the change table."""
    ordered = ordered_snapshots(snapshots)
    spans = code_spans(ordered, changes, history_from)
    links = successions_between(spans, changes)
    return linked_spans(spans, links), links


# --- Municipalities, counties and organisation numbers ---------------------------------------


def municipality_from_span(span: _Span) -> MunicipalityVersion:
    if not _KOMMUNENUMMER.fullmatch(span.code):
        raise KlassDataError(f"not a kommunenummer: {span.code!r}")
    return MunicipalityVersion(
        kommunenummer=span.code,
        name=span.name,
        valid_from=span.valid_from,
        valid_to=span.valid_to,
        predecessors=span.predecessors,
        successors=span.successors,
        valid_from_known=span.valid_from_known,
    )


def county_from_span(span: _Span) -> CountyVersion:
    if not _FYLKESNUMMER.fullmatch(span.code):
        raise KlassDataError(f"not a fylkesnummer: {span.code!r}")
    return CountyVersion(
        fylkesnummer=span.code,
        name=span.name,
        valid_from=span.valid_from,
        valid_to=span.valid_to,
        predecessors=span.predecessors,
        successors=span.successors,
        valid_from_known=span.valid_from_known,
    )


def county_snapshots(municipal: Sequence[Snapshot], names: Mapping[str, str]) -> list[Snapshot]:
    """Counties (fylker) from the municipality codes' first two digits, when no KLASS 104 is at hand."""

    def name(fylkesnummer: str) -> str:
        if fylkesnummer not in names:
            raise KlassDataError(f"no name for county {fylkesnummer}")
        return names[fylkesnummer]

    return [replace(s, names={f: name(f) for f in sorted({code[:2] for code in s.names})}) for s in municipal]


def county_changes(municipal: Sequence[CodeChange], counties: Sequence[Snapshot]) -> list[CodeChange]:
    """County change records implied by municipality changes: a municipality moving into a
    county that begins that day (16 and 17 -> 50 Trøndelag in 2018). Moves into a county that
    goes on (1567 Rindal, 15 -> 50 in 2019) change its boundary, not its version."""
    ordered = sorted(counties, key=lambda s: s.valid_from)
    previous = {b.valid_from: a.names for a, b in pairwise(ordered)}
    current = {s.valid_from: s.names for s in ordered}
    implied = {
        (c.old_code[:2], c.new_code[:2], c.occurred)
        for c in municipal
        if c.old_code
        and c.new_code
        and c.old_code[:2] != c.new_code[:2]
        and c.occurred in previous
        and c.new_code[:2] not in previous[c.occurred]
    }
    return [
        CodeChange(old, previous[day].get(old, ""), new, current[day][new], day)
        for old, new, day in sorted(implied)
    ]


def organisation_numbers_reference_day(
    snapshots: Sequence[Snapshot], rows: Sequence[Mapping[str, str]]
) -> date | None:
    """The day correspondence 1236 describes: the KLASS version whose codes and names match its
    rows best (the latest on a tie). Names, not only codes: codes are reused."""
    pairs = {(r["targetCode"], r["targetName"].strip()) for r in rows}
    if not pairs:
        return None

    def matches(s: Snapshot) -> int:
        return sum(1 for code, name in pairs if s.names.get(code) == name)

    best = max(snapshots, key=lambda s: (matches(s), s.valid_from))
    return best.valid_from if matches(best) else None


def with_organisation_numbers(
    versions: Sequence[MunicipalityVersion],
    links: Sequence[Succession],
    rows: Sequence[Mapping[str, str]],
    on: date | None,
) -> list[MunicipalityVersion]:
    """Each municipality's organisasjonsnummer on the version valid on `on`, carried over plain
    renames (same code, one to one: the same legal unit). Not over renumbering or mergers: a
    merged municipality gets a new one, and for renumbering Brønnøysund was not checked."""
    if on is None:
        return list(versions)
    orgnr = {r["targetCode"]: _organisasjonsnummer(r["sourceCode"]) for r in rows}
    known: dict[tuple[str, date | None], str] = {
        (v.kommunenummer, v.valid_from): orgnr[v.kommunenummer]
        for v in versions
        if v.valid_on(on) and v.kommunenummer in orgnr
    }
    renames = [link for link in links if link.kind == SuccessionKind.RENAME and link.old_valid_from]
    spreading = True
    while spreading:  # along chains of renames, both ways
        spreading = False
        for link in renames:
            old, new = (link.old_code, link.old_valid_from), (link.new_code, link.occurred)
            if (old in known) != (new in known):
                known[new] = known[old] = known.get(old) or known[new]
                spreading = True
    return [replace(v, organisasjonsnummer=known.get((v.kommunenummer, v.valid_from))) for v in versions]


def _organisasjonsnummer(text: str) -> str:
    orgnr = text.strip()
    if not _ORGANISASJONSNUMMER.fullmatch(orgnr):
        raise KlassDataError(f"not an organisasjonsnummer: {text!r}")
    return orgnr


# --- The parser: responses -> Kommuneinndeling ---------------------------------------------


def parse_responses(
    responses: KlassResponses, *, history_from: date | None = CHANGES_FROM
) -> Kommuneinndeling:
    """Municipalities and counties through time from KLASS responses, wherever they came from."""
    snapshots = ordered_snapshots(snapshot_from_version(d) for d in responses.municipality_versions)
    changes = changes_from_response(responses.municipality_changes)
    spans, links = versions_through_time(snapshots, changes, history_from)
    municipalities = with_organisation_numbers(
        [municipality_from_span(s) for s in spans],
        links,
        responses.organisation_numbers,
        organisation_numbers_reference_day(snapshots, responses.organisation_numbers),
    )
    county_spans, county_links = _counties(responses, snapshots, changes, history_from)
    return Kommuneinndeling(
        municipalities=tuple(municipalities),
        successions=tuple(links),
        counties=tuple(county_from_span(s) for s in county_spans),
        county_successions=tuple(county_links),
        unmatched_changes=tuple(unmatched_changes(spans, changes, snapshots[0].valid_from)),
    )


def _counties(
    responses: KlassResponses,
    municipal: Sequence[Snapshot],
    municipal_changes: Sequence[CodeChange],
    history_from: date | None,
) -> tuple[list[_Span], list[Succession]]:
    """Counties from KLASS 104 where the responses hold it, else from the kommunenummer."""
    if responses.county_versions:
        snapshots = [snapshot_from_version(d) for d in responses.county_versions]
        changes = changes_from_response(responses.county_changes or {})
    else:
        snapshots = county_snapshots(municipal, responses.county_names)
        changes = county_changes(municipal_changes, snapshots)
    return versions_through_time(snapshots, changes, history_from)


# --- Text formats beside the JSON (pure: the caller reads the files) -------------------------


def parse_county_names(text: str) -> dict[str, str]:
    """county_names_numbers.txt: CSV with `county_code,county_name` (fylkesnummer -> name)."""
    rows = csv.DictReader(io.StringIO(text))
    return {r["county_code"].strip(): r["county_name"].strip() for r in rows}


def parse_correspondence_csv(text: str) -> tuple[dict[str, str], ...]:
    """A KLASS correspondence table as KLASS's CSV export (`;`-separated, decoded by the caller:
    KLASS writes ISO-8859-1): rows of sourceCode, sourceName, targetCode, targetName."""
    return tuple(dict(r) for r in csv.DictReader(io.StringIO(text), delimiter=";"))
