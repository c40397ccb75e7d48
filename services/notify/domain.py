"""notify's rules, with no I/O: webhook signatures, the retry schedule, which endpoints may be
called, when a reminder falls due, and which e-mail goes to whom.

Webhooks follow the Standard Webhooks specification (v1): a delivery's `webhook-id` stays the
same on every attempt, `webhook-timestamp` is the attempt's Unix time, and `webhook-signature`
holds `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for every secret valid at the moment
(two while a rotated secret is still honoured). The body is the CloudEvent in structured JSON mode.
Randomness and the time are passed in, so every rule here can be tested as a plain function.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from livskraft_contracts import ALL_EVENTS, CloudEvent, Event, FailureReason

from services.runtime.refusals import Refused as Refused  # domain.Refused: one definition for every service

# -- Refusals -------------------------------------------------------------------------------------


# -- Event types and grants -----------------------------------------------------------------------

SUBSCRIBABLE: dict[str, type[Event]] = {t.ce_type(): t for t in ALL_EVENTS if t.service != "notify"}
"""The event types a subscription may ask for: the catalogue but notify's own outcomes (a webhook
about a webhook would never end)."""

SCOPE_PREFIX = "livskraft:events:"
"""A subscriber's token grants it an event type with the scope `livskraft:events:<CloudEvents type>`,
e.g. `livskraft:events:no.ks.livskraft.registry.DecisionRecorded.v1`."""


def shown(text: str) -> str:
    """Input quoted back in a refusal, with anything UTF-8 cannot carry (a lone surrogate) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def scope_for(event_type: str) -> str:
    return f"{SCOPE_PREFIX}{event_type}"


def granted_types(scopes: Iterable[str]) -> frozenset[str]:
    """The event types a token's scopes grant."""
    return frozenset(s.removeprefix(SCOPE_PREFIX) for s in scopes if s.startswith(SCOPE_PREFIX))


def check_event_types(wanted: Sequence[str], scopes: Iterable[str]) -> list[str]:
    """The types a subscription asks for, distinct and in the order given; Refused unless each is
    a known type (422) the token grants (403)."""
    if not wanted:
        raise Refused("event_types", "name at least one event type")
    unknown = [t for t in wanted if t not in SUBSCRIBABLE]
    if unknown:
        raise Refused("event_types", f"not an event type one may subscribe to: {shown(', '.join(unknown))}")
    denied = [t for t in wanted if t not in granted_types(scopes)]
    if denied:
        raise Refused("event_types", f"your token does not grant {', '.join(denied)}", 403)
    return list(dict.fromkeys(wanted))


# -- Signatures (Standard Webhooks v1, symmetric) -------------------------------------------------

SECRET_PREFIX = "whsec_"


