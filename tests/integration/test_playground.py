"""The playground in a real headless Chromium against the real server and model: it lists the catalog,
shows each pane's prompt as the model sees it, streams answers side by side, stops, and copies a
request as code that runs.

Chromium is the system's (Debian's `chromium`); without one these tests skip, unless
LOCALCHAT_REQUIRE_BROWSER is set (CI sets it), which makes a missing browser a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support.browser import chromium, find_chromium

from .conftest import BASE_MODEL, INSTRUCT_MODEL, RunningServer
from .model_servers import start_server, stop
from .test_reasoning import THINK_THEN_ANSWER

RUN_SECONDS = 120
KEY = "playground-secret"
CITY_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo"]}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: Playwright's sync API runs an event loop of its own, closed before async tests run.
    executable = find_chromium()
    if executable is None:
        message = "no Chromium found: apt-get install chromium, or set LOCALCHAT_CHROMIUM"
        if os.environ.get("LOCALCHAT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    with chromium(executable) as running:
        yield running


@dataclass
class WatchedPage:
    """A page plus what it logged and asked for, so a test can insist on a clean console."""

    page: Page
    origin: str
    console_errors: list[str] = field(default_factory=list)
    request_urls: list[str] = field(default_factory=list)

    def pane(self, letter: str) -> Locator:
        return self.page.locator(f'[data-pane="{letter}"]')

    def assert_clean(self, *, allowed: tuple[str, ...] = ()) -> None:
        unexpected = [text for text in self.console_errors if not any(part in text for part in allowed)]
        assert unexpected == []
        foreign = [url for url in self.request_urls if not url.startswith((self.origin, "data:"))]
        assert foreign == []


def open_playground(browser: Browser, server: RunningServer) -> WatchedPage:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(RUN_SECONDS * 1000)
    watched = WatchedPage(page, server.base_url)
    page.on(
        "console", lambda message: message.type == "error" and watched.console_errors.append(message.text)
    )
    page.on("pageerror", lambda error: watched.console_errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: watched.request_urls.append(request.url))
    page.goto(server.base_url + "/")
    return watched


@pytest.fixture
def playground(browser: Browser, server: RunningServer) -> Iterator[WatchedPage]:
    watched = open_playground(browser, server)
    yield watched
    watched.page.context.close()


def page_messages(page: Page) -> list[dict[str, str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#messages .message')].map((row) => ({
            role: row.querySelector('select').value, content: row.querySelector('textarea').value }))"""
    )


def set_param(pane: Locator, name: str, value: str) -> None:
    details = pane.locator("details.params")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    field_ = pane.locator(f'[data-param="{name}"]')
    if field_.evaluate("element => element.tagName") == "SELECT":
        field_.select_option(value)
    else:
        field_.fill(value)


def watch_growth(page: Page) -> None:
    """Record every length each pane's answer passes through, to tell streaming from one final write."""
    page.evaluate(
        """() => {
            window.growth = {a: [], b: []};
            for (const letter of ['a', 'b']) {
                const content = document.querySelector(`[data-pane="${letter}"] .content`);
                new MutationObserver(() => window.growth[letter].push(content.textContent.length))
                    .observe(content, {childList: true, characterData: true, subtree: true});
            }
        }"""
    )


def wait_until_finished(pane: Locator, state: str = "done") -> None:
    expect(pane).to_have_attribute("data-state", state, timeout=RUN_SECONDS * 1000)


def test_playground_lists_the_catalog_with_kinds(playground: WatchedPage) -> None:
    page = playground.page
    assert page.url.endswith("/playground")
    rows = page.locator("#catalog .model")
    expect(rows).to_have_count(2)
    base = page.locator(f'#catalog .model[data-model="{BASE_MODEL}"]')
    instruct = page.locator(f'#catalog .model[data-model="{INSTRUCT_MODEL}"]')
    expect(base.locator(".badge.kind")).to_have_text("base")
    expect(base.locator(".badges")).to_contain_text("no template")
    expect(instruct.locator(".badge.kind")).to_have_text("instruct")
    expect(instruct.locator(".badges")).to_contain_text("template")
    expect(base.locator(".badge.status")).to_have_text("loaded")
    # A base model against its instruct copy is the comparison the page opens with.
    expect(playground.pane("a").locator(".model-select")).to_have_value(BASE_MODEL)
    expect(playground.pane("b").locator(".model-select")).to_have_value(INSTRUCT_MODEL)
    playground.assert_clean()


