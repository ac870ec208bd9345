"""What the Ollama client tests serve (conftest.py's `ollama_server`): the bundled model, copies of it
with Qwen2.5's and Qwen3's real templates (tool calls and thinking), and a tiny GGUF on a stand-in
Hugging Face Hub to pull."""

from __future__ import annotations

PULL_REPO = "org/tiny-GGUF"
PULL_FILE = "tiny-Q4_K_M.gguf"
# huggingface_hub writes in 10 MiB pieces: a file of two gets more than one progress line.
PULL_PADDING_BYTES = 12 * 1024 * 1024
TOOLS_MODEL = "qwen-tools"
THINKING_MODEL = "qwen3-tools"
