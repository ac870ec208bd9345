"""What the model said, split into its parts: reasoning, the answer's text, and tool calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.formats.cursor import ParsedCall


@dataclass(frozen=True)
class Reasoning:
    text: str


@dataclass(frozen=True)
class Text:
    text: str


Segment = Reasoning | Text | ParsedCall


@dataclass
class ParsedMessage:
    reasoning: str = ""
    content: str = ""
    tool_calls: list[ParsedCall] = field(default_factory=list)


# Content pieces on either side of a tool call are joined like paragraphs.
CALL_GAP = "\n\n"


def assemble(segments: list[Segment], *, is_final: bool) -> ParsedMessage:
    """Segments in output order -> a message. Whitespace next to reasoning and calls is formatting,
    and while output is still arriving trailing whitespace is held back: it may turn out to be that.
    Every field of a partial result is a prefix of the same field of the final one."""
    message = ParsedMessage()
    reasoning_parts = [segment.text for segment in segments if isinstance(segment, Reasoning)]
    reasoning = "".join(reasoning_parts)
    message.reasoning = reasoning.strip() if is_final else reasoning.lstrip().rstrip()
    message.tool_calls = [segment for segment in segments if isinstance(segment, ParsedCall)]

    # Runs of text between calls; text next to reasoning or a call loses its whitespace on that side.
    pieces: list[str] = []
    run: list[str] = []
    stripped_left = False

    def close_run(before_call: bool) -> None:
        nonlocal stripped_left
        piece = "".join(run)
        if stripped_left:
            piece = piece.lstrip()
        if before_call:
            piece = piece.rstrip()
        if piece:
            pieces.append(piece)
        run.clear()

    for segment in segments:
        if isinstance(segment, Text):
            run.append(segment.text)
        elif isinstance(segment, Reasoning):
            close_run(before_call=False)
            stripped_left = True
        else:
            close_run(before_call=True)
            stripped_left = True
    close_run(before_call=False)
    content = CALL_GAP.join(pieces)
    message.content = content if is_final else content.rstrip()
    return message
