"""llama.cpp's libraries must load before the gguf package (see server/__init__.py)."""

from __future__ import annotations

import subprocess
import sys


def test_llama_cpp_loads_before_gguf_whatever_is_imported_first() -> None:
    code = (
        "import sys, server.models.gguf_header; m = list(sys.modules); "
        "print(m.index('llama_cpp') < m.index('gguf'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