def test_playground_shows_each_models_prompt_side_by_side(
    playground: WatchedPage, http: httpx.Client
) -> None:
    base_view = playground.pane("a").locator(".prompt-view")
    instruct_view = playground.pane("b").locator(".prompt-view")
    expect(instruct_view).to_contain_text("<start_of_turn>user")
    expect(base_view).to_contain_text("User: Why is the sky blue?")
    messages = page_messages(playground.page)
    for letter, model, view in (("a", BASE_MODEL, base_view), ("b", INSTRUCT_MODEL, instruct_view)):
        expected = http.post("/v1/chat/render", json={"model": model, "messages": messages}).json()
        shown = view.evaluate("element => element.textContent")
        assert shown == "".join(segment["text"] for segment in expected["segments"])
        expect(playground.pane(letter).locator(".prompt-count")).to_have_text(
            f"{expected['num_tokens']} tokens"
        )
    # Special tokens are marked: the base transcript has only <bos>; the template's turn markers are special.
    assert base_view.locator(".special").all_text_contents() == ["<bos>"]
    instruct_special = set(instruct_view.locator(".special").all_text_contents())
    assert {"<bos>", "<start_of_turn>", "<end_of_turn>"} <= instruct_special
    assert "<start_of_turn>" not in base_view.text_content()
    expect(playground.pane("a").locator(".prompt-path")).to_contain_text("base transcript")
    expect(playground.pane("a").locator(".prompt-path")).to_contain_text('"\\nUser:"')
    expect(playground.pane("b").locator(".prompt-path")).to_contain_text("tokenizer.chat_template")
    playground.assert_clean()


def test_playground_conversation_edits_reach_the_prompt(playground: WatchedPage) -> None:
    page = playground.page
    base_view = playground.pane("a").locator(".prompt-view")
    expect(base_view).to_contain_text("User: Why is the sky blue?")
    page.click("#add-message")
    page.locator("#messages .message").last.locator("textarea").fill("Because of Rayleigh scattering.")
    page.click("#add-message")
    page.locator("#messages .message").last.locator("textarea").fill("And sunsets?")
    expect(base_view).to_contain_text(
        "User: Why is the sky blue?\nAssistant: Because of Rayleigh scattering.\n"
        "User: And sunsets?\nAssistant:"
    )
    expect(playground.pane("b").locator(".prompt-view")).to_contain_text(
        "<start_of_turn>model\nBecause of Rayleigh scattering.<end_of_turn>"
    )
    page.get_by_label("Move turn 4 up").click()
    expect(base_view).to_contain_text("User: And sunsets?\nAssistant: Because of Rayleigh scattering.")
    # Two user turns in a row: the transcript takes them, Gemma's template refuses them, and says why.
    instruct_view = playground.pane("b").locator(".prompt-view")
    expect(instruct_view).to_have_class(re.compile(r"\berror\b"))
    expect(instruct_view).to_contain_text("Conversation roles must alternate")
    page.get_by_label("Delete turn 3").click()
    expect(page.locator("#messages .message")).to_have_count(3)
    expect(base_view).not_to_contain_text("And sunsets?")
    expect(instruct_view).not_to_have_class(re.compile(r"\berror\b"))
    playground.assert_clean(allowed=("status of 400",))


def test_playground_streams_into_both_panes(playground: WatchedPage) -> None:
    page = playground.page
    panes = (playground.pane("a"), playground.pane("b"))
    for pane in panes:
        set_param(pane, "max_tokens", "40")
        set_param(pane, "seed", "11")
        set_param(pane, "temperature", "0.8")
    expect(panes[1].locator(".prompt-view")).to_contain_text("<start_of_turn>")
    watch_growth(page)
    page.click("#run")
    expect(page.locator("#stop")).to_be_enabled()
    for pane in panes:
        wait_until_finished(pane)
    growth = page.evaluate("() => window.growth")
    for letter, pane in zip("ab", panes, strict=True):
        lengths = sorted(set(growth[letter]) - {0})
        assert len(lengths) >= 2, f"pane {letter} did not stream: {growth[letter]}"
        assert pane.locator(".content").text_content().strip()
        expect(pane.locator('[data-stat="ttft"]')).to_contain_text("TTFT")
        expect(pane.locator('[data-stat="tps"]')).to_contain_text("tok/s")
        expect(pane.locator('[data-stat="finish"]')).to_have_text(re.compile(r"finish: (stop|length)"))
        tokens = int(pane.locator('[data-stat="tokens"]').text_content().split()[0])
        assert 1 <= tokens <= 40
    expect(page.locator("#run")).to_be_enabled()
    expect(page.locator("#stop")).to_be_disabled()
    playground.assert_clean()


