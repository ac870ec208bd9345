"""What a model can do, as one list of words shared by every protocol that reports it (`capabilities`
in /v1/models and in Ollama's /api/show), computed here only: a feature that adds a capability adds
its word once.

The words are Ollama's, which clients already read: `completion` (it generates), `embedding` (an
embedding model), `tools` (its own template renders tool definitions and its family's calls are
parsed), `thinking` (its template and family mark reasoning), `insert` (its vocabulary has the
fill-in-the-middle tokens, as llama.cpp finds them). A claim is made only where the model's
own files support it: localchat still takes tools on a model whose template does not render them (it
describes them in a system turn), but that model does not claim `tools`.
"""

from __future__ import annotations

from typing import Literal

from server.models.catalog import ModelInfo

Capability = Literal["completion", "embedding", "tools", "thinking", "insert"]


def capabilities(info: ModelInfo) -> list[Capability]:
    if info.kind == "embedding":
        return ["embedding"]
    found: list[Capability] = ["completion"]
    if info.metadata is not None and info.metadata.has_fim:
        found.append("insert")
    if info.template is None:
        return found
    fmt = info.chat_format
    if fmt.has_tool_calls and not fmt.needs_tool_prompt:
        found.append("tools")
    if fmt.reasoning_markers is not None:
        found.append("thinking")
    return found
