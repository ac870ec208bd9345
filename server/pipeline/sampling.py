"""A request's sampling as the engine takes it: temperature and the llama.cpp samplers, penalties,
logit bias, stops, and the grammar that constrains the output (server/pipeline/constraints.py)."""

from __future__ import annotations

from collections.abc import Iterable

from server.engine.sampling import SamplingParams
from server.formats.constrain import CallConstraint
from server.models.pool import LoadedModel
from server.pipeline.chat_request import ResponseFormat, SamplingRequest, Stop
from server.pipeline.constraints import request_grammar
from server.pipeline.wire import MAX_STOP_CHARS, MAX_STOPS
from server.service.errors import invalid_request


def check_token_ids(tokens: Iterable[int], model: LoadedModel, *, what: str, param: str) -> None:
    """A 400 naming the first token id outside the model's vocabulary; `what` says whose ids."""
    n_vocab = model.runtime.n_vocab
    outside = next((token for token in tokens if not 0 <= token < n_vocab), None)
    if outside is not None:
        raise invalid_request(
            f"{what} has token id {outside}, outside the vocabulary (0 to {n_vocab - 1}).", param=param
        )


def parse_stops(stop: Stop) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOPS:
        raise invalid_request(f"'stop' takes at most {MAX_STOPS} sequences.", param="stop")
    if any(not item or len(item) > MAX_STOP_CHARS for item in stops):
        raise invalid_request(f"Each stop sequence must have 1 to {MAX_STOP_CHARS} characters.", param="stop")
    return tuple(stops)


def _logit_bias(requested: dict[str, float], model: LoadedModel) -> dict[int, float]:
    logit_bias: dict[int, float] = {}
    for key, bias in requested.items():
        try:
            token = int(key)
        except ValueError:
            raise invalid_request(
                f"logit_bias keys must be token ids; got '{key}'.", param="logit_bias"
            ) from None
        check_token_ids((token,), model, what="logit_bias", param="logit_bias")
        if not -100.0 <= bias <= 100.0:
            raise invalid_request("logit_bias values must be between -100 and 100.", param="logit_bias")
        logit_bias[token] = bias
    return logit_bias


def sampling_params(
    body: SamplingRequest,
    model: LoadedModel,
    *,
    top_logprobs: int | None,
    response_format: ResponseFormat | None = None,
    calls: CallConstraint | None = None,
) -> SamplingParams:
    logit_bias = _logit_bias(body.logit_bias or {}, model)
    temperature = 1.0 if body.temperature is None else body.temperature
    top_p = 1.0 if body.top_p is None else body.top_p
    top_k = body.top_k or 0
    if top_p == 0.0:  # OpenAI accepts 0: only the most likely token survives
        top_p, top_k = 1.0, 1
    grammar, triggers = request_grammar(body, model, response_format, calls)
    # llama.cpp's convention: a window of 0 switches every penalty off.
    has_penalties = body.repeat_last_n != 0
    return SamplingParams(
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        min_p=body.min_p or 0.0,
        presence_penalty=(body.presence_penalty or 0.0) if has_penalties else 0.0,
        frequency_penalty=(body.frequency_penalty or 0.0) if has_penalties else 0.0,
        repeat_penalty=(body.repeat_penalty or 1.0) if has_penalties else 1.0,
        penalty_last_n=body.repeat_last_n if body.repeat_last_n and body.repeat_last_n > 0 else None,
        seed=body.seed,
        logit_bias=logit_bias,
        top_logprobs=top_logprobs,
        grammar=grammar,
        grammar_triggers=triggers,
    )
