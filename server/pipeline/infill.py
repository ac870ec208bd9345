"""The one fill-in-the-middle prompt, behind llama-server's /infill, /v1/completions' `suffix` and
Ollama's `suffix`: the code before the cursor, the code after it, and optionally other files of the
repository, around the model's own FIM tokens (as llama.cpp finds them in the GGUF).

The layout and budgets are llama-server's (its format_prompt_infill), so the same request gives the
same tokens, and the same greedy answer, on both:

    [repo "myproject\\n"] ([sep] filename "\\n" text)... [sep] "filename\\n"   <- repository context
    [BOS] [prefix] prefix-tail prompt [suffix] suffix-head [middle]            <- "psm" order

A model without the repository tokens gets the other files as plain text between snippet separators.
"spm" order (catalog key infill_order) puts the suffix part first. Each part is tokenized on its own
and as text (only `prompt` may spell special tokens); the prefix keeps its end, the suffix its start,
the repository context its end, within llama-server's default budgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from server.engine.llama import FimTokens
from server.models.loader import LoadedModel
from server.service.errors import invalid_request

InfillOrder = Literal["psm", "spm"]
# llama-server's defaults: it splits its batch (n_batch 2048) 3:1 between prefix and suffix, and it
# names the project and the current file with these placeholders.
BUDGET_TOKENS = 2048
PROJECT_NAME = "myproject"
CURRENT_FILE = "filename"
SNIPPET_SEPARATOR = "\n\n--- snippet ---\n\n"
DEFAULT_FILENAME = "tmp"


@dataclass(frozen=True)
class ExtraFile:
    text: str
    filename: str = DEFAULT_FILENAME


def require_fim(model: LoadedModel, *, param: str) -> FimTokens:
    fim = model.runtime.fim_tokens
    if fim is None:
        raise invalid_request(
            f"Model '{model.name}' cannot fill in the middle: its vocabulary has no fill-in-the-middle "
            "prefix, suffix and middle tokens (tokenizer.ggml.fim_pre/suf/mid_token_id).",
            param=param,
            code="infill_not_supported",
        )
    return fim


def _text(model: LoadedModel, text: str) -> list[int]:
    return model.runtime.tokenize(text, add_bos=False, parse_special=False) if text else []


def _repository(model: LoadedModel, fim: FimTokens, extra: Sequence[ExtraFile]) -> list[int]:
    tokens: list[int] = []
    if fim.repo is not None:
        tokens += [fim.repo, *_text(model, f"{PROJECT_NAME}\n")]
    for file in extra:
        if fim.separator is not None:
            tokens += [fim.separator, *_text(model, f"{file.filename}\n")]
        else:
            tokens += _text(model, SNIPPET_SEPARATOR)
        tokens += _text(model, file.text)
    if fim.separator is not None:
        tokens += [fim.separator, *_text(model, f"{CURRENT_FILE}\n")]
    return tokens


def infill_tokens(
    model: LoadedModel,
    *,
    prefix: str,
    suffix: str,
    prompt: str = "",
    extra: Sequence[ExtraFile] = (),
    order: InfillOrder = "psm",
    param: str = "input_prefix",
) -> list[int]:
    """The prompt's tokens; a 400 (naming `param`) for a model without FIM tokens."""
    fim = require_fim(model, param=param)
    runtime = model.runtime
    prompt_tokens = runtime.tokenize(prompt, add_bos=False, parse_special=True) if prompt else []
    prefix_tokens = _text(model, prefix)
    suffix_tokens = _text(model, suffix)
    num_prefix = min(len(prefix_tokens), 3 * (BUDGET_TOKENS // 4))
    num_suffix = min(len(suffix_tokens), max(0, BUDGET_TOKENS // 4 - (2 + len(prompt_tokens))))
    prefix_part = [fim.prefix, *prefix_tokens[len(prefix_tokens) - num_prefix :], *prompt_tokens]
    suffix_part = [fim.suffix, *suffix_tokens[:num_suffix]]
    repository = _repository(model, fim, extra)
    # llama-server's budget with its default n_predict of -1: what the context leaves beyond a batch.
    num_extra = min(max(0, runtime.n_ctx_seq - BUDGET_TOKENS + 2), len(repository))
    first, second = (suffix_part, prefix_part) if order == "spm" else (prefix_part, suffix_part)
    bos = [runtime.bos_token] if runtime.adds_bos else []
    return [*repository[len(repository) - num_extra :], *bos, *first, *second, fim.middle]