def new_secret(random_bytes: bytes) -> str:
    """A signing secret `whsec_<base64>` from 24 to 64 random bytes (the specification's range)."""
    if not 24 <= len(random_bytes) <= 64:
        raise ValueError("a signing secret has 24 to 64 bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


@functools.lru_cache(maxsize=4096)
def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 over "id.timestamp.body">`."""
    signed = b".".join((webhook_id.encode(), str(timestamp).encode(), body))
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt, signed with every secret valid now (space separated)."""
    if not secrets:
        raise ValueError("a delivery needs at least one signing secret")
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, webhook_id, timestamp, body) for s in secrets),
        "content-type": STRUCTURED_CONTENT_TYPE,
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver checks (the demo's receiver uses this): a signature made with `secret`,
    and a timestamp within `tolerance_s` of `now` (replays are refused)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id, stamp = lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", "")
    if not webhook_id or not stamp.isdigit() or abs(now - int(stamp)) > tolerance_s:
        return False
    expected = signature(secret, webhook_id, int(stamp), body)
    offered = lowered.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


# -- The body: a CloudEvent in structured JSON mode -----------------------------------------------

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


def structured(event: CloudEvent[Any]) -> bytes:
    """The CloudEvent as one JSON object (CloudEvents JSON format), the bytes that are signed."""
    document: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    for name in ("subject", "dataschema", "traceparent"):
        if (value := getattr(event, name)) is not None:
            document[name] = value
    document["partitionkey"] = event.partitionkey
    document["sequence"] = event.sequence
    document["data"] = event.data.model_dump(mode="json")
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def chain(event: CloudEvent[Any]) -> str:
    """The sequence an event has its place in: its producer's numbering of one aggregate."""
    return f"{event.source}#{event.partitionkey}"


def validation_body(request_id: str, subscription_id: str, event_types: Sequence[str], at: datetime) -> bytes:
    """The validation request a new endpoint must answer with 2xx before deliveries start."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": request_id,
            "source": "/livskraft/notify",
            "type": VALIDATION_TYPE,
            "time": at.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": {"subscription_id": subscription_id, "event_types": list(event_types)},
        },
        separators=(",", ":"),
    ).encode()


VALIDATION_TYPE = "no.ks.livskraft.notify.SubscriptionValidation.v1"


# -- Endpoints: https, and never an address inside our own network (SSRF) -----------------------

MAX_URL = 2048
_LOOPBACK_NAMES = ("localhost",)


def is_loopback_host(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_allowed(address: str, *, allow_loopback: bool) -> bool:
    """May a delivery connect to this IP address? Only to public (globally routed) unicast
    addresses: never private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT
    (RFC 6598), reserved, multicast or unspecified ones; loopback only where allowed (development)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def check_endpoint(url: str, *, allow_loopback: bool) -> str:
    """The endpoint URL if it may be registered, else Refused naming `url`.

    https, with a host and no credentials in it. A literal IP address must be one a delivery may
    connect to; a host name is checked again on every connection, against the address it resolved
    to (so that a name re-pointed at an inside address later is refused then). In development
    (`allow_loopback`) plain http to loopback is allowed too, so that a receiver on the same
    machine can be tried."""
    if len(url) > MAX_URL:
        raise Refused("url", f"is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise Refused("url", "must not contain white space or control characters")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise Refused("url", f"is not a valid URL: {shown(str(exc))}") from None
    if parts.scheme not in ("https", "http"):
        raise Refused("url", "must be an https URL")
    if not host:
        raise Refused("url", "has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("url", "must not carry credentials; the signature authenticates us")
    if parts.fragment:
        raise Refused("url", "must not have a fragment")
    if port == 0:
        raise Refused("url", "port 0 is not a port")
    loopback = is_loopback_host(host)
    if loopback and not allow_loopback:
        raise Refused("url", "must not point at loopback (allowed in development only)")
    if parts.scheme == "http" and not (loopback and allow_loopback):
        raise Refused("url", "must be an https URL (plain http only to loopback in development)")
    if _is_ip(host):
        if not loopback and not address_allowed(host, allow_loopback=allow_loopback):
            raise Refused("url", "must not point at a private, link-local or reserved address")
    elif not _HOST_NAME.fullmatch(host) or len(host) > 253:
        raise Refused("url", "has no valid host name (write an international name in its xn-- form)")
    return url


_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# -- Retries: exponential backoff with jitter, within a window -----------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n+1 comes `base * factor**(n-1)` seconds after attempt n (at most `max_s`), each
    delay stretched or shrunk by up to `jitter` (a fraction) so that many failed deliveries do not
    retry in step. Once the next attempt would fall after `window_s` from the first, the delivery
    has failed."""

    base_s: float = 5.0
    factor: float = 4.0
    max_s: float = 6 * 3600.0
    jitter: float = 0.2
    window_s: float = 24 * 3600.0

    def delay(self, attempt: int, rand: float) -> timedelta:
        """The wait after attempt `attempt` (1 for the first) failed; `rand` is uniform in [0, 1)."""
        nominal = min(self.base_s * self.factor ** (attempt - 1), self.max_s)
        return timedelta(seconds=nominal * (1 - self.jitter + 2 * self.jitter * rand))

    def next_attempt(
        self, attempt: int, now: datetime, first: datetime, rand: float, retry_after_s: float | None = None
    ) -> datetime | None:
        """When to try again after attempt `attempt` failed at `now`; None when the window is over.
        A `Retry-After` the receiver asked for is honoured when it is longer than the backoff."""
        wait = self.delay(attempt, rand)
        if retry_after_s is not None:
            wait = max(wait, timedelta(seconds=min(retry_after_s, self.max_s)))
        at = now + wait
        return at if at <= first + timedelta(seconds=self.window_s) else None


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # the window is over
    DISABLED = "disabled"  # 410 Gone: the endpoint asked never to be called again


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to: the HTTP status, or why there was none."""

    status: int | None = None
    failure: FailureReason | None = None
    retry_after_s: float | None = None
    forbidden_address: bool = False

    @property
    def reason(self) -> FailureReason | None:
        if self.status is not None and not 200 <= self.status < 300:
            return FailureReason.REJECTED
        return self.failure


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    next_attempt_at: datetime | None = None
    reason: FailureReason | None = None


def judge(
    result: AttemptResult, attempt: int, now: datetime, first: datetime, policy: RetryPolicy, rand: float
) -> Judgement:
    """2xx delivers; 410 disables the subscription; anything else (3xx included: redirects are not
    followed) is retried on the schedule until the window is over."""
    if result.status is not None and 200 <= result.status < 300:
        return Judgement(Verdict.DELIVERED)
    if result.status == 410:
        return Judgement(Verdict.DISABLED, reason=FailureReason.REJECTED)
    at = policy.next_attempt(attempt, now, first, rand, result.retry_after_s)
    if at is None:
        return Judgement(Verdict.FAILED, reason=result.reason)
    return Judgement(Verdict.RETRY, next_attempt_at=at, reason=result.reason)


def retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta seconds only; an HTTP date is ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(int(value.strip()))


# -- Reminders before the enrolment deadline ------------------------------------------------------

REMINDER_DAYS = (14, 3)
"""Reminders go 14 and 3 days before a network's enrolment deadline (påmeldingsfrist)."""


def due_reminder(deadline: date, today: date) -> int | None:
    """The reminder due today: the latest of REMINDER_DAYS whose day has come, while enrolment is
    still open (up to and including the deadline). A service that was down on the 14-day mark and
    comes back after the 3-day mark sends the 3-day reminder only."""
    if today > deadline:
        return None
    due = [days for days in REMINDER_DAYS if deadline - timedelta(days=days) <= today]
    return min(due) if due else None


def needs_reminder(has_final_decision: bool, has_main_contact: bool) -> bool:
    """An enrolment still lacking a final political decision or a main contact."""
    return not (has_final_decision and has_main_contact)


# -- E-mail: which template, to whom --------------------------------------------------------------


class EmailKind(StrEnum):
    INVITATION = "invitation"
    ENROLMENT_RECEIVED = "enrolment-received"
    ENROLMENT_CONFIRMED = "enrolment-confirmed"
    GATHERING_SCHEDULED = "gathering-scheduled"
    GATHERING_RESCHEDULED = "gathering-rescheduled"
    GATHERING_CANCELLED = "gathering-cancelled"
    REMINDER = "reminder"


class Audience(StrEnum):
    MAILBOX = "mailbox"  # the municipality's official address (postmottak)
    MAIN_CONTACTS = "main-contacts"  # its main contact(s) in the network
    MAILBOX_AND_MAIN_CONTACTS = "mailbox-and-main-contacts"
    MAIN_CONTACTS_OR_MAILBOX = "main-contacts-or-mailbox"


AUDIENCE: dict[EmailKind, Audience] = {
    EmailKind.INVITATION: Audience.MAILBOX,  # nobody is named for the network yet
    EmailKind.ENROLMENT_RECEIVED: Audience.MAILBOX_AND_MAIN_CONTACTS,
    EmailKind.ENROLMENT_CONFIRMED: Audience.MAIN_CONTACTS_OR_MAILBOX,
    EmailKind.GATHERING_SCHEDULED: Audience.MAIN_CONTACTS_OR_MAILBOX,
    EmailKind.GATHERING_RESCHEDULED: Audience.MAIN_CONTACTS_OR_MAILBOX,
    EmailKind.GATHERING_CANCELLED: Audience.MAIN_CONTACTS_OR_MAILBOX,
    EmailKind.REMINDER: Audience.MAIN_CONTACTS_OR_MAILBOX,
}


def recipients(audience: Audience, mailbox: str | None, main_contacts: Sequence[str]) -> list[str]:
    """The addresses an e-mail goes to, each once, in a stable order."""
    contacts = list(dict.fromkeys(a for a in main_contacts if a))
    box = [mailbox] if mailbox else []
    match audience:
        case Audience.MAILBOX:
            chosen = box
        case Audience.MAIN_CONTACTS:
            chosen = contacts
        case Audience.MAILBOX_AND_MAIN_CONTACTS:
            chosen = box + contacts
        case Audience.MAIN_CONTACTS_OR_MAILBOX:
            chosen = contacts or box
    return list(dict.fromkeys(chosen))


def template_for(kind: EmailKind, data: Mapping[str, Any]) -> str:
    """The template's name (files `templates/<name>.txt` and `.html`). A reminder says what is
    missing: the political decision, the main contact, or both."""
    if kind is not EmailKind.REMINDER:
        return kind.value
    decision, contact = bool(data.get("missing_decision")), bool(data.get("missing_main_contact"))
    if decision and contact:
        return "reminder-decision-and-contact"
    return "reminder-decision" if decision else "reminder-contact"


EMAIL_MAX_AGE = timedelta(days=1)


def worth_mailing(event_time: datetime, now: datetime) -> bool:
    """Mail about events of the last day only: a notify reading old events again (a new
    deployment, a replay from the start of the topics) writes to nobody about the past."""
    return now - event_time <= EMAIL_MAX_AGE


def smtp_verdict(code: int | None) -> FailureReason:
    """Why an SMTP attempt failed, by its reply code (none: the server was not reached)."""
    if code is None:
        return FailureReason.UNREACHABLE
    return FailureReason.REJECTED


def smtp_permanent(code: int | None) -> bool:
    """A 5xx reply is final (no such mailbox, refused); 4xx and no reply are tried again."""
    return code is not None and 500 <= code < 600
