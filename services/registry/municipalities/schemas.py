"""The municipality API's HTTP models: what an import takes and answers, and dated versions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from livskraft_contracts import MunicipalityRef
from pydantic import BaseModel, Field

from services.runtime.inputs import Body

from .klass import CountyVersion, MunicipalityVersion

Source = Literal["bundled", "folder", "klass"]


class ImportIn(Body):
    """Where the KLASS data comes from: the files bundled with the registry (the default), a
    folder of saved API responses on the server in the bundle's layout, or the live SSB KLASS
    API (the setting `klass_api_url`, SSB's own address unless set)."""

    source: Source = Field(default="bundled", description="bundled (default), folder or klass")
    folder: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="the folder on the server (source 'folder' only)",
    )


class Counts(BaseModel):
    registered: int
    changed: int
    unchanged: int


class ImportOut(BaseModel):
    """What the import changed. `registered`/`changed`/`unchanged` count municipality versions;
    `events` the MunicipalityRegistered and MunicipalityChanged events written."""

    source: Source
    registered: int
    changed: int
    unchanged: int
    events: int
    event_types: dict[str, int]
    links: int = Field(description="links between versions (kommuneendringer) new or changed")
    counties: Counts


class MunicipalityOut(BaseModel):
    """One dated version of a municipality (kommune). `valid_from_known` false: the code existed
    already when the data starts, so at least since valid_from. Predecessors are named with the
    day before valid_from, successors with valid_to: the days they were valid."""

    kommunenummer: str
    name: str
    county: str
    organisation_number: str | None
    valid_from: date
    valid_to: date | None
    valid_from_known: bool
    predecessors: list[MunicipalityRef]
    successors: list[MunicipalityRef]

    @classmethod
    def of(cls, v: MunicipalityVersion) -> MunicipalityOut:
        before = v.valid_from - timedelta(days=1)
        return cls(
            kommunenummer=v.kommunenummer,
            name=v.name,
            county=v.fylkesnummer,
            organisation_number=v.organisasjonsnummer,
            valid_from=v.valid_from,
            valid_to=v.valid_to,
            valid_from_known=v.valid_from_known,
            predecessors=[MunicipalityRef(kommunenummer=c, valid_on=before) for c in v.predecessors],
            successors=[
                MunicipalityRef(kommunenummer=c, valid_on=v.valid_to)
                for c in v.successors
                if v.valid_to is not None
            ],
        )


class CurrentOut(BaseModel):
    """What the municipality with this number on `on` had become by `today`: one code, several
    after a split, none when what it became is not known."""

    kommunenummer: str
    on: date
    today: date
    municipality: MunicipalityOut
    current: list[str]
    versions: list[MunicipalityOut]


class CountyOut(BaseModel):
    fylkesnummer: str
    name: str
    valid_from: date
    valid_to: date | None
    valid_from_known: bool
    predecessors: list[str]
    successors: list[str]
    municipalities: int = Field(description="how many municipalities it had on the day asked about")

    @classmethod
    def of(cls, c: CountyVersion, municipalities_then: int) -> CountyOut:
        return cls(
            fylkesnummer=c.fylkesnummer,
            name=c.name,
            valid_from=c.valid_from,
            valid_to=c.valid_to,
            valid_from_known=c.valid_from_known,
            predecessors=list(c.predecessors),
            successors=list(c.successors),
            municipalities=municipalities_then,
        )
