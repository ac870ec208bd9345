"""A tiny GGUF that a pull can fetch and a catalog can list (not load): a llama header, a Q4_K_M file
type and three tokens, padded with a zero tensor to the size a test needs."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


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
