"""What the model sees, for the render routes: the prompt's tokens as text segments, special tokens
apart, so a client (the playground) can mark `<bos>` or `<start_of_turn>` that plain text hides."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from server.models.loader import LoadedModel
from server.protocols.openai.wire import RenderResponse, RenderSegment

TokenText = Callable[[int], bytes]


def prompt_segments(tokens: Sequence[int], *, plain: TokenText, special: TokenText) -> list[RenderSegment]:
    """`plain` renders a control token as nothing and `special` as its text: that difference is what
    makes a token special. Runs of ordinary tokens are decoded together, so a character whose bytes
    span several tokens comes out whole."""
    segments: list[RenderSegment] = []
    run = bytearray()

    def end_run() -> None:
        if run:
            segments.append(RenderSegment(text=run.decode("utf-8", errors="replace"), special=False))
            run.clear()

    for token in tokens:
        text = plain(token)
        if text:
            run += text
            continue
        marker = special(token)
        if marker:
            end_run()
            segments.append(RenderSegment(text=marker.decode("utf-8", errors="replace"), special=True))
    end_run()
    return segments


def render_response(
    model: LoadedModel,
    *,
    prompt: str,
    tokens: list[int],
    uses_template: bool,
    stops: Sequence[str],
    chat_format: str | None,
) -> RenderResponse:
    runtime = model.runtime
    return RenderResponse(
        model=model.name,
        prompt=prompt,
        tokens=tokens,
        num_tokens=len(tokens),
        uses_template=uses_template,
        template=model.info.template_origin if uses_template else None,
        chat_format=chat_format,
        stops=list(stops),
        segments=prompt_segments(tokens, plain=runtime.token_bytes, special=runtime.token_bytes_special),
    )
