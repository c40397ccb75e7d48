"""An SMTP server on loopback that keeps every mail (aiosmtpd), for `livskraft dev` and the tests.

Nothing is relayed anywhere: each message is kept in memory (`messages`) and, when a folder is
given, written there as `<time>-<n>.eml`, which any mail program opens. `livskraft dev` keeps them
in `.livskraft/mail/` and says so when it starts.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Caught:
    """One message as the server got it: the envelope's recipients and the parsed message."""

    recipients: list[str]
    message: EmailMessage
    path: Path | None


@dataclass
class MailCatcher:
    """`with MailCatcher(folder) as mail:` serves SMTP on 127.0.0.1:`mail.port`."""

    folder: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Caught] = field(default_factory=list)
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: itertools.count[int] = field(default_factory=itertools.count)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        path = None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.folder / f"{stamp}-{next(self._count):04d}.eml"
            path.write_bytes(content)
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(Caught(list(envelope.rcpt_tos), message, path))
        return "250 Message accepted for delivery"

    def __enter__(self) -> MailCatcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        if self.port == 0:
            import socket

            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = int(s.getsockname()[1])
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()

    def close(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Caught]:
        with self._lock:
            return [m for m in self.messages if address in m.recipients]
