#!/usr/bin/env python3
"""Helpers for docker_smoke.sh, standard library only (they run with the host's python3):

mirror SUITE            print the apt mirror URI the host uses for SUITE (e.g. bookworm)
wait-healthy URL SECS   poll URL/health until 200; print the seconds it took
check-chat URL          the playground page, one chat completion and one streamed one, answers checked
"""

from __future__ import annotations

import glob
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHAT = {
    "messages": [{"role": "user", "content": "Name three colours of the rainbow."}],
    "max_tokens": 24,
    "temperature": 0,
    # The end-of-turn tokens are banned so the answer cannot come back empty.
    "logit_bias": {"1": -100, "106": -100},
}


def _one_line_mirrors(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            found.append((words[0], [words[1]]))
    return found


def _deb822_mirrors(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        uris = fields.get("uris", "").split()
        if uris:
            found.append((uris[0], fields.get("suites", "").split()))
    return found


def mirror(suite: str) -> int:
    candidates = []
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            candidates += _one_line_mirrors(Path(path).read_text(encoding="utf-8"))
        except OSError:
            continue
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        candidates += _deb822_mirrors(Path(path).read_text(encoding="utf-8"))
    for uri, suites in candidates:
        if suite in suites:
            print(uri.rstrip("/"))
            return 0
    print(f"no apt source for suite {suite!r} in /etc/apt", file=sys.stderr)
    return 1


def wait_healthy(url: str, timeout: float) -> int:
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
                if response.status == 200:
                    print(f"{time.monotonic() - started:.1f}")
                    return 0
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read().decode(errors='replace')}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    print(f"not healthy after {timeout:.0f}s: {last}", file=sys.stderr)
    return 1


def _post(url: str, body: dict) -> urllib.request.Request:
    return urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def check_playground(url: str) -> None:
    """The playground's files are package data: a wheel without them would serve a blank page."""
    for path, kind in (("/playground", "text/html"), ("/playground/assets/main.js", "text/javascript")):
        with urllib.request.urlopen(f"{url}{path}", timeout=10) as response:
            _check(response.headers.get("content-type", "").startswith(kind), f"{path}: not {kind}")
            _check(len(response.read()) > 0, f"{path}: empty")
    print("playground: page and scripts served")


def check_chat(url: str) -> int:
    check_playground(url)
    with urllib.request.urlopen(_post(f"{url}/v1/chat/completions", CHAT), timeout=120) as response:
        reply = json.load(response)
    _check(reply.get("object") == "chat.completion", f"not a chat.completion: {reply}")
    content = reply["choices"][0]["message"]["content"]
    _check(isinstance(content, str) and content.strip() != "", f"empty answer: {reply}")
    _check(reply["usage"]["completion_tokens"] > 0, f"no usage: {reply}")
    print(f"chat: {content.strip()[:70]!r} ({reply['usage']['completion_tokens']} tokens)")

    streamed = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with urllib.request.urlopen(_post(f"{url}/v1/chat/completions", streamed), timeout=120) as response:
        _check(response.headers.get("content-type", "").startswith("text/event-stream"), "not SSE")
        payloads = [
            line.decode().removeprefix("data:").strip() for line in response if line.startswith(b"data:")
        ]
    _check(payloads[-1:] == ["[DONE]"], f"no [DONE] at the end: {payloads[-3:]}")
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    _check(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "first chunk has no role")
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    finish = [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]]
    _check(text.strip() != "", "the stream carried no text")
    _check(finish[-1] in ("stop", "length"), f"no finish chunk: {finish[-3:]}")
    _check(chunks[-1].get("usage", {}).get("completion_tokens", 0) > 0, "no usage chunk")
    # Same seed-free greedy request: the streamed text must equal the plain answer.
    _check(text == content, f"stream {text!r} differs from the answer {content!r}")
    print(f"stream: {len(chunks)} chunks, finish_reason {finish[-1]}, then [DONE]")
    return 0


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "mirror":
        return mirror(args[0])
    if command == "wait-healthy":
        return wait_healthy(args[0].rstrip("/"), float(args[1]))
    if command == "check-chat":
        try:
            return check_chat(args[0].rstrip("/"))
        except (AssertionError, urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            print(f"check failed: {exc}", file=sys.stderr)
            return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
