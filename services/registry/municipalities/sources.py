"""Where the KLASS data comes from: the files bundled with the registry (the default), a folder of
saved responses, or SSB's live KLASS API. Every source gives the same `KlassResponses`, which
`klass.parse_responses` turns into municipalities and counties through time.

- `BUNDLED` (`data/` beside this module; provenance and licence in data/SOURCES.md): saved KLASS
  131 responses for 2006-2024, its change table, the county names and correspondence 1236. A
  registry whose municipality tables are empty imports them when it starts, and
  `POST /municipalities/import` imports them unless told otherwise.
- A folder on the server in the same layout (`read_folder`): e.g. a newer bundle under test.
- The live API at https://data.ssb.no/api/klass/v1 (`fetch_kommuneinndeling`): each request has a
  timeout, and what may pass (a timeout, a dropped connection, 429 or a 5xx) is tried again
  after a growing pause; the setting `klass_api_url` points it elsewhere.

A new year's reform (kommunereform, in force on 1 January) comes in by a re-import; nothing
else changes. KLASS publishes the new version of 131 before the day it takes effect. Either
- import from the live API: `POST /municipalities/import {"source": "klass"}` (programme staff);
  or
- update the bundle: save the new version as `Kommuneinndeling YYYY.json` (`/versions/{id}`
  of classification 131), `changetables.json` again (`/classifications/131/changes?from=1971-01-01
  &to=<the new 1 January>`), and `1236.csv` if KLASS has a newer correspondence; add the new
  county names to `county_names_numbers.txt`; note the date in data/SOURCES.md; check the counts
  in tests/registry/test_klass.py; release, then `POST /municipalities/import` (the bundle is the
  default). The start-up import only fills empty tables: a running registry learns a new
  bundle from that call.
Either way the import ends the old versions (MunicipalityChanged, with valid_to), registers the
new ones (MunicipalityRegistered, with predecessors) and changes nothing it already holds.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from .klass import (
    CHANGES_FROM,
    FIRST_DAY,
    FYLKESINNDELING,
    KOMMUNEINNDELING,
    ORGANISASJONSNUMMER_TIL_KOMMUNE,
    KlassDataError,
    KlassResponses,
    Kommuneinndeling,
    parse_correspondence_csv,
    parse_county_names,
    parse_responses,
)

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parent / "data"
"""The KLASS responses the registry carries with it (see data/SOURCES.md)."""
KLASS_API = "https://data.ssb.no/api/klass/v1"
TIMEOUT_S = 30.0
"""Per request (connect, read, write, pool): KLASS answers a version in well under a second."""
ATTEMPTS = 3
BACKOFF_S = 0.5
"""The pause before the second attempt; it doubles before each further one."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


# --- Files: the bundle, or a folder in its layout ----------------------------------------------


def read_folder(folder: Path) -> KlassResponses:
    """The saved KLASS responses in a folder: 'Kommuneinndeling YYYY.json' (131 versions) and
    changetables.json (131 changes), and where present 'Fylkesinndeling YYYY.json' with
    changetables_104.json (104), county_names_numbers.txt (fylkesnummer,name; used when no 104 is
    there) and 1236.csv (correspondence 1236 as KLASS's CSV: ISO-8859-1, ';')."""
    versions = tuple(_read_json(p) for p in sorted(folder.glob("Kommuneinndeling *.json")))
    if not versions:
        raise KlassDataError(f"no 'Kommuneinndeling *.json' in {folder}")
    names = folder / "county_names_numbers.txt"
    correspondence = folder / "1236.csv"
    return KlassResponses(
        municipality_versions=versions,
        municipality_changes=_read_json(folder / "changetables.json"),
        county_versions=tuple(_read_json(p) for p in sorted(folder.glob("Fylkesinndeling *.json"))),
        county_changes=_read_json_if_present(folder / "changetables_104.json"),
        county_names=parse_county_names(names.read_text(encoding="utf-8")) if names.exists() else {},
        organisation_numbers=(
            parse_correspondence_csv(correspondence.read_bytes().decode("iso-8859-1"))
            if correspondence.exists()
            else ()
        ),
    )


def load_folder(folder: Path) -> Kommuneinndeling:
    """Read and parse a folder of saved KLASS responses."""
    return parse_responses(read_folder(folder))


