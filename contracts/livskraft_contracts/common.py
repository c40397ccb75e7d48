"""Value types shared by the events: municipality codes with their date, themes, bodies."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

Kommunenummer = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
"""Municipality number (kommunenummer): four digits as a string, leading zero kept."""

Fylkesnummer = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
"""County number (fylkesnummer): two digits as a string."""

_ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def _orgnr_checksum(value: str) -> str:
    remainder = sum(int(d) * w for d, w in zip(value, _ORGNR_WEIGHTS, strict=False)) % 11
    check = (11 - remainder) % 11
    if check == 10 or check != int(value[8]):
        raise ValueError("organisation number fails the modulus 11 check")
    return value


Organisasjonsnummer = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{9}$"), AfterValidator(_orgnr_checksum)
]
"""Organisation number (organisasjonsnummer) in Enhetsregisteret: nine digits, modulus 11."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
"""A short non-empty text: a name of a network or municipality, a place, a title."""


class Part(BaseModel):
    """Base of the value objects inside an event: closed (extra fields refused) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MunicipalityRef(BaseModel):
    """A kommunenummer and the date it is valid for: codes are reused and renumbered over time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kommunenummer: Kommunenummer
    valid_on: date


class Theme(StrEnum):
    """The programme's six theme areas (temaområder)."""

    KLIMA_ENERGI = "klima-energi"
    AREAL = "areal"
    FOLKEHELSE_FRILUFTSLIV = "folkehelse-friluftsliv"
    PRODUKSJON_FORBRUK = "produksjon-forbruk"
    INTERNASJONALT = "internasjonalt"
    KULTURARV = "kulturarv"


class DecisionBody(StrEnum):
    """The political body that made a decision (Fiks vocabulary)."""

    KOMMUNESTYRE = "kommunestyre"
    FORMANNSKAP = "formannskap"
    UTVALG = "utvalg"


def require_distinct(values: Iterable[Hashable], what: str) -> None:
    """Raise ValueError if a value occurs twice (for list fields that are really sets)."""
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} must be distinct; {value!r} occurs twice")
        seen.add(value)


def require_order(first: date, then: date | None, message: str, *, strict: bool = False) -> None:
    """Raise ValueError(message) unless `then` is on or after `first` (after, if strict)."""
    if then is not None and (then < first or (strict and then == first)):
        raise ValueError(message)
