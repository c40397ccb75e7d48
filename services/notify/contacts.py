"""Where e-mail addresses come from: the registry, asked over HTTP when an e-mail is sent.

Contact addresses are personal data and never travel on a Kafka topic (ContactAssigned carries
an opaque person id only). notify asks the registry's contacts endpoint
(`GET /networks/{network_id}/enrolments/{kommunenummer}/contacts`) with a credential of its own,
uses the addresses for the one message, and keeps none of them. The reasons are in docs/notify.md.

The credential: a bearer token read from `LIVSKRAFT_REGISTRY_TOKEN_FILE` on every use (a secret
mounted and rotated by the platform), or, in development without one, a development token notify
signs for itself with the local key (`services.devtools.tokens`, imported only then).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx

from services.runtime.settings import Settings

log = logging.getLogger(__name__)
SUBJECT = "livskraft-notify"


class ContactsUnavailable(Exception):
    """The registry could not answer just now: try the e-mail again later."""


class Contacts(Protocol):
    async def main_contacts(self, network_id: uuid.UUID, kommunenummer: str) -> list[str]:
        """The e-mail addresses of the municipality's main contacts in the network."""
        ...


class RegistryContacts:
    def __init__(self, http: httpx.AsyncClient, token: Callable[[], str]) -> None:
        self._http, self._token = http, token

    async def main_contacts(self, network_id: uuid.UUID, kommunenummer: str) -> list[str]:
        try:
            answer = await self._http.get(
                f"/networks/{network_id}/enrolments/{kommunenummer}/contacts",
                headers={"authorization": f"Bearer {self._token()}"},
            )
        except httpx.HTTPError as exc:
            raise ContactsUnavailable(f"the registry did not answer: {type(exc).__name__}") from None
        if answer.status_code == 404:
            return []  # no such network or enrolment (any more): nobody to write to
        if answer.status_code != 200:
            raise ContactsUnavailable(f"the registry answered {answer.status_code}")
        return [c["email"] for c in answer.json() if c.get("role") == "main-contact" and c.get("email")]

    async def aclose(self) -> None:
        await self._http.aclose()


def token_source(settings: Settings) -> Callable[[], str]:
    if settings.registry_token_file is not None:
        path = Path(settings.registry_token_file)
        return lambda: path.read_text().strip()
    if settings.environment != "development":
        raise RuntimeError(
            "LIVSKRAFT_REGISTRY_TOKEN_FILE must be set in production (notify's registry token)"
        )
    return _DevToken(settings)


class _DevToken:
    """A staff token signed by the development key, renewed before it expires."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._token, self._until = "", 0.0

    def __call__(self) -> str:
        if time.monotonic() > self._until:
            from services.devtools.tokens import issue_dev_token

            s = self._settings
            self._token = issue_dev_token(
                s.data_dir,
                "staff",
                subject=SUBJECT,
                ttl_minutes=60,
                issuer=s.jwt_issuer,
                audience=s.jwt_audience,
            )
            self._until = time.monotonic() + 50 * 60
        return self._token


def from_settings(settings: Settings) -> RegistryContacts:
    http = httpx.AsyncClient(base_url=settings.registry_url, timeout=10, trust_env=False)
    return RegistryContacts(http, token_source(settings))