@functools.cache
def load_bundled() -> Kommuneinndeling:
    """The bundled kommuneinndeling, read once per process (the result is immutable)."""
    return load_folder(BUNDLED)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_json_if_present(path: Path) -> Any:
    return _read_json(path) if path.exists() else None


# --- The live KLASS API --------------------------------------------------------------------------


def klass_client(
    base_url: str = KLASS_API, *, timeout_s: float = TIMEOUT_S, **kwargs: Any
) -> httpx.AsyncClient:
    """An httpx client for KLASS: JSON (the API's default is XML; the .json suffix is deprecated)."""
    return httpx.AsyncClient(
        base_url=base_url, headers={"Accept": "application/json"}, timeout=timeout_s, **kwargs
    )


class KlassApi:
    """SSB KLASS's REST API on an httpx client, trying again what may pass: a timeout, a broken
    connection, 429 Too Many Requests and 5xx answers, `attempts` times in all, pausing
    `backoff_s`, then twice as long, and so on. Other answers (404, 400) are final."""

    def __init__(self, client: httpx.AsyncClient, *, attempts: int = ATTEMPTS, backoff_s: float = BACKOFF_S):
        if attempts < 1:
            raise ValueError("attempts must be 1 or more")
        self.client, self.attempts, self.backoff_s = client, attempts, backoff_s

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.client.get(path, params=params, headers={"Accept": "application/json"})
                if response.status_code not in RETRY_STATUSES or attempt == self.attempts:
                    response.raise_for_status()
                    return response.json()
                why = f"status {response.status_code}"
            except httpx.TransportError as error:  # timeouts, refused or dropped connections
                if attempt == self.attempts:
                    raise
                why = type(error).__name__
            pause = self.backoff_s * 2 ** (attempt - 1)
            log.warning(
                "SSB KLASS %s: %s; attempt %d of %d in %.1f s", path, why, attempt + 1, self.attempts, pause
            )
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # the last attempt returns or raises


async def fetch_responses(
    api: KlassApi, *, since: date = FIRST_DAY, today: date | None = None
) -> KlassResponses:
    """The KLASS responses from the live API: the 131 and 104 versions valid on or after `since`,
    their change tables from 1971, and correspondence 1236."""
    municipal = await fetch_versions(api, KOMMUNEINNDELING, since)
    counties = await fetch_versions(api, FYLKESINNDELING, since)
    until = max([today or date.today(), *(date.fromisoformat(v["validFrom"]) for v in municipal)])
    return KlassResponses(
        municipality_versions=tuple(municipal),
        municipality_changes=await fetch_changes(api, KOMMUNEINNDELING, until),
        county_versions=tuple(counties),
        county_changes=await fetch_changes(api, FYLKESINNDELING, until),
        organisation_numbers=await fetch_correspondence(api, ORGANISASJONSNUMMER_TIL_KOMMUNE),
    )


async def fetch_kommuneinndeling(
    base_url: str = KLASS_API,
    *,
    since: date = FIRST_DAY,
    timeout_s: float = TIMEOUT_S,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Kommuneinndeling:
    """Municipalities and counties through time, from the live KLASS API."""
    async with klass_client(base_url, timeout_s=timeout_s, transport=transport) as client:
        api = KlassApi(client, attempts=attempts, backoff_s=backoff_s)
        return parse_responses(await fetch_responses(api, since=since))


async def fetch_versions(api: KlassApi, classification: int, since: date) -> list[dict[str, Any]]:
    """Every version of a classification still valid on or after `since`, in full."""
    listed = (await api.get_json(f"classifications/{classification}"))["versions"]
    wanted = [v for v in listed if not v.get("validTo") or date.fromisoformat(v["validTo"]) > since]
    return [await api.get_json(f"versions/{v['id']}") for v in wanted]


async def fetch_changes(api: KlassApi, classification: int, until: date) -> dict[str, Any]:
    """A classification's change table from CHANGES_FROM to `until`."""
    return await api.get_json(  # type: ignore[no-any-return]
        f"classifications/{classification}/changes",
        params={"from": CHANGES_FROM.isoformat(), "to": until.isoformat()},
    )


async def fetch_correspondence(api: KlassApi, table: int) -> tuple[dict[str, str], ...]:
    """A correspondence table's rows; none when KLASS does not have it (organisation numbers
    are 'where known')."""
    try:
        doc = await api.get_json(f"correspondencetables/{table}")
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            return ()
        raise
    return tuple(doc.get("correspondenceMaps", []))
