# llama.cpp's shared libraries load first, before anything (the gguf package, numpy) can pull in
# another libstdc++: on a CUDA image whose Python had loaded an older one, a model load segfaulted
# when `gguf` was imported before `llama_cpp`.
import llama_cpp  # noqa: F401  (imported for its side effect: loading libllama)

__version__ = "0.1.0"
