"""A network's name goes into an e-mail's subject: whatever it holds, the message can be written."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.notify import rendering
from services.notify.domain import EmailKind


def test_a_name_with_line_breaks_gives_a_one_line_subject_and_the_message_is_written() -> None:
    message = rendering.render(
        EmailKind.INVITATION,
        {},
        network="Natur\r\nBcc: someone@example.org\tog kultur",
        municipality="Steinkjer",
        sender="Livskraft <ikke-svar@livskraft.ks.no>",
        recipients=["postmottak@steinkjer.kommune.no"],
        message_id="m1",
        now=datetime(2010, 1, 20, tzinfo=UTC),
        today=date(2010, 1, 20),
    )
    subject = str(message["Subject"])
    assert subject == "Invitasjon til kommunenettverket «Natur Bcc: someone@example.org og kultur»"
    assert message["Bcc"] is None  # no header smuggled in through the name
    assert message.as_bytes()  # written whole: the e-mail worker is not stuck on it
