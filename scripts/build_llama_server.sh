#!/usr/bin/env bash
# Build llama.cpp's own llama-server from the sources llama-cpp-python vendors (the same llama.cpp
# the server runs on): the reference of the parity tests (.ci/run builds it) and of
# `scripts/bench.py --llama-server`.
#
#   bash scripts/build_llama_server.sh                 # CPU build
#   CMAKE_ARGS=-DGGML_CUDA=ON bash scripts/build_llama_server.sh   # on a CUDA machine
#
# Prints the binary's path. Needs cmake and a C++ compiler; pip downloads the sdist (or reuses its cache).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
version=$("$python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')
work=${LLAMA_SERVER_BUILD_DIR:-.cache/llama-server-$version}
mkdir -p "$work"
if [ ! -d "$work/src" ]; then
  "$python" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work" >&2
  mkdir -p "$work/src"
  tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work/src" --strip-components=3 \
    "llama_cpp_python-$version/vendor/llama.cpp"
fi
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of flags
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON ${CMAKE_ARGS:-} >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
echo "$(cd "$work/build/bin" && pwd)/llama-server"
