"""Whether llama.cpp's extra CPU weight layouts (repacked and AMX kernels) run on this machine.

A CPU can report AMX while the hypervisor or sandbox around it never enabled the tile state: then
llama.cpp, built for the CPU it saw, dies with SIGILL on the first AMX matmul. That cannot be
caught in-process, so the first load tries one decode in a child process and falls back to plain
weights if the child dies.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("localchat.engine")
PROBE_SECONDS = 120


def cpu_reports_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        return "amx_tile" in cpuinfo.read_text(errors="replace")
    except OSError:
        return False


@functools.cache
def extra_buffers_work(model_path: Path) -> bool:
    if not cpu_reports_amx():
        return True
    try:
        result = subprocess.run(
            [sys.executable, "-m", "server.engine.cpu_probe", str(model_path)],
            capture_output=True,
            timeout=PROBE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return False
    if result.returncode != 0:
        log.warning(
            "this CPU reports AMX but llama.cpp's AMX kernels fail here (exit %d); "
            "loading weights without repacking",
            result.returncode,
        )
    return result.returncode == 0


def _decode_one_token(model_path: Path) -> None:
    from server.engine.llama import LlamaRuntime, RuntimeConfig

    runtime = LlamaRuntime(
        RuntimeConfig(path=model_path, n_ctx=64, n_batch=16, n_seq_max=1, n_threads=1, n_gpu_layers=0)
    )
    tokens = runtime.tokenize("Hello, world", add_bos=True, parse_special=False)
    runtime.decode([(token, index, 0, index == len(tokens) - 1) for index, token in enumerate(tokens)])
    runtime.close()


if __name__ == "__main__":
    _decode_one_token(Path(sys.argv[1]))
