"""How OpenAI's chat and completions stream: bare `data:` chunks over SSE closed by `[DONE]`, and an
error as an `error` event in the default envelope, `[DONE]` still after it."""

from __future__ import annotations

import json
import logging
from typing import Any

from server.pipeline.stream_envelope import StreamStyle
from server.service.errors import APIError
from server.service.transports.sse import SSE

log = logging.getLogger("localchat.api")

OPENAI_SSE = SSE(done="[DONE]")


def stream_failure(exc: APIError) -> list[dict[str, Any]]:
    log.warning("stream ended with error: %s", exc.message)
    return [{"event": "error", "data": json.dumps(exc.to_dict())}]


OPENAI_STREAM = StreamStyle(OPENAI_SSE, failed_early=stream_failure)
