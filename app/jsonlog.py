"""One JSON object per log line, with the request ID, the user ID and, when OpenTelemetry
is active, the trace and span IDs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from app.requestid import request_id, user_id

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _trace_ids() -> tuple[str, str]:
    try:
        from opentelemetry import trace
    except ImportError:
        return "", ""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = _trace_ids()
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
            "user_id": user_id.get(),
            "trace_id": trace_id,
            "span_id": span_id,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info or record.exc_text:
            # exc_text first, as logging.Formatter does: a handler filter may have set it
            # (the secret scrubber does).
            doc["exc"] = record.exc_text or self.formatException(record.exc_info or (None,) * 3)
        return json.dumps(doc, ensure_ascii=False)
