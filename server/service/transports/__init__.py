"""Stream transports a protocol picks: server-sent events and newline-delimited JSON."""

from server.service.transports.ndjson import NDJSON_MEDIA_TYPE
from server.service.transports.sse import SSE_MEDIA_TYPE

# Responses of these types are streams (request tracking counts them so).
STREAM_MEDIA_TYPES = (SSE_MEDIA_TYPE, NDJSON_MEDIA_TYPE)