def test_playground_stop_ends_both_runs(playground: WatchedPage, http: httpx.Client) -> None:
    page = playground.page
    page.get_by_role("radio", name="Completion").check()
    page.fill("#raw-prompt", "Here is a very long story about a dragon. Once upon a time")
    panes = (playground.pane("a"), playground.pane("b"))
    for pane in panes:
        set_param(pane, "max_tokens", "1500")
    page.keyboard.press("Control+Enter")
    for pane in panes:
        expect(pane.locator(".content")).not_to_have_text("")
    running = [pane for pane in panes if pane.get_attribute("data-state") == "running"]
    assert running, "both runs ended before Stop could be pressed"
    page.keyboard.press("Escape")
    for pane in running:
        wait_until_finished(pane, "stopped")
        expect(pane.locator('[data-stat="finish"]')).to_have_text("finish: stopped")
    expect(page.locator("#run")).to_be_enabled()
    # The server saw the disconnects and stopped generating.
    for model in (BASE_MODEL, INSTRUCT_MODEL):
        deadline_checks = 100
        while http.get(f"/v1/models/{model}").json()["num_running"] and deadline_checks:
            page.wait_for_timeout(100)
            deadline_checks -= 1
        assert http.get(f"/v1/models/{model}").json()["num_running"] == 0
    playground.assert_clean()


def test_playground_completion_mode_shows_the_raw_prompt(playground: WatchedPage, http: httpx.Client) -> None:
    page = playground.page
    page.get_by_role("radio", name="Completion").check()
    expect(page.locator("#conversation-card")).to_be_hidden()
    page.fill("#raw-prompt", "The capital of France is")
    pane = playground.pane("a")
    view = pane.locator(".prompt-view")
    expect(view).to_have_text("<bos>The capital of France is")
    assert view.locator(".special").all_text_contents() == ["<bos>"]
    expected = http.post(
        "/v1/completions/render", json={"model": BASE_MODEL, "prompt": "The capital of France is"}
    )
    expect(pane.locator(".prompt-count")).to_have_text(f"{expected.json()['num_tokens']} tokens")
    expect(pane.locator(".prompt-path")).to_have_text("raw prompt, as sent")
    page.uncheck("#compare")
    expect(playground.pane("b")).to_be_hidden()
    set_param(pane, "max_tokens", "8")
    page.click("#run")
    wait_until_finished(pane)
    assert pane.locator(".content").text_content()
    expect(pane.locator('[data-stat="finish"]')).to_contain_text("finish:")
    playground.assert_clean()


def test_playground_shows_tool_calls_as_calls(playground: WatchedPage) -> None:
    page = playground.page
    page.locator("details.tools summary").click()
    page.click("#example-tool")
    assert json.loads(page.input_value("#tools-json"))[0]["function"]["name"] == "get_weather"
    # A closed set of cities, so the base weights finish their arguments well inside max_tokens.
    page.fill("#tools-json", json.dumps([CITY_TOOL]))
    page.select_option("#tool-choice", "required")
    # One call each: with parallel calls allowed, base weights may keep calling until max_tokens.
    page.uncheck("#parallel-tools")
    expect(playground.pane("b").locator(".prompt-view")).to_contain_text("get_weather")
    for letter in "ab":
        set_param(playground.pane(letter), "max_tokens", "200")
    page.click("#run")
    for letter in "ab":
        pane = playground.pane(letter)
        wait_until_finished(pane)
        expect(pane.locator(".tool-call").first).to_be_visible()
        assert pane.locator(".tool-call .call-name").all_text_contents() == ["get_weather"]
        for arguments in pane.locator(".tool-call code").all_text_contents():
            assert json.loads(arguments)["city"] in ("Paris", "Tokyo")
        expect(pane.locator('[data-stat="finish"]')).to_have_text("finish: tool_calls")
    playground.assert_clean()


