from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ParseOptions
from server.formats.constrain import call_constraint
from server.formats.families.gpt_oss import GPT_OSS, call_grammar
from server.formats.parser import MessageStream
from tests.unit.formats.stream_check import (
    TOOLS,
    TOOLS_ON,
    assert_constraints_parse,
    assert_streams_like_whole,
    parse_streamed,
    parse_whole,
    summary,
)

WEATHER = ("get_weather", '{"city":"Paris"}')
TIME = ("get_time", '{"zone":"CET"}')

# As gpt-oss writes them after the prompt's <|start|>assistant (the engine drops <|call|> and <|return|>).
THOUGHT = "<|channel|>analysis<|message|>The user wants the weather in Paris.<|end|>"
CALL = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}'
NEXT = "<|start|>assistant"
TIME_CALL = '<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{"zone":"CET"}'


def test_gpt_oss_single_call() -> None:
    assert summary(assert_streams_like_whole(CALL, GPT_OSS)) == ("", "", [WEATHER])


def test_gpt_oss_call_with_the_recipient_in_the_role_header() -> None:
    text = f'{THOUGHT}{NEXT} to=functions.get_weather<|channel|>commentary json<|message|>{{"city":"Paris"}}'
    message = assert_streams_like_whole(text, GPT_OSS)
    assert summary(message) == ("The user wants the weather in Paris.", "", [WEATHER])


def test_gpt_oss_first_message_may_carry_the_recipient() -> None:
    text = ' to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"Paris"}'
    assert summary(assert_streams_like_whole(text, GPT_OSS)) == ("", "", [WEATHER])


def test_gpt_oss_parallel_calls() -> None:
    text = f"{CALL}<|call|>{NEXT}{TIME_CALL}<|call|>"
    assert summary(assert_streams_like_whole(text, GPT_OSS)) == ("", "", [WEATHER, TIME])


def test_gpt_oss_preamble_then_call() -> None:
    text = f"<|channel|>commentary<|message|>Let me check.<|end|>{NEXT}{CALL}"
    assert summary(assert_streams_like_whole(text, GPT_OSS)) == ("", "Let me check.", [WEATHER])


def test_gpt_oss_thinking_then_call() -> None:
    message = assert_streams_like_whole(f"{THOUGHT}{NEXT}{CALL}", GPT_OSS)
    assert summary(message) == ("The user wants the weather in Paris.", "", [WEATHER])


def test_gpt_oss_thinking_then_final_answer() -> None:
    text = f"{THOUGHT}{NEXT}<|channel|>final<|message|>It is **sunny** in Paris."
    message = assert_streams_like_whole(text, GPT_OSS)
    assert summary(message) == ("The user wants the weather in Paris.", "It is **sunny** in Paris.", [])


def test_gpt_oss_end_of_generation_tokens_are_not_content() -> None:
    text = f"{THOUGHT}{NEXT}<|channel|>final<|message|>Sunny.<|return|>"
    message = assert_streams_like_whole(text, GPT_OSS)
    assert summary(message) == ("The user wants the weather in Paris.", "Sunny.", [])


def test_gpt_oss_separate_thoughts_are_paragraphs() -> None:
    text = f"{THOUGHT}{NEXT}<|channel|>analysis<|message|>Then the time.<|end|>{NEXT}{CALL}"
    message = assert_streams_like_whole(text, GPT_OSS)
    assert message.reasoning == "The user wants the weather in Paris.\n\nThen the time."


def test_gpt_oss_stray_commentary_before_analysis_is_ignored() -> None:
    text = "<|channel|>commentary to=assistant<|channel|>analysis<|message|>Hm.<|end|>"
    text += f"{NEXT}<|channel|>final<|message|>Hi."
    assert summary(assert_streams_like_whole(text, GPT_OSS)) == ("Hm.", "Hi.", [])


def test_gpt_oss_malformed_call_is_content() -> None:
    text = "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>Paris, please<|call|>"
    assert summary(assert_streams_like_whole(text, GPT_OSS)) == ("", text, [])


def test_gpt_oss_call_to_a_builtin_tool_is_content() -> None:
    text = '<|channel|>analysis to=browser.search <|constrain|>json<|message|>{"query":"Paris"}<|call|>'
    assert summary(assert_streams_like_whole(text, GPT_OSS)) == ("", text, [])


