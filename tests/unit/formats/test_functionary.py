from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ChatFormat, ParseOptions
from server.formats.families.functionary import (
    FUNCTIONARY_V3_1,
    FUNCTIONARY_V3_2,
    call_grammar_v3_1,
    call_grammar_v3_2,
)
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

WEATHER = ("get_weather", '{"city": "Paris"}')
TIME = ("get_time", '{"zone": "CET"}')

# -- v3.2: the prompt ends with ">>>", so the answer starts with the recipient ---------------------

V3_2_CALL = 'get_weather\n{"city": "Paris"}'
V3_2_TIME = '>>>get_time\n{"zone": "CET"}'


def test_functionary_v3_2_single_call() -> None:
    assert summary(assert_streams_like_whole(V3_2_CALL, FUNCTIONARY_V3_2)) == ("", "", [WEATHER])


def test_functionary_v3_2_parallel_calls() -> None:
    text = V3_2_CALL + V3_2_TIME
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_2)) == ("", "", [WEATHER, TIME])


def test_functionary_v3_2_text_then_call() -> None:
    text = f"all\nLet me check the weather.>>>{V3_2_CALL}"
    message = assert_streams_like_whole(text, FUNCTIONARY_V3_2)
    assert summary(message) == ("", "Let me check the weather.", [WEATHER])


def test_functionary_v3_2_text_messages_are_paragraphs() -> None:
    text = "all\nFirst part.>>>all\nSecond part."
    message = assert_streams_like_whole(text, FUNCTIONARY_V3_2)
    assert summary(message) == ("", "First part.\n\nSecond part.", [])


def test_functionary_v3_2_malformed_call_is_content() -> None:
    text = "get_weather\ncity=Paris"
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_2)) == ("", text, [])


def test_functionary_v3_2_call_cut_off_keeps_its_arguments_so_far() -> None:
    message = assert_streams_like_whole('get_weather\n{"city": "Par', FUNCTIONARY_V3_2)
    assert summary(message)[2] == [("get_weather", '{"city": "Par')]
    assert not message.tool_calls[0].is_complete


def test_functionary_v3_2_call_without_tools_is_content() -> None:
    message = assert_streams_like_whole(V3_2_CALL, FUNCTIONARY_V3_2, ParseOptions())
    assert summary(message) == ("", V3_2_CALL, [])


def test_functionary_v3_2_plain_text() -> None:
    text = "all\nIn Python, >>> is the prompt and 3 >> 1 == 1."
    expected = "In Python, >>> is the prompt and 3 >> 1 == 1."
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_2)) == ("", expected, [])


def test_functionary_v3_2_text_without_recipient_is_content() -> None:
    text = "Hello! How can I help?"
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_2)) == ("", text, [])


def test_functionary_v3_2_recipient_is_held_back_until_known() -> None:
    stream = MessageStream(FUNCTIONARY_V3_2, TOOLS_ON)
    assert stream.feed("al").is_empty
    assert stream.feed("l\nSure.>").content == "Sure."
    assert stream.feed(">>get_wea").is_empty
    assert stream.feed('ther\n{"ci').tool_calls[0].arguments == '{"ci'


def test_functionary_v3_2_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(FUNCTIONARY_V3_2)
    grammar = call_grammar_v3_2(TOOLS, True)
    assert '"get_weather\\n" get-weather-args' in grammar
    assert 'root ::= ">>>"? call ( ">>>" call )*' in grammar


def test_functionary_v3_2_trigger_fires_only_at_a_recipient_mark() -> None:
    assert re.search(FUNCTIONARY_V3_2.trigger_patterns[0], "all\nLet me check.>>>")
    assert not re.search(FUNCTIONARY_V3_2.trigger_patterns[0], "all\nLet me check.>>>get")


# -- v3.1 ---------------------------------------------------------------------------------------------

