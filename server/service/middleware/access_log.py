"""One structured line per request on the `localchat.access` logger (logfmt: key=value pairs).

uvicorn's own access log is turned off where the server starts, so each request is logged once.
Health checks and scrapes go to DEBUG: a container probed every few seconds would bury the rest.
"""

from __future__ import annotations

import json
import logging
import re

from server.service.middleware.request_tracking import RequestRecord

log = logging.getLogger("localchat.access")

QUIET_PATHS = frozenset({"/health", "/metrics"})
# Values made only of these are written bare; anything else is JSON-quoted, so a path holding
# spaces, quotes or a newline cannot forge a second line or a fake field.
_BARE_VALUE = re.compile(r"[A-Za-z0-9._:/@+-]+")


def _format(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if _BARE_VALUE.fullmatch(text) else json.dumps(text)


def _milliseconds(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def access_fields(record: RequestRecord) -> dict[str, object]:
    return {
        "request_id": record.request_id,
        "method": record.method,
        "path": record.path,
        "status": record.status,
        "model": record.model,
        "prompt_tokens": record.num_prompt_tokens,
        "completion_tokens": record.num_completion_tokens,
        "ttft_ms": _milliseconds(record.ttft_seconds),
        "duration_ms": _milliseconds(record.duration_seconds),
        "stream": record.is_stream,
    }


def log_access(record: RequestRecord) -> None:
    level = logging.DEBUG if record.path in QUIET_PATHS else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields = access_fields(record)
    line = " ".join(f"{key}={_format(value)}" for key, value in fields.items())
    # `extra` lets a JSON formatter pick the fields up without parsing the line.
    log.log(level, "%s", line, extra={"access": fields})
