#!/bin/sh
# Serve with the image's catalog (the bundled model, assembled at build time) unless the models
# volume brings its own models.yaml or LOCALCHAT_CONFIG_FILE names one. *.gguf files dropped into
# the volume are served either way. Arguments are passed to `localchat serve` (e.g. --n-ctx 8192).
set -eu
models_dir="${LOCALCHAT_MODELS_DIR:-/models}"
if [ -z "${LOCALCHAT_CONFIG_FILE:-}" ] && [ ! -f "$models_dir/models.yaml" ]; then
    export LOCALCHAT_CONFIG_FILE=/opt/localchat/models.yaml
fi
# exec: the server is PID 1 and receives SIGTERM itself, so it can drain.
exec localchat serve "$@"
