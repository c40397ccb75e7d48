"""Reading a CSV file of values for one municipality (pure: bytes in, rows or problems out).

The file is UTF-8 (a byte order mark is allowed, as spreadsheets write one), with a header row and
one value per row:

    indicator,year,value,status,comment
    klimagassutslipp-per-innbygger,2009,6.42,final,
    nye-boliger-i-sentrum,2009,41.5,preliminary,Tall fra byggesaksregisteret

Columns `indicator`, `year`, `status` and one of `value` or `total` are required; `comment` and
`supersedes_revision` may be there. Cells are separated by commas, or by semicolons as a Norwegian
spreadsheet saves them, in which case a decimal comma is read too (`6,42`). Rows are named by their
line in the file, the header being line 1, as a spreadsheet numbers them: a problem's field is
`rows[3].value` for the value on line 3.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from livskraft_contracts import IndicatorStatus

from .domain import Report

MAX_BYTES = 1_000_000
MAX_ROWS = 10_000
REQUIRED = ("indicator", "year", "status")
OPTIONAL = ("value", "total", "comment", "supersedes_revision")
MAX_COMMENT = 1000
MAX_NUMBER = 1e15
"""The largest magnitude a value or total may have, in a file as in a JSON body."""


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: `rows[<line>].<column>`, or `file`."""

    field: str
    message: str


@dataclass(frozen=True)
class Row:
    line: int
    report: Report


def field(line: int, column: str) -> str:
    return f"rows[{line}].{column}"


def parse(data: bytes) -> tuple[list[Row], list[Problem]]:
    """Every row the file holds, and every problem found in its shape: the caller saves nothing
    when there is one problem."""
    text, problem = _decode(data)
    if problem:
        return [], [problem]
    delimiter = ";" if ";" in text.split("\n", 1)[0] else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        lines = list(reader)
    except csv.Error as exc:
        return [], [Problem(field(reader.line_num, "file"), f"not readable as CSV: {exc}")]
    header = [h.strip().lower() for h in lines[0]] if lines else []
    problems = _check_header(header)
    if problems:
        return [], problems
    if len(lines) - 1 > MAX_ROWS:
        return [], [Problem("file", f"has {len(lines) - 1} rows; at most {MAX_ROWS} in one file")]
    rows: list[Row] = []
    seen: dict[tuple[str, int], int] = {}
    for line, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue  # an empty line, as spreadsheets leave at the end
        row, found = _row(line, header, cells, decimal_comma=delimiter == ";")
        problems += found
        if row is not None:
            key = (row.report.indicator, row.report.year)
            if key in seen:
                problems.append(
                    Problem(field(line, "indicator"), f"{key[0]} for {key[1]} is on line {seen[key]} too")
                )
            seen.setdefault(key, line)
            rows.append(row)
    if not rows and not problems:
        problems.append(Problem("file", "holds no values"))
    return rows, problems


def _decode(data: bytes) -> tuple[str, Problem | None]:
    if len(data) > MAX_BYTES:
        return "", Problem("file", f"is larger than {MAX_BYTES:,} bytes; split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return "", Problem("file", f"is not UTF-8 (byte {exc.start}); save it as CSV UTF-8")
    if "\x00" in text:
        return "", Problem("file", "holds a NUL character")
    if not text.strip():
        return "", Problem("file", "is empty; the first line names the columns")
    return text, None


def _check_header(header: list[str]) -> list[Problem]:
    problems = [
        Problem(field(1, name or "(empty)"), "is not a column this file may have")
        for name in header
        if name not in REQUIRED + OPTIONAL
    ]
    problems += [Problem(field(1, name), "column is missing") for name in REQUIRED if name not in header]
    if "value" not in header and "total" not in header:
        problems.append(Problem(field(1, "value"), "column is missing (or `total`)"))
    problems += [
        Problem(field(1, name), "column occurs twice") for name in set(header) if header.count(name) > 1
    ]
    return problems


def _row(
    line: int, header: list[str], cells: list[str], *, decimal_comma: bool
) -> tuple[Row | None, list[Problem]]:
    if len(cells) != len(header):
        return None, [Problem(field(line, "file"), f"has {len(cells)} cells; the header has {len(header)}")]
    raw = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
    problems: list[Problem] = []

    def bad(column: str, message: str) -> None:
        problems.append(Problem(field(line, column), message))

    indicator = raw["indicator"]
    if not indicator:
        bad("indicator", "is empty")
    year = _integer(raw["year"])
    if year is None or not 1900 <= year <= 2100:
        bad("year", f"{raw['year']!r} is not a year")
    status = _status(raw["status"])
    if status is None:
        bad("status", f"{raw['status']!r} is not preliminary or final")
    numbers: dict[str, float | None] = {}
    for column in ("value", "total"):
        numbers[column] = _number(raw.get(column, ""), decimal_comma)
        if raw.get(column) and numbers[column] is None:
            bad(column, f"{raw[column]!r} is not a number")
    supersedes = _integer(raw.get("supersedes_revision", ""))
    if raw.get("supersedes_revision") and (supersedes is None or supersedes < 1):
        bad("supersedes_revision", f"{raw['supersedes_revision']!r} is not a revision number")
    comment = raw.get("comment") or None
    if comment and len(comment) > MAX_COMMENT:
        bad("comment", f"is longer than {MAX_COMMENT} characters")
    if problems:
        return None, problems
    assert year is not None and status is not None
    report = Report(
        indicator=indicator,
        year=year,
        status=status,
        value=numbers["value"],
        total=numbers["total"],
        comment=comment,
        supersedes_revision=supersedes,
    )
    return Row(line, report), []


def _integer(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _number(text: str, decimal_comma: bool) -> float | None:
    if not text:
        return None
    if decimal_comma:
        text = text.replace(",", ".")
    try:
        number = float(text.replace(" ", "").replace("\u00a0", ""))
    except ValueError:
        return None
    return number if abs(number) <= MAX_NUMBER else None  # NaN compares false: refused too


def _status(text: str) -> IndicatorStatus | None:
    aliases = {"foreløpig": "preliminary", "endelig": "final"}
    text = aliases.get(text.lower(), text.lower())
    return IndicatorStatus(text) if text in ("preliminary", "final") else None
