"""What every API accepts: request bodies and dates, with the rules all services share.

- `Body`: a request body. Unknown fields are refused, and so is a NUL character in any text
  (PostgreSQL cannot store it): a 422 naming the field, never a 500.
- `IsoDate`: a calendar date written YYYY-MM-DD, and nothing else (pydantic alone would take a
  Unix timestamp such as 0 for 1970-01-01).
- `BIGINT_MAX`: the bound for a number compared with a bigint column, such as a paging position.
- `Line`: one line of text, such as a name, a title or a place: 1-200 characters once trimmed, no
  control characters. A line break in a network's name would otherwise reach an e-mail's subject
  and a calendar's summary; the OpenAPI document states the rule as a pattern.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, field_validator

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]

BIGINT_MAX = 2**63 - 1
"""The largest number a PostgreSQL bigint holds: the bound of any number a request gives for a
bigint column (a larger one would fail in the driver, a 500, instead of a 422 naming it)."""

Line = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"),
]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value
