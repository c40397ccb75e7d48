"""Events published by the indicators service: the indicator catalogue.

The indicators service keeps the programme's facts of record about results: the catalogue of
indicators, the values municipalities report (published as `IndicatorReported`, whose type stays
`no.ks.livskraft.reporting.IndicatorReported.v1` as first published) and the plan cycle
(`plan.py`). A reader builds labels, units and decimals for its tables from `IndicatorDefined`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from .common import Text, Theme
from .envelope import Event
from .reporting import Code


class IndicatorsEvent(Event):
    service: ClassVar[str] = "indicators"


class IndicatorDirection(StrEnum):
    """Which way an indicator's value is better."""

    HIGHER_IS_BETTER = "higher-is-better"
    LOWER_IS_BETTER = "lower-is-better"
    NEITHER = "neither"  # a context figure, e.g. an area or a count without a goal


Bound = Annotated[float, Field(allow_inf_nan=False)]


class IndicatorDefined(IndicatorsEvent):
    """An indicator (indikator) in the catalogue was defined or revised: the whole entry.

    Values are reported per municipality and year in `unit`, with `decimals` decimals. When
    `per_inhabitant` is true, the value is per inhabitant on 1 January of the year (SSB 07459).
    A retired indicator takes no new values; its earlier values stand.
    """

    key_field: ClassVar[str] = "indicator"

    indicator: Code
    revision: int = Field(ge=1, description="1 when defined, then +1 per revision")
    theme: Theme
    label: Text = Field(description="the label in bokmål")
    unit: Text = Field(description="the unit in bokmål, e.g. 'tonn CO2-ekvivalenter per innbygger'")
    decimals: int = Field(ge=0, le=6)
    direction: IndicatorDirection
    source: Text = Field(description="where the figure comes from, e.g. 'Miljødirektoratet'")
    per_inhabitant: bool = False
    minimum: Bound | None = None
    maximum: Bound | None = None
    retired: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> IndicatorDefined:
        if self.minimum is not None and self.maximum is not None and self.maximum < self.minimum:
            raise ValueError("maximum is below minimum")
        return self