V3_1_CALL = '<function=get_weather>{"city": "Paris"}</function>'
V3_1_TIME = '<function=get_time>{"zone": "CET"}</function>'


def test_functionary_v3_1_single_call() -> None:
    assert summary(assert_streams_like_whole(V3_1_CALL, FUNCTIONARY_V3_1)) == ("", "", [WEATHER])


def test_functionary_v3_1_parallel_calls() -> None:
    text = V3_1_CALL + V3_1_TIME
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_1)) == ("", "", [WEATHER, TIME])


def test_functionary_v3_1_text_then_call() -> None:
    text = f"Let me check.\n{V3_1_CALL}"
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_1)) == ("", "Let me check.", [WEATHER])


def test_functionary_v3_1_python_code() -> None:
    text = "Let me compute it.<|python_tag|>import math\nprint(math.pi)\n"
    message = assert_streams_like_whole(text, FUNCTIONARY_V3_1)
    code = ("python", '{"code": "import math\\nprint(math.pi)"}')
    assert summary(message) == ("", "Let me compute it.", [code])


def test_functionary_v3_1_python_code_streams_as_it_arrives() -> None:
    stream = MessageStream(FUNCTIONARY_V3_1, TOOLS_ON)
    assert stream.feed("<|python_").is_empty
    assert stream.feed('tag|>print("hi")\n').tool_calls[0].arguments == '{"code": "print(\\"hi\\")'
    assert stream.feed("print(2)").tool_calls[0].arguments == "\\nprint(2)"
    assert stream.finish().tool_calls[0].arguments == '"}'


def test_functionary_v3_1_malformed_call_is_content() -> None:
    text = "<function=get_weather>city=Paris</function>"
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_1)) == ("", text, [])


def test_functionary_v3_1_call_without_closer_then_text() -> None:
    text = '<function=get_weather>{"city": "Paris"} and more'
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_1)) == ("", "and more", [WEATHER])


def test_functionary_v3_1_call_without_tools_is_content() -> None:
    message = assert_streams_like_whole(V3_1_CALL, FUNCTIONARY_V3_1, ParseOptions())
    assert summary(message) == ("", V3_1_CALL, [])


def test_functionary_v3_1_plain_text() -> None:
    text = "#include <functional> and <b>bold</b>"
    assert summary(assert_streams_like_whole(text, FUNCTIONARY_V3_1)) == ("", text, [])


def test_functionary_v3_1_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(FUNCTIONARY_V3_1)
    grammar = call_grammar_v3_1(TOOLS, True)
    assert '"<function=get_weather>" get-weather-args "</function>"' in grammar
    assert "root ::= call+" in grammar


def test_functionary_v3_1_trigger_fires_before_the_name() -> None:
    assert re.search(FUNCTIONARY_V3_1.trigger_patterns[0], "Let me see. <function")
    assert re.search(FUNCTIONARY_V3_1.trigger_patterns[0], "Let me see. <function=")
    assert not re.search(FUNCTIONARY_V3_1.trigger_patterns[0], "Let me see. <function=get")


ANSWERS: list[tuple[ChatFormat, str]] = [
    (FUNCTIONARY_V3_2, f"all\nChecking both.\n>>>{V3_2_CALL}\n{V3_2_TIME}"),
    (FUNCTIONARY_V3_2, 'get_weather\n{"city": oops}>>>all\nSorry >> about that'),
    (FUNCTIONARY_V3_2, "all\nUse >>>python\nprint(1) in the REPL>>"),
    (FUNCTIONARY_V3_1, f"Checking. {V3_1_CALL}{V3_1_TIME}<|python_tag|>x = 1\n"),
    (FUNCTIONARY_V3_1, '<function=f>{"a": oops}</function> <functional> <|python'),
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=300), max_size=40))
def test_functionary_any_split_streams_like_whole(answer: tuple[ChatFormat, str], cuts: set[int]) -> None:
    fmt, text = answer
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, fmt)) == summary(parse_whole(text, fmt))
