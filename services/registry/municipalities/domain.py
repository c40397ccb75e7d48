"""The rules of an import (innlesing), pure: which incoming versions are new, which change a
stored one, and which are as stored. The store (store.py) loads and writes; this decides.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from .klass import CountyVersion, MunicipalityVersion

V = TypeVar("V", MunicipalityVersion, CountyVersion)


# --- What an import reports ------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedVersion(Generic[V]):
    """A version an import wrote: new (`previous` None) or changed (`previous` as it was)."""

    id: uuid.UUID
    version: V
    previous: V | None = None


@dataclass(frozen=True)
class ImportResult(Generic[V]):
    """What an import (innlesing) changed. `changes` 0: the store already held all of it."""

    registered: tuple[ImportedVersion[V], ...]
    changed: tuple[ImportedVersion[V], ...]
    unchanged: int
    links_written: int = 0

    @property
    def changes(self) -> int:
        return len(self.registered) + len(self.changed) + self.links_written


# --- Planning an import (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class StoredVersion(Generic[V]):
    id: uuid.UUID
    version: V


@dataclass(frozen=True)
class ImportPlan(Generic[V]):
    inserts: list[ImportedVersion[V]]
    updates: list[ImportedVersion[V]]
    unchanged: int


def plan_import(stored: Iterable[StoredVersion[V]], incoming: Iterable[V]) -> ImportPlan[V]:
    """Which incoming versions are new, which change a stored one, and how many are as stored.

    A version is the stored one with its code and valid_from. Where either start is unknown (the
    code existed before the data began), the stored version it overlaps is the same one: data
    that reaches further back may move a start earlier, and data that reaches less far does not
    move it later or forget its predecessors. Nor does data without organisation numbers forget
    the stored ones.
    """
    by_code: dict[str, list[StoredVersion[V]]] = defaultdict(list)
    for s in stored:
        by_code[s.version.code].append(s)
    inserts: list[ImportedVersion[V]] = []
    updates: list[ImportedVersion[V]] = []
    unchanged = 0
    taken: set[uuid.UUID] = set()
    for version in {(v.code, v.valid_from): v for v in incoming}.values():
        match = _same_version(by_code[version.code], version, taken)
        if match is None:
            inserts.append(ImportedVersion(uuid.uuid4(), version))
            continue
        taken.add(match.id)
        merged = _reconcile(match.version, version)
        if merged == match.version:
            unchanged += 1
        else:
            updates.append(ImportedVersion(match.id, merged, previous=match.version))
    return ImportPlan(inserts, updates, unchanged)


def _same_version(
    candidates: Sequence[StoredVersion[V]], version: V, taken: set[uuid.UUID]
) -> StoredVersion[V] | None:
    free = [s for s in candidates if s.id not in taken]
    exact = [s for s in free if s.version.valid_from == version.valid_from]
    if exact:
        return exact[0]
    return next(
        (
            s
            for s in free
            if _overlap(s.version, version) and not (s.version.valid_from_known and version.valid_from_known)
        ),
        None,
    )


def _overlap(a: V, b: V) -> bool:
    return (a.valid_to is None or b.valid_from < a.valid_to) and (
        b.valid_to is None or a.valid_from < b.valid_to
    )


def _reconcile(stored: V, incoming: V) -> V:
    """The incoming version, less what it does not know and the stored one does."""
    version = _keep_known_start(stored, incoming)
    if isinstance(stored, MunicipalityVersion) and isinstance(version, MunicipalityVersion):
        if version.organisasjonsnummer is None:
            known: dict[str, Any] = {"organisasjonsnummer": stored.organisasjonsnummer}
            return replace(version, **known)
    return version


def _keep_known_start(stored: V, incoming: V) -> V:
    if incoming.valid_from_known or stored.valid_from > incoming.valid_from:
        return incoming
    return replace(
        incoming,
        valid_from=stored.valid_from,
        valid_from_known=stored.valid_from_known,
        predecessors=stored.predecessors,
    )
