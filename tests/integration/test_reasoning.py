"""Reasoning end to end on a copy of the bundled model with Qwen3's real template. A base model does
not think on its own, so a grammar makes it write the <think> block; the server must return the
thinking in reasoning_content (and reasoning), the rest in content."""

from __future__ import annotations

from typing import Any

import httpx
import openai

MODEL = "qwen3-tools"
ASK = [{"role": "user", "content": "Is the sky blue?"}]
# A thought, then an answer, in Qwen3's own markers.
THINK_THEN_ANSWER = r'root ::= "<think>\n" [a-z]{2,8} " " [a-z]{2,8} "\n</think>\n\n" [A-Z] [a-z]{2,10} "."'


def _ask(client: openai.OpenAI, **extra: Any) -> Any:
    return client.chat.completions.create(
        model=MODEL, messages=ASK, max_tokens=60, seed=4, extra_body={"grammar": THINK_THEN_ANSWER, **extra}
    )


def test_thinking_goes_to_reasoning_content(tools_client: openai.OpenAI) -> None:
    message = _ask(tools_client).choices[0].message
    extra = message.model_extra or {}
    thought = extra["reasoning_content"]
    assert thought and "<think>" not in thought and "</think>" not in thought
    assert extra["reasoning"] == thought
    assert message.content and "<think>" not in message.content and message.content.endswith(".")


def test_streamed_reasoning_matches_the_whole_answer(tools_client: openai.OpenAI) -> None:
    whole = _ask(tools_client).choices[0].message
    reasoning, content = "", ""
    stream = tools_client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        max_tokens=60,
        seed=4,
        stream=True,
        extra_body={"grammar": THINK_THEN_ANSWER},
    )
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            content += delta.content or ""
    assert reasoning == (whole.model_extra or {})["reasoning_content"]
    assert content == whole.content


def test_reasoning_format_none_keeps_thinking_inline(tools_client: openai.OpenAI) -> None:
    message = _ask(tools_client, reasoning_format="none").choices[0].message
    assert message.content.startswith("<think>\n") and "</think>" in message.content
    assert "reasoning_content" not in (message.model_extra or {})


def test_chat_template_kwargs_reach_the_template(tools_http: httpx.Client) -> None:
    def prompt(**extra: Any) -> str:
        response = tools_http.post("/v1/chat/render", json={"model": MODEL, "messages": ASK, **extra})
        assert response.status_code == 200, response.text
        return response.json()["prompt"]

    # Qwen3's template closes an empty thought when thinking is switched off.
    assert prompt(chat_template_kwargs={"enable_thinking": False}).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert prompt().endswith("<|im_start|>assistant\n")


def test_reserved_template_variables_are_refused(tools_http: httpx.Client) -> None:
    response = tools_http.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": ASK, "chat_template_kwargs": {"messages": []}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "chat_template_kwargs"
