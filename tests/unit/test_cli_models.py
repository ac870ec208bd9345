"""`localchat models`: the catalog as a table, with a pull hint for entries not downloaded yet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.cli import main

GGUFFactory = Callable[..., Path]


def test_models_command_prints_table(
    tmp_path: Path, make_gguf: GGUFFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    make_gguf(tmp_path / "tiny-it.gguf", size_label="1B", file_type=15, chat_template="{{ messages }}")
    (tmp_path / "models.yaml").write_text(
        "settings:\n  n_ctx: 2048\n"
        "models:\n  - name: remote\n    repo: org/r-GGUF\n    quant: Q8_0\n    n_ctx: 512\n",
        encoding="utf-8",
    )
    assert main(["models", "--models-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SIZE", "QUANT", "TEMPLATE", "N_CTX", "FILE"]
    remote = next(line for line in lines if line.startswith("remote "))
    assert remote.split()[:6] == ["remote", "base", "-", "-", "no", "512"] and "(not downloaded)" in remote
    tiny = next(line for line in lines if line.startswith("tiny-it "))
    assert tiny.split()[:6] == ["tiny-it", "instruct", "1B", "Q4_K_M", "yes", "2048"]
    assert f"localchat pull org/r-GGUF Q8_0 --name remote --models-dir {tmp_path}" in lines[-1]


def test_models_command_reports_catalog_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "models.yaml").write_text("models:\n  - name: a\n", encoding="utf-8")
    assert main(["models", "--models-dir", str(tmp_path)]) == 2
    assert "models[0]" in capsys.readouterr().err
