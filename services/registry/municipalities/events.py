"""Municipality events from a KLASS import: MunicipalityRegistered and MunicipalityChanged (pure).

An import (innlesing) writes dated versions; this module turns what it wrote into events: one
MunicipalityRegistered per new version, one MunicipalityChanged (the whole new state) per changed
version. They key on the kommunenummer and are numbered in that kommunenummer's own sequence
(store.reserve_sequences); the import's handler writes them to the outbox and the audit log in
the import's own transaction: the events leave if and only if the import commits. A re-import
that changes nothing writes no events.

Counties have no events of their own in the catalogue: a municipality event names its county.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from livskraft_contracts import (
    CloudEvent,
    MunicipalityChanged,
    MunicipalityRef,
    MunicipalityRegistered,
)
from livskraft_contracts.registry import MunicipalityFacts

from services.runtime import tracing

from .domain import ImportedVersion, ImportResult
from .klass import MunicipalityVersion


def municipality_facts(version: MunicipalityVersion) -> dict[str, object]:
    """A version as the events' fields. A predecessor is named with the day before this version
    starts: the day it was valid (it ended then, or went on having given up territory)."""
    day_before = version.valid_from - timedelta(days=1)
    return {
        "kommunenummer": version.kommunenummer,
        "name": version.name,
        "county": version.fylkesnummer,
        "organisation_number": version.organisasjonsnummer,
        "valid_from": version.valid_from,
        "valid_to": version.valid_to,
        "predecessors": [
            MunicipalityRef(kommunenummer=code, valid_on=day_before) for code in version.predecessors
        ],
    }


def registered(imported: ImportedVersion[MunicipalityVersion]) -> MunicipalityRegistered:
    return MunicipalityRegistered.model_validate(municipality_facts(imported.version))


def changed(imported: ImportedVersion[MunicipalityVersion]) -> MunicipalityChanged:
    return MunicipalityChanged.model_validate(municipality_facts(imported.version))


def import_events(result: ImportResult[MunicipalityVersion]) -> list[MunicipalityFacts]:
    """The events an import's result stands for, by kommunenummer, then by the version's start:
    within a code, an ended version's MunicipalityChanged comes before its successor's
    MunicipalityRegistered."""
    events: list[MunicipalityFacts] = [registered(i) for i in result.registered]
    events += [changed(i) for i in result.changed]
    return sorted(events, key=lambda e: (e.kommunenummer, e.valid_from))


def numbered(
    events: Sequence[MunicipalityFacts], first: Mapping[str, int]
) -> list[CloudEvent[MunicipalityFacts]]:
    """The events in envelopes, numbered on from each kommunenummer's first free number."""
    following = dict(first)
    envelopes: list[CloudEvent[MunicipalityFacts]] = []
    for event in events:
        envelopes.append(
            CloudEvent.wrap(event, sequence=following[event.kommunenummer], traceparent=tracing.current())
        )
        following[event.kommunenummer] += 1
    return envelopes