def test_playground_shows_reasoning_apart(browser: Browser, tool_server: RunningServer) -> None:
    # A base model does not think on its own: a grammar makes it write Qwen3's <think> block.
    playground = open_playground(browser, tool_server)
    page = playground.page
    # The catalog shows what each model can do (the capabilities /api/show reports too).
    qwen3 = page.locator('#catalog .model[data-model="qwen3-tools"]')
    expect(qwen3.locator(".badge.capability")).to_have_text(["tools", "thinking"])
    expect(page.locator(f'#catalog .model[data-model="{BASE_MODEL}"] .badge.capability')).to_have_count(0)
    page.get_by_label("Use qwen3-tools in pane A").click()
    page.uncheck("#compare")
    pane = playground.pane("a")
    expect(pane.locator(".prompt-view")).to_contain_text("<|im_start|>assistant")
    set_param(pane, "grammar", THINK_THEN_ANSWER)
    set_param(pane, "seed", "4")
    set_param(pane, "max_tokens", "60")
    page.click("#run")
    wait_until_finished(pane)
    expect(pane.locator(".reasoning")).to_be_visible()
    thought = pane.locator(".reasoning-text").text_content()
    assert re.fullmatch(r"[a-z]{2,8} [a-z]{2,8}\n?", thought), thought
    answer = pane.locator(".content").text_content()
    assert re.fullmatch(r"[A-Z][a-z]{2,10}\.", answer), answer
    # The grammar is a localchat extension: openai-python sends it through extra_body.
    python = snippet(page, pane, "python")
    assert "extra_body=" in python and '"grammar": ' in python
    playground.assert_clean()
    page.context.close()


def snippet(page: Page, pane: Locator, kind: str) -> str:
    pane.locator(f'[data-snippet="{kind}"]').click()
    expect(page.locator("#snippet-dialog")).to_be_visible()
    text = page.locator("#snippet-text").text_content()
    page.locator("#snippet-dialog button[value=close]").click()
    return text


def test_playground_copy_as_code_runs(playground: WatchedPage, tmp_path: Path) -> None:
    page = playground.page
    pane = playground.pane("b")
    set_param(pane, "max_tokens", "12")
    set_param(pane, "top_k", "40")
    set_param(pane, "stop", "\\n\\n")
    curl = snippet(page, pane, "curl")
    assert curl.startswith(f"curl {playground.origin}/v1/chat/completions")
    answered = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=RUN_SECONDS)
    assert answered.returncode == 0, answered.stderr
    answer: dict[str, Any] = json.loads(answered.stdout)
    assert answer["model"] == INSTRUCT_MODEL
    assert answer["object"] == "chat.completion"
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    assert answer["usage"]["completion_tokens"] <= 12

    python = snippet(page, pane, "python")
    assert "extra_body=" in python and '"top_k": 40' in python
    ran = subprocess.run([sys.executable, "-c", python], capture_output=True, text=True, timeout=RUN_SECONDS)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip()

    node = snippet(page, pane, "node")
    assert 'import OpenAI from "openai"' in node and '"top_k": 40' in node
    if shutil.which("node"):
        script = tmp_path / "snippet.mjs"
        script.write_text(node, encoding="utf-8")
        checked = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    playground.assert_clean()


@pytest.fixture(scope="module")
def key_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("keyed"),
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n",
        {"LOCALCHAT_API_KEY": KEY},
    )
    yield running
    stop(running)


def test_playground_asks_for_the_api_key_once(browser: Browser, key_server: RunningServer) -> None:
    playground = open_playground(browser, key_server)
    page = playground.page
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    page.fill("#key-input", "wrong-key")
    page.locator("#key-dialog button[value=save]").click()
    expect(dialog).to_be_visible()  # refused: asked again, saying so
    expect(page.locator("#key-note")).to_contain_text("refused the stored key")
    page.fill("#key-input", KEY)
    page.locator("#key-dialog button[value=save]").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#catalog .model")).to_have_count(1)
    expect(playground.pane("a").locator(".prompt-view")).to_contain_text("User:")
    assert page.evaluate("() => localStorage.getItem('localchat.apiKey')") == KEY
    page.reload()
    expect(page.locator("#catalog .model")).to_have_count(1)
    expect(dialog).to_be_hidden()
    curl = snippet(page, playground.pane("a"), "curl")
    assert "$LOCALCHAT_API_KEY" in curl and KEY not in curl
    playground.assert_clean(allowed=("401",))
    page.context.close()
