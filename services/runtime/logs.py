"""JSON logs, one object a line: time, level, logger, message, and the event id where there is one.

Log event ids, types, topics and kommunenummer; never a person's name, e-mail or phone.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from . import tracing


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("service", "event_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if trace := tracing.trace_id():
            entry["trace_id"] = trace
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", service: str | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    if service:

        def name_the_service(record: logging.LogRecord) -> bool:
            record.service = service
            return True

        handler.addFilter(name_the_service)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
