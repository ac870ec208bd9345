"""The bundled model's file for scripts, assembled into models/ on first use."""

from __future__ import annotations

from pathlib import Path

from server.models.bundled import assemble_bundled_model

BUNDLED_FILE = Path(__file__).resolve().parents[2] / "models" / "gemma-3-270m-q4_k_m.gguf"


def bundled_model_path() -> Path:
    if not BUNDLED_FILE.exists():
        assemble_bundled_model(BUNDLED_FILE)
    return BUNDLED_FILE