def test_gpt_oss_call_cut_off_keeps_its_arguments_so_far() -> None:
    text = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Par'
    message = assert_streams_like_whole(text, GPT_OSS)
    assert summary(message)[2] == [("get_weather", '{"city": "Par')]
    assert not message.tool_calls[0].is_complete


def test_gpt_oss_call_without_tools_is_content() -> None:
    message = assert_streams_like_whole(CALL, GPT_OSS, ParseOptions())
    assert summary(message) == ("", CALL, [])


def test_gpt_oss_reasoning_stays_in_content_when_not_parsed() -> None:
    text = f"{THOUGHT}{NEXT}<|channel|>final<|message|>Sunny."
    message = assert_streams_like_whole(text, GPT_OSS, ParseOptions(parse_reasoning=False))
    assert summary(message) == ("", f"{THOUGHT}\n\nSunny.", [])


def test_gpt_oss_plain_text() -> None:
    text = "No channels here, just <b>text</b> to=you."
    assert summary(assert_streams_like_whole(text, GPT_OSS)) == ("", text, [])


def test_gpt_oss_partial_header_is_held_back() -> None:
    stream = MessageStream(GPT_OSS, TOOLS_ON)
    assert stream.feed("<|channel|>fin").is_empty
    assert stream.feed("al<|message|>Hi<|ret").content == "Hi"
    assert stream.feed("urn|>").is_empty
    assert stream.finish().is_empty and stream.message.content == "Hi"


def test_gpt_oss_call_streams_its_arguments() -> None:
    stream = MessageStream(GPT_OSS, TOOLS_ON)
    assert stream.feed(CALL[: CALL.index("<|message|>")]).is_empty
    delta = stream.feed('<|message|>{"city":"Pa')
    assert [(call.name, call.arguments) for call in delta.tool_calls] == [("get_weather", '{"city":"Pa')]
    assert stream.feed('ris"}').tool_calls[0].arguments == 'ris"}'


def test_gpt_oss_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(GPT_OSS)
    grammar = call_grammar(TOOLS, False)
    assert '"<|channel|>commentary to=functions.get_weather"' in grammar
    assert '" to=functions.get_weather<|channel|>commentary"' in grammar
    assert '"json<|message|>"' in grammar and 'root ::= "<|start|>assistant"? call' in grammar


def test_gpt_oss_forced_grammar_may_think_first() -> None:
    constraint = call_constraint(GPT_OSS, TOOLS, is_parallel=False, is_forced=True, is_reasoning_open=False)
    assert constraint is not None
    assert 'root ::= ( "<|channel|>analysis<|message|>" thought-body "<|end|>"' in constraint.grammar


def test_gpt_oss_triggers_fire_inside_the_recipient() -> None:
    def fires(output: str) -> bool:
        return any(re.search(pattern, output) for pattern in GPT_OSS.trigger_patterns)

    assert fires(f"{THOUGHT}{NEXT}<|channel|>commentary to")
    assert fires(f"{THOUGHT}{NEXT}<|channel|>commentary to=functions.")
    assert fires(f"{THOUGHT}{NEXT} to=func")
    assert fires(" to=")
    assert not fires(f"{THOUGHT}{NEXT}<|channel|>commentary to=functions.get")  # replay would be a name
    assert not fires("<|channel|>commentary<|message|>Going to")
    assert not fires("<|channel|>final<|message|>Off to")


ANSWERS = [
    f"{THOUGHT}{NEXT}<|channel|>commentary<|message|>Checking.<|end|>{NEXT}{CALL}<|call|>{NEXT}{TIME_CALL}",
    f"{THOUGHT}{NEXT}<|channel|>final<|message|>It is <b>sunny</b>.<|return|>",
    '<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a": oops}<|call|>',
    "<|channel|>final<|message|>broken header<|channel|>fi<|message|>x<|end|> and <|st",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=300), max_size=40))
def test_gpt_oss_any_split_streams_like_whole(text: str, cuts: set[int]) -> None:
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, GPT_OSS)) == summary(parse_whole(text, GPT_OSS))
