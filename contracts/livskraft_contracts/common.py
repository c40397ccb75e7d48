"""Value types shared by the events: municipality codes with their date, themes, bodies."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Kommunenummer = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
"""Municipality number (kommunenummer): four digits as a string, leading zero kept."""

Fylkesnummer = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
"""County number (fylkesnummer): two digits as a string."""


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
