"""What the Ollama client tests serve (conftest.py's `ollama_server`): the bundled model, copies of it
with Qwen2.5's and Qwen3's real templates (tool calls and thinking), and a tiny GGUF on a stand-in
Hugging Face Hub to pull."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

PULL_REPO = "org/tiny-GGUF"
PULL_FILE = "tiny-Q4_K_M.gguf"
# huggingface_hub writes in 10 MiB pieces: a file of two gets more than one progress line.
PULL_PADDING_BYTES = 12 * 1024 * 1024
TOOLS_MODEL = "qwen-tools"
THINKING_MODEL = "qwen3-tools"


def tiny_gguf(path: Path, *, padding_bytes: int = 0) -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Tiny")
    writer.add_size_label("1M")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    writer.add_token_list(["<pad>", "<s>", "</s>"])
    if padding_bytes:
        writer.add_tensor("padding", np.zeros(padding_bytes // 4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
