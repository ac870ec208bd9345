"""A copy of a GGUF file with a chat template written into its metadata: the same weights served as an
instruct model (gguf's own gguf_new_metadata does the writing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def copy_with_template(base: Path, template_file: Path, target: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            str(base),
            str(target),
            "--chat-template-file",
            str(template_file),
            "--force",
        ],
        check=True,
        capture_output=True,
    )
    return target
