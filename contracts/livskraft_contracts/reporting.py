"""Events published by the reporting service: indicators and national statistics."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, HttpUrl, model_validator

from .common import MunicipalityRef, require_order
from .envelope import Event

Code = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
"""A lower-case kebab-case code, e.g. `networks-per-theme`."""


class ReportingEvent(Event):
    service: ClassVar[str] = "reporting"


class IndicatorStatus(StrEnum):
    """Quality of a value, mirroring JSON-stat `status` and SSB's symbols."""

    PRELIMINARY = "preliminary"  # ureviderte tall
    FINAL = "final"  # reviderte tall
    MISSING = "missing"  # ".." in SSB tables: no value
    CONFIDENTIAL = "confidential"  # ":" in SSB tables: withheld


_WITHOUT_VALUE = {IndicatorStatus.MISSING, IndicatorStatus.CONFIDENTIAL}


class IndicatorReported(ReportingEvent):
    """A municipality reported an indicator (indikator) value for a year.

    Published by the indicators service; the type keeps the `reporting` name it was first
    published under. A correction is a new report with a higher `revision` for the same
    municipality, indicator and year: the highest revision is the value of record. `revision` came
    after the first release: order events without it by `sequence`.
    """

    key_field: ClassVar[str] = "municipality"

    municipality: MunicipalityRef
    indicator: Code
    year: int = Field(ge=1900, le=2100)
    value: Annotated[float, Field(allow_inf_nan=False)] | None
    status: IndicatorStatus
    revision: int | None = Field(
        default=None, ge=1, description="1 for the first report of this value, then +1 per correction"
    )

    @model_validator(mode="after")
    def _value_matches_status(self) -> IndicatorReported:
        if (self.value is None) != (self.status in _WITHOUT_VALUE):
            raise ValueError(f"status {self.status.value} does not fit value {self.value!r}")
        return self


class StatisticsPublished(ReportingEvent):
    """A national statistics dataset (JSON-stat 2.0) was published or revised."""

    key_field: ClassVar[str] = "dataset_id"

    dataset_id: Code
    dataset_version: int = Field(ge=1, description="1 for the first publication, then +1")
    period_start: date
    period_end: date
    link: HttpUrl

    @model_validator(mode="after")
    def _period(self) -> StatisticsPublished:
        require_order(self.period_start, self.period_end, "period_end is before period_start")
        return self
