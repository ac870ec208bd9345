"""What Ollama's listing routes say about a catalog model: its details (family, size, quantization),
a digest, its file's time, the key/value metadata of its GGUF (`model_info`), and the parameters and
template /api/show reports. All read from the catalog and the file's header, never its weights."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from server.config import Settings
from server.models.capabilities import capabilities
from server.models.catalog import ModelInfo
from server.models.gguf_header import GGUFFormatError, GGUFHeader, LargeArray
from server.protocols.ollama.input import DEFAULT_SAMPLING
from server.protocols.ollama.wire import ModelDetails, timestamp
from server.templates.transcript import TRANSCRIPT_STOPS

# What /api/show's `template` says for a model without a chat template: the text is continued as
# it is, a system text first as its own paragraph (see generate.py).
BASE_TEMPLATE = "{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}"
# Keys left out of model_info, as Ollama leaves them out (the template has its own field).
_HIDDEN_KEYS = ("tokenizer.chat_template",)


def details(info: ModelInfo) -> ModelDetails:
    metadata = info.metadata
    family = (metadata.architecture if metadata else None) or ""
    return ModelDetails(
        family=family,
        families=[family] if family else None,
        parameter_size=(metadata.size_label if metadata else None) or "",
        quantization_level=(metadata.quantization if metadata else None) or "",
    )


def digest(info: ModelInfo) -> str:
    """A stable id of the file as it is now (name, size, time): hashing gigabytes per listing is not
    worth it, and a changed file gets a new digest all the same."""
    path = info.entry.path
    stat = path.stat() if path.exists() else None
    key = f"{path.resolve()}\0{stat.st_size if stat else 0}\0{stat.st_mtime_ns if stat else 0}"
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


def modified_at(info: ModelInfo) -> str:
    path = info.entry.path
    moment = (
        datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else datetime.fromtimestamp(0, UTC)
    )
    return timestamp(moment)


def file_size(info: ModelInfo) -> int:
    path = info.entry.path
    return path.stat().st_size if path.exists() else 0


def context_length(info: ModelInfo, settings: Settings) -> int:
    """The context each request gets: the catalog's n_ctx for the model, else the server's."""
    return info.entry.n_ctx or settings.n_ctx


def model_info(info: ModelInfo, *, verbose: bool) -> dict[str, Any]:
    """The GGUF's key/value metadata, as Ollama shows it: long arrays (the vocabulary) only as []
    unless `verbose` (and then still not read: they can hold a quarter of a million strings)."""
    path = info.entry.path
    if not path.exists():
        return {}
    try:
        with GGUFHeader(path) as header:
            values = dict(header.values)
    except (GGUFFormatError, OSError):
        return {}
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(_HIDDEN_KEYS):
            continue
        if isinstance(value, LargeArray) or (isinstance(value, list) and len(value) > 5 and not verbose):
            shown[key] = []
        else:
            shown[key] = _finite(value)
    return shown


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity, and a hostile file may hold them.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _parameter_line(key: str, value: Any) -> str:
    # Ollama writes `%-30s %#v`: the key padded, strings quoted.
    return f"{key:<30} {json.dumps(value) if isinstance(value, str) else value}"


def parameters(info: ModelInfo, settings: Settings) -> str:
    """The parameters requests get unless they set their own (Continue reads num_ctx and stop)."""
    lines = [_parameter_line("num_ctx", context_length(info, settings))]
    lines += [_parameter_line(key, value) for key, value in DEFAULT_SAMPLING.items()]
    if info.template is None and info.kind != "embedding":
        lines += [_parameter_line("stop", stop) for stop in TRANSCRIPT_STOPS]
    return "\n".join(lines)


# For a model that fills in the middle: Ollama's way of saying so (Continue looks for `.Suffix`).
INSERT_TEMPLATE = "{{- if .Suffix }}<fim prefix>{{ .Prompt }}<fim suffix>{{ .Suffix }}<fim middle>{{- else }}"


def template(info: ModelInfo) -> str:
    """The model's own chat template (Jinja, the program localchat renders), or the base format;
    for a model that fills in the middle, inside Ollama's branch on `.Suffix`."""
    source = info.template.source if info.template is not None else BASE_TEMPLATE
    if "insert" in capabilities(info):
        return f"{INSERT_TEMPLATE}{source}{{{{- end }}}}"
    return source


def modelfile(info: ModelInfo, settings: Settings, listed: str) -> str:
    lines = [
        "# Modelfile generated by localchat (a description: localchat serves GGUF files as they are)",
        f"# To build a new Modelfile based on this, replace FROM with:\n# FROM {listed}",
        "",
        f"FROM {info.entry.path}",
        f'TEMPLATE """{template(info)}"""',
    ]
    lines += [f"PARAMETER {line}" for line in parameters(info, settings).splitlines()]
    return "\n".join(lines) + "\n"
