from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ChatFormat
from server.formats.families.mistral import MISTRAL, MISTRAL_NEMO, call_grammar, nemo_call_grammar
from tests.unit.formats.stream_check import (
    TOOLS,
    assert_constraints_parse,
    assert_streams_like_whole,
    parse_streamed,
    parse_whole,
    summary,
)

# llama.cpp parses a grammar without a vocabulary; it only needs one to sample.

# Mistral Nemo / Mistral 7B v0.3: one JSON list after [TOOL_CALLS], each call with its 9-character id.
NEMO_CALL = '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123xyz"}]'
NEMO_CALLS = (
    '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123xyz"}, '
    '{"name": "get_time", "arguments": {"zone": "CET"}, "id": "def456uvw"}]'
)
# Devstral, Ministral 3, Magistral: [TOOL_CALLS] before every call; Mistral Small 3.2 adds [CALL_ID].
CALL = '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}'
CALL_WITH_ID = '[TOOL_CALLS]get_weather[CALL_ID]abc123xyz[ARGS]{"city": "Paris"}'
CALLS = CALL + '[TOOL_CALLS]get_time[ARGS]{"zone": "CET"}'
WEATHER = ("get_weather", '{"city": "Paris"}')
TIME = ("get_time", '{"zone": "CET"}')


def test_mistral_nemo_single_call() -> None:
    assert summary(assert_streams_like_whole(NEMO_CALL, MISTRAL_NEMO)) == ("", "", [WEATHER])


def test_mistral_nemo_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(NEMO_CALLS, MISTRAL_NEMO)) == ("", "", [WEATHER, TIME])


def test_mistral_nemo_text_before_a_call_is_content() -> None:
    message = assert_streams_like_whole(f"Let me check the weather.\n{NEMO_CALL}", MISTRAL_NEMO)
    assert summary(message) == ("", "Let me check the weather.", [WEATHER])


def test_mistral_nemo_malformed_call_is_content() -> None:
    text = '[TOOL_CALLS][{"name": "get_weather", "arguments": Paris}]'
    assert summary(assert_streams_like_whole(text, MISTRAL_NEMO)) == ("", text, [])


def test_mistral_nemo_bad_second_call_keeps_the_first() -> None:
    text = NEMO_CALL[:-1] + ", {oops}]"
    assert summary(assert_streams_like_whole(text, MISTRAL_NEMO)) == ("", "{oops}]", [WEATHER])


def test_mistral_nemo_plain_text() -> None:
    text = "It is sunny in Paris [source: the window]."
    assert summary(assert_streams_like_whole(text, MISTRAL_NEMO)) == ("", text, [])


def test_mistral_single_call() -> None:
    assert summary(assert_streams_like_whole(CALL, MISTRAL)) == ("", "", [WEATHER])


def test_mistral_call_with_call_id() -> None:
    assert summary(assert_streams_like_whole(CALL_WITH_ID, MISTRAL)) == ("", "", [WEATHER])


def test_mistral_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(CALLS, MISTRAL)) == ("", "", [WEATHER, TIME])


def test_mistral_text_then_call() -> None:
    message = assert_streams_like_whole(f"Hello, world!\nWhat's up?{CALL}", MISTRAL)
    assert summary(message) == ("", "Hello, world!\nWhat's up?", [WEATHER])


def test_mistral_thinking_then_call() -> None:
    text = f"[THINK]The user wants the weather in Paris.[/THINK]{CALL_WITH_ID}"
    message = assert_streams_like_whole(text, MISTRAL)
    assert summary(message) == ("The user wants the weather in Paris.", "", [WEATHER])


def test_mistral_thinking_then_answer() -> None:
    message = assert_streams_like_whole("[THINK]I'm\nthinking[/THINK]Hello, world!", MISTRAL)
    assert summary(message) == ("I'm\nthinking", "Hello, world!", [])


def test_mistral_malformed_call_is_content() -> None:
    text = 'Sure. [TOOL_CALLS]get_weather{"city": "Paris"}'
    assert summary(assert_streams_like_whole(text, MISTRAL)) == ("", text, [])


def test_mistral_call_cut_off_keeps_its_arguments_so_far() -> None:
    message = assert_streams_like_whole('[TOOL_CALLS]get_weather[ARGS]{"city": "Par', MISTRAL)
    assert summary(message)[2] == [("get_weather", '{"city": "Par')]
    assert not message.tool_calls[0].is_complete


def test_mistral_reads_the_json_list_form_too() -> None:
    assert summary(assert_streams_like_whole(NEMO_CALL, MISTRAL)) == ("", "", [WEATHER])


def test_mistral_plain_text() -> None:
    text = "Use [brackets] and [TOOL] words freely."
    assert summary(assert_streams_like_whole(text, MISTRAL)) == ("", text, [])


def test_mistral_nemo_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(MISTRAL_NEMO)
    grammar = nemo_call_grammar(TOOLS, False)
    assert '"[TOOL_CALLS][" ' in grammar and '\\"id\\": \\"' in grammar


def test_mistral_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(MISTRAL)
    grammar = call_grammar(TOOLS, True)
    assert '"[TOOL_CALLS]get_weather"' in grammar and '"[ARGS]"' in grammar


ANSWERS = [
    (MISTRAL_NEMO, f"Checking. {NEMO_CALLS}"),
    (MISTRAL_NEMO, NEMO_CALL[:-1] + ", {oops}] and more"),
    (MISTRAL, f"[THINK]Both.[/THINK]Checking. {CALLS}"),
    (MISTRAL, f"{CALL_WITH_ID}[TOOL_CALLS]oops[ARGS]nope"),
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=200), max_size=30))
def test_mistral_any_split_streams_like_whole(answer: tuple[ChatFormat, str], cuts: set[int]) -> None:
    fmt, text = answer
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, fmt)) == summary(parse_whole(text, fmt))


def test_mistral_call_ids_are_nine_alphanumerics_as_its_templates_require() -> None:
    from server.formats.parser import parse_complete
    from tests.unit.formats.stream_check import TOOLS_ON

    _, ids = parse_complete('[TOOL_CALLS]f[ARGS]{"a": 1}', MISTRAL, TOOLS_ON)
    assert len(ids) == 1 and len(ids[0]) == 9 and ids[0].isalnum()
