"""JSON-stat 2.0, the format of SSB's PxWebApi: a cube of counts as a dataset, a collection, CSV.

Pure: a `Cube` (dimensions with their categories, and the values and statuses of some cells) in,
JSON-stat out. What JSON-stat 2.0 asks (json-stat.org/full) and what is done here:
- a dataset has `version` "2.0", `class` "dataset", `id` (the dimensions in order), `size` (the
  categories of each, same order), `dimension` (one object per id) and `value`: a dense array in
  row-major order, the last dimension varying fastest, `null` where there is no value;
- `role` names the time, geo and metric dimensions; the metric dimension's categories each carry a
  `unit` with its `decimals`;
- `status` says why a cell has no value, or that its value is provisional, as an object from the
  cell's position to a symbol (SSB's symbols, explained in `extension.status` and `note`);
- `label`s are in bokmål, `updated` is ISO 8601, `source` names the programme.
CSV (`to_csv`) is made from the JSON-stat document itself, so a frozen version renders the same
CSV for as long as it is kept.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Role = Literal["time", "geo", "metric"]
Cell = tuple[str, ...]
"""A cell's categories, one per dimension, in the cube's dimension order."""

NOT_APPLICABLE = "."
"""SSB's '.': no value can exist here (the code did not exist that year, the network did not run)."""
MISSING = ".."
"""SSB's '..': a value should exist but is not known."""
PROVISIONAL = "p"
"""Provisional (foreløpige tall): the year is not over, the figure may still change."""
CONFIDENTIAL = ":"
"""SSB's ':': withheld (confidential)."""
STATUS_LABELS = {
    CONFIDENTIAL: "Tall holdes tilbake (konfidensielt)",
    NOT_APPLICABLE: "Tall kan ikke forekomme (koden fantes ikke det året, eller nettverket var ikke i gang)",
    MISSING: "Tall mangler",
    PROVISIONAL: "Foreløpige tall: året er ikke omme",
}


@dataclass(frozen=True)
class Unit:
    label: str
    decimals: int = 0


@dataclass(frozen=True)
class Dimension:
    """A dimension and its categories (code, bokmål label), in presentation order."""

    id: str
    label: str
    categories: Sequence[tuple[str, str]]
    role: Role | None = None
    units: Mapping[str, Unit] = field(default_factory=dict)
    """For the metric dimension: each category's unit."""
    note: Sequence[str] = ()

    @property
    def codes(self) -> list[str]:
        return [code for code, _ in self.categories]


@dataclass(frozen=True)
class Cube:
    """A statistic before it is JSON-stat: its dimensions and the cells that have something.

    A cell absent from `values` is null; `status` may say why (or mark a value provisional)."""

    label: str
    dimensions: Sequence[Dimension]
    values: Mapping[Cell, int | float]
    status: Mapping[Cell, str] = field(default_factory=dict)
    note: Sequence[str] = ()
    extension: Mapping[str, Any] = field(default_factory=dict)

    def cells(self) -> Iterator[Cell]:
        """Every cell, in JSON-stat's row-major order (the last dimension varies fastest)."""
        return itertools.product(*(d.codes for d in self.dimensions))


def dataset(
    cube: Cube, *, href: str, source: str, updated: datetime, csv_href: str | None = None
) -> dict[str, Any]:
    """The cube as a JSON-stat 2.0 dataset."""
    roles: dict[str, list[str]] = {}
    for d in cube.dimensions:
        if d.role:
            roles.setdefault(d.role, []).append(d.id)
    values: list[int | float | None] = []
    status: dict[str, str] = {}
    for position, cell in enumerate(cube.cells()):
        value = cube.values.get(cell)
        values.append(value)
        if cell in cube.status:
            status[str(position)] = cube.status[cell]
    used = sorted(set(status.values()))
    document: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "href": href,
        "label": cube.label,
        "source": source,
        "updated": updated.isoformat().replace("+00:00", "Z"),
        "id": [d.id for d in cube.dimensions],
        "size": [len(d.categories) for d in cube.dimensions],
        "role": roles,
        "dimension": {d.id: _dimension(d) for d in cube.dimensions},
        "value": values,
    }
    if status:
        document["status"] = status
    notes = [
        *cube.note,
        *(f"{symbol}: {STATUS_LABELS[symbol]}" for symbol in used if symbol in STATUS_LABELS),
    ]
    if notes:
        document["note"] = notes
    extension = dict(cube.extension)
    if used:
        extension["status"] = {symbol: STATUS_LABELS.get(symbol, symbol) for symbol in used}
    if extension:
        document["extension"] = extension
    if csv_href:
        document["link"] = {"alternate": [{"type": "text/csv", "href": csv_href}]}
    return document


def _dimension(d: Dimension) -> dict[str, Any]:
    category: dict[str, Any] = {"index": d.codes, "label": dict(d.categories)}
    if d.units:
        category["unit"] = {
            code: {"label": unit.label, "decimals": unit.decimals} for code, unit in d.units.items()
        }
    out: dict[str, Any] = {"label": d.label, "category": category}
    if d.note:
        out["note"] = list(d.note)
    return out


def collection(
    label: str, href: str, updated: datetime, items: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A JSON-stat 2.0 collection linking datasets by `href` (each item: class, href, label)."""
    return {
        "version": "2.0",
        "class": "collection",
        "label": label,
        "href": href,
        "updated": updated.isoformat().replace("+00:00", "Z"),
        "link": {"item": [dict(item) for item in items]},
    }


def dumps(document: Mapping[str, Any]) -> str:
    """The document as compact UTF-8 JSON (letters such as æøå as they are)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def to_csv(document: Mapping[str, Any]) -> str:
    """A JSON-stat dataset as CSV (RFC 4180, UTF-8): for each dimension its code and its label,
    then the value (empty when null) and the status symbol. One row per cell, in value order."""
    ids: list[str] = list(document["id"])
    dimensions = [document["dimension"][i] for i in ids]
    indexes = [_index(d["category"]) for d in dimensions]
    labels = [d["category"].get("label", {}) for d in dimensions]
    status = _status(document.get("status"), len(document["value"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [name for i, d in zip(ids, dimensions, strict=True) for name in (i, d.get("label", i))]
        + ["verdi", "status"]
    )
    for position, cell in enumerate(itertools.product(*indexes)):
        value = document["value"][position]
        row = [text for n, code in enumerate(cell) for text in (code, labels[n].get(code, code))]
        writer.writerow([*row, _number(value), status.get(position, "")])
    return out.getvalue()


def _index(category: Mapping[str, Any]) -> list[str]:
    index = category.get("index")
    if index is None:
        return list(category["label"])
    if isinstance(index, list):
        return index
    return sorted(index, key=index.__getitem__)


def _status(status: Any, size: int) -> dict[int, str]:
    if status is None:
        return {}
    if isinstance(status, str):
        return dict.fromkeys(range(size), status)
    if isinstance(status, list):
        return {i: s for i, s in enumerate(status) if s}
    return {int(k): v for k, v in status.items()}


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)
