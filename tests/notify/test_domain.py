"""notify's rules as plain functions: signatures the `standardwebhooks` library accepts, the retry
schedule, which endpoints and addresses are refused, when reminders fall due (the boundaries each),
and which template and recipients an e-mail gets."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import pytest
from livskraft_contracts import CloudEvent, DecisionRecorded, FailureReason, NotificationDelivered
from livskraft_contracts.examples import EXAMPLES
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notify import domain
from services.notify.domain import Audience, EmailKind, Refused

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SECRET = domain.new_secret(bytes(range(32)))


# -- Signatures -------------------------------------------------------------------------------------


def test_the_standardwebhooks_library_verifies_our_signature() -> None:
    body = domain.structured(CloudEvent.wrap(EXAMPLES[DecisionRecorded], sequence=3))
    stamp = int(datetime.now(UTC).timestamp())
    headers = domain.webhook_headers([SECRET], "2b7e0c5e-1d1f-4c53-9a43-9d2cf0b1f001", stamp, body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(body, headers)["type"] == DecisionRecorded.ce_type()
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"2010", b"2011"), headers)  # another body
    assert domain.verify(SECRET, headers, body, now=stamp)
    assert not domain.verify(SECRET, headers, body, now=stamp + 301)  # too old: a replay


def test_while_rotating_both_secrets_sign_and_either_verifies() -> None:
    new = domain.new_secret(b"\x07" * 32)
    body, stamp = b'{"id":"x"}', int(datetime.now(UTC).timestamp())
    headers = domain.webhook_headers([new, SECRET], "msg", stamp, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(SECRET).verify(body, headers)


def test_secrets_have_the_prefix_and_24_to_64_bytes() -> None:
    assert SECRET.startswith("whsec_") and len(base64.b64decode(SECRET[6:])) == 32
    for size in (23, 65):
        with pytest.raises(ValueError):
            domain.new_secret(b"x" * size)


def test_the_body_is_a_structured_cloudevent() -> None:
    event = CloudEvent.wrap(EXAMPLES[DecisionRecorded], sequence=3)
    import json

    document = json.loads(domain.structured(event))
    assert document["specversion"] == "1.0" and document["id"] == event.id
    assert document["datacontenttype"] == "application/json" and document["sequence"] == 3
    assert document["data"]["case_number"] == EXAMPLES[DecisionRecorded].case_number  # type: ignore[attr-defined]


# -- Grants -------------------------------------------------------------------------------------


def test_a_token_subscribes_only_to_what_its_scopes_grant() -> None:
    decision = DecisionRecorded.ce_type()
    scopes = [domain.scope_for(decision), "livskraft:read"]
    assert domain.check_event_types([decision, decision], scopes) == [decision]
    with pytest.raises(Refused) as refused:
        domain.check_event_types([decision, "no.ks.livskraft.gatherings.GatheringHeld.v1"], scopes)
    assert refused.value.status == 403 and refused.value.field == "event_types"
    with pytest.raises(Refused) as unknown:
        domain.check_event_types(
            [NotificationDelivered.ce_type()], [domain.scope_for(NotificationDelivered.ce_type())]
        )
    assert unknown.value.status == 422
    with pytest.raises(Refused):
        domain.check_event_types([], scopes)


# -- Endpoints and addresses (SSRF) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://mottak.example.no/hook",  # not https
        "ftp://mottak.example.no/",
        "https://user:pw@mottak.example.no/",  # credentials
        "https://mottak.example.no/#frag",
        "https:///nohost",
        "https://127.0.0.1/hook",  # loopback
        "https://localhost:8443/",
        "https://10.0.0.8/",  # private
        "https://192.168.1.1/",
        "https://172.16.0.1/",
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://100.64.0.1/",  # carrier-grade NAT (RFC 6598)
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:10.0.0.1]/",  # IPv4-mapped private
        "https://0.0.0.0/",
        "https://mottak.example.no/\nHost: evil",
    ],
)
def test_production_refuses_endpoints_that_are_not_https_on_a_public_address(url: str) -> None:
    with pytest.raises(Refused) as refused:
        domain.check_endpoint(url, allow_loopback=False)
    assert refused.value.field == "url"


def test_production_takes_https_on_a_public_name_or_address() -> None:
    for url in ("https://mottak.example.no/livskraft", "https://8.8.8.8:8443/x", "https://[2001:4860::1]/"):
        assert domain.check_endpoint(url, allow_loopback=False) == url


def test_development_also_takes_loopback_over_plain_http_but_nothing_else_inside() -> None:
    for url in ("http://127.0.0.1:9000/hook", "http://localhost/hook", "https://[::1]:8443/"):
        assert domain.check_endpoint(url, allow_loopback=True) == url
    for url in ("http://10.0.0.8/", "https://169.254.169.254/", "http://mottak.example.no/"):
        with pytest.raises(Refused):
            domain.check_endpoint(url, allow_loopback=True)


def test_connections_only_to_public_addresses_and_loopback_where_allowed() -> None:
    assert domain.address_allowed("93.184.216.34", allow_loopback=False)
    assert domain.address_allowed("2606:2800:220:1::1", allow_loopback=False)
    for inside in (
        "127.0.0.1",
        "::1",
        "10.1.1.1",
        "169.254.169.254",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ):
        assert not domain.address_allowed(inside, allow_loopback=False), inside
    assert domain.address_allowed("127.0.0.1", allow_loopback=True)
    assert not domain.address_allowed("10.1.1.1", allow_loopback=True)
    assert not domain.address_allowed("not an address", allow_loopback=True)


# -- Retries ----------------------------------------------------------------------------------------

POLICY = domain.RetryPolicy(base_s=5, factor=4, max_s=6 * 3600, jitter=0.2, window_s=24 * 3600)


def test_backoff_grows_exponentially_to_its_cap_with_jitter_around_it() -> None:
    middle = [POLICY.delay(n, 0.5).total_seconds() for n in range(1, 10)]
    assert middle == [5, 20, 80, 320, 1280, 5120, 20480, 21600, 21600]
    assert POLICY.delay(2, 0.0).total_seconds() == pytest.approx(16)  # -20 %
    assert POLICY.delay(2, 0.999999).total_seconds() == pytest.approx(24, rel=1e-4)  # +20 %


def test_the_window_ends_the_retries() -> None:
    first = NOW
    assert POLICY.next_attempt(1, NOW, first, 0.5) == NOW + timedelta(seconds=5)
    late = first + timedelta(hours=23, minutes=59)
    assert POLICY.next_attempt(9, late, first, 0.5) is None
    exactly = POLICY.next_attempt(1, first + timedelta(hours=24, seconds=-5), first, 0.5)
    assert exactly == first + timedelta(hours=24)  # the window's last moment still counts


def test_a_retry_after_longer_than_the_backoff_is_honoured() -> None:
    assert POLICY.next_attempt(1, NOW, NOW, 0.5, retry_after_s=120) == NOW + timedelta(seconds=120)
    assert POLICY.next_attempt(3, NOW, NOW, 0.5, retry_after_s=1) == NOW + timedelta(seconds=80)
    assert domain.retry_after("120") == 120 and domain.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        (domain.AttemptResult(status=200), domain.Verdict.DELIVERED),
        (domain.AttemptResult(status=204), domain.Verdict.DELIVERED),
        (domain.AttemptResult(status=410), domain.Verdict.DISABLED),
        (domain.AttemptResult(status=301), domain.Verdict.RETRY),  # redirects are not followed
        (domain.AttemptResult(status=404), domain.Verdict.RETRY),
        (domain.AttemptResult(status=500), domain.Verdict.RETRY),
        (domain.AttemptResult(failure=FailureReason.TIMEOUT), domain.Verdict.RETRY),
    ],
)
def test_what_an_attempt_comes_to(result: domain.AttemptResult, verdict: domain.Verdict) -> None:
    assert domain.judge(result, 1, NOW, NOW, POLICY, 0.5).verdict is verdict


def test_a_failure_after_the_window_is_final_with_its_reason() -> None:
    judged = domain.judge(domain.AttemptResult(status=503), 12, NOW + timedelta(hours=23), NOW, POLICY, 0.5)
    assert (judged.verdict, judged.reason) == (domain.Verdict.FAILED, FailureReason.REJECTED)
    timeout = domain.judge(
        domain.AttemptResult(failure=FailureReason.TIMEOUT), 12, NOW + timedelta(hours=23), NOW, POLICY, 0.5
    )
    assert timeout.reason is FailureReason.TIMEOUT


# -- Reminders --------------------------------------------------------------------------------------

DEADLINE = date(2010, 2, 15)


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2010, 1, 31), None),  # 15 days before
        (date(2010, 2, 1), 14),  # 14 days before
        (date(2010, 2, 11), 14),  # 4 days before: still the 14-day one
        (date(2010, 2, 12), 3),  # 3 days before
        (date(2010, 2, 15), 3),  # the deadline day itself: still open
        (date(2010, 2, 16), None),  # after the deadline
    ],
)
def test_reminders_fall_due_14_and_3_days_before_the_deadline(today: date, due: int | None) -> None:
    assert domain.due_reminder(DEADLINE, today) == due


def test_only_an_enrolment_lacking_a_decision_or_a_main_contact_is_reminded() -> None:
    assert domain.needs_reminder(has_final_decision=False, has_main_contact=True)
    assert domain.needs_reminder(has_final_decision=True, has_main_contact=False)
    assert not domain.needs_reminder(has_final_decision=True, has_main_contact=True)


def test_mail_only_about_events_of_the_last_day() -> None:
    assert domain.worth_mailing(NOW - timedelta(hours=23), NOW)
    assert not domain.worth_mailing(NOW - timedelta(days=1, seconds=1), NOW)


# -- E-mail: template and recipients ----------------------------------------------------------------


def test_the_reminder_template_says_what_is_missing() -> None:
    assert domain.template_for(EmailKind.REMINDER, {"missing_decision": True}) == "reminder-decision"
    assert domain.template_for(EmailKind.REMINDER, {"missing_main_contact": True}) == "reminder-contact"
    both = {"missing_decision": True, "missing_main_contact": True}
    assert domain.template_for(EmailKind.REMINDER, both) == "reminder-decision-and-contact"
    assert domain.template_for(EmailKind.INVITATION, both) == "invitation"


def test_recipients_by_audience() -> None:
    box, main = (
        "postmottak@kommune.example",
        ["kari@kommune.example", "kari@kommune.example", "ola@kommune.example"],
    )
    assert domain.recipients(Audience.MAILBOX, box, main) == [box]
    assert domain.recipients(Audience.MAIN_CONTACTS, box, main) == main[1:]
    assert domain.recipients(Audience.MAILBOX_AND_MAIN_CONTACTS, box, main) == [box, *main[1:]]
    assert domain.recipients(Audience.MAIN_CONTACTS_OR_MAILBOX, box, []) == [box]
    assert domain.recipients(Audience.MAIN_CONTACTS_OR_MAILBOX, None, main) == main[1:]
    assert domain.recipients(Audience.MAILBOX, None, main) == []
    assert domain.AUDIENCE[EmailKind.INVITATION] is Audience.MAILBOX  # nobody is named before enrolment


def test_an_smtp_5xx_is_final_and_a_4xx_is_tried_again() -> None:
    assert domain.smtp_permanent(550) and not domain.smtp_permanent(451) and not domain.smtp_permanent(None)


def test_host_names_are_ascii_labels() -> None:
    for url in (
        "https://xn--snsa-qoa.kommune.example/",
        "https://a-b.example/",
        "https://mottak.example.no./",
    ):
        assert domain.check_endpoint(url, allow_loopback=False) == url
    for url in ("https://snåsa.example/", "https://-a.example/", "https://a..b/", "https://a_b.example/"):
        with pytest.raises(Refused):
            domain.check_endpoint(url, allow_loopback=False)


def test_a_refusal_quotes_input_utf8_can_carry() -> None:
    with pytest.raises(Refused) as refused:
        domain.check_event_types(["no.ks.livskraft.registry.Network\ud800Created.v1"], [])
    refused.value.message.encode("utf-8")  # a lone surrogate comes back escaped


def test_production_refuses_loopback_endpoints_and_a_missing_registry_token(tmp_path) -> None:
    from services.notify.app import create_app
    from services.runtime.settings import Settings

    base = {"service": "notify", "environment": "production", "jwt_jwks_url": "https://idp.example/jwks"}
    base |= {"database_url": "postgresql://db/notify", "kafka_bootstrap_servers": "kafka:9092"}
    with pytest.raises(RuntimeError, match="LOOPBACK"):
        create_app(Settings(**base, allow_loopback_webhooks=True, registry_token_file=tmp_path / "t"))
    with pytest.raises(RuntimeError, match="REGISTRY_TOKEN_FILE"):
        create_app(Settings(**base))
    create_app(Settings(**base, registry_token_file=tmp_path / "t"))  # builds; nothing connects yet
