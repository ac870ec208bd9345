#!/usr/bin/env bash
# Build the Docker image, run it, and prove it serves: healthy, a chat completion and a streamed one
# with their answers checked, then SIGTERM and a clean exit (status 0). Prints the image size, the
# time to healthy and the total time. Exits non-zero on any failure, and cleans up after itself.
#
# Uses docker where an engine answers (`docker info`). Otherwise buildah with chroot isolation and
# vfs storage, on a stand-in for debian:bookworm-slim made with debootstrap from the apt mirror this
# machine already uses (no container registry needed). The stand-in stays cached in
# $LOCALCHAT_STANDIN_DIR and in buildah's storage, and the last image stays tagged; untagged images
# (the builder stage, the previous build) are pruned, since vfs storage keeps every layer as a full
# copy. LOCALCHAT_SMOKE_PRUNE=1 removes the image and the stand-in too.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=localhost/localchat:smoke
STANDIN_IMAGE=localhost/bookworm-slim-standin
STANDIN_DIR=${LOCALCHAT_STANDIN_DIR:-/var/tmp/localchat-standin}
BUILD_JOBS=${LOCALCHAT_SMOKE_JOBS:-$(nproc)}
HEALTH_TIMEOUT=${LOCALCHAT_SMOKE_HEALTH_TIMEOUT:-240}
# SIGTERM to exit: the server's grace period (30 s by default) plus a margin; nothing is in flight.
STOP_TIMEOUT=45
HELPERS=scripts/docker_smoke_helpers.py
# pip inside the build trusts what this machine trusts (a TLS-inspecting proxy's CA included).
CA_BUNDLE=${LOCALCHAT_SMOKE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
SECRET_ARGS=()
[ -s "$CA_BUNDLE" ] && SECRET_ARGS=(--secret "id=ca_bundle,src=$CA_BUNDLE")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

started=$(date +%s)
log() { printf '[smoke %4ss] %s\n' "$(($(date +%s) - started))" "$*"; }
fail() {
    log "FAIL: $*"
    exit 1
}
human_size() { numfmt --to=si --suffix=B "$1"; }

cleanup_steps=()
cleanup() {
    local step
    for step in "${cleanup_steps[@]}"; do eval "$step" || true; done
}
trap cleanup EXIT

checks() {  # $1: how to print the server's log when a check fails
    local healthy_after
    healthy_after=$(python3 "$HELPERS" wait-healthy "$URL" "$HEALTH_TIMEOUT") || {
        eval "$1"
        fail "the container never became healthy"
    }
    log "healthy after ${healthy_after}s"
    TIME_TO_HEALTHY=$healthy_after
    python3 "$HELPERS" check-chat "$URL" || {
        eval "$1"
        fail "chat checks"
    }
}

# ---- docker ------------------------------------------------------------------------------------------

smoke_with_docker() {
    log "docker engine found: docker build"
    docker build "${SECRET_ARGS[@]}" --build-arg CMAKE_BUILD_PARALLEL_LEVEL="$BUILD_JOBS" -t "$IMAGE" . ||
        fail "docker build"
    IMAGE_BYTES=$(docker image inspect -f '{{.Size}}' "$IMAGE")
    local container
    # No volume given: /models is an anonymous, empty volume owned by the image's non-root user.
    container=$(docker run -d -p "127.0.0.1:$PORT:8000" "$IMAGE") || fail "docker run"
    cleanup_steps+=("docker rm -f -v $container >/dev/null")
    checks "docker logs $container"
    log "stopping (SIGTERM)"
    docker stop -t "$STOP_TIMEOUT" "$container" >/dev/null
    EXIT_CODE=$(docker inspect -f '{{.State.ExitCode}}' "$container")
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$container" 2>/dev/null)" != "" ] ||
        fail "the image has no HEALTHCHECK"
}

# ---- buildah -----------------------------------------------------------------------------------------

BUILDAH=(buildah --storage-driver vfs)

ensure_packages() {
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

make_standin() {
    if "${BUILDAH[@]}" inspect --type image "$STANDIN_IMAGE" >/dev/null 2>&1; then
        log "base stand-in $STANDIN_IMAGE is cached"
        return
    fi
    local mirror security rootfs="$STANDIN_DIR/rootfs"
    mirror=$(python3 "$HELPERS" mirror bookworm) || fail "no bookworm mirror in this machine's apt sources"
    if [ ! -f "$STANDIN_DIR/complete" ]; then
        log "debootstrap --variant=minbase bookworm from $mirror"
        rm -rf "$rootfs" && mkdir -p "$rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$STANDIN_DIR/debootstrap.log" 2>&1 ||
            fail "debootstrap (see $STANDIN_DIR/debootstrap.log)"
        {
            echo "deb $mirror bookworm main"
            echo "deb $mirror bookworm-updates main"
            if security=$(python3 "$HELPERS" mirror bookworm-security 2>/dev/null); then
                echo "deb $security bookworm-security main"
            fi
        } >"$rootfs/etc/apt/sources.list"
        # Like the slim image: no package cache, no lists, no docs.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/*
        touch "$STANDIN_DIR/complete"
    fi
    log "importing the stand-in as $STANDIN_IMAGE"
    local container mount
    container=$("${BUILDAH[@]}" from scratch)
    mount=$("${BUILDAH[@]}" mount "$container")
    tar -C "$rootfs" -cf - . | tar -C "$mount" -xf -
    "${BUILDAH[@]}" umount "$container" >/dev/null
    "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash "$container"
    "${BUILDAH[@]}" commit --quiet --format docker "$container" "$STANDIN_IMAGE" >/dev/null
    "${BUILDAH[@]}" rm "$container" >/dev/null
}

# The server, then its children: `buildah run` starts the command below itself.
server_pid() {
    local pid=$1 child
    for child in $(pgrep -P "$pid"); do
        if tr '\0' ' ' <"/proc/$child/cmdline" | grep -q 'localchat serve'; then
            echo "$child"
            return
        fi
        server_pid "$child" && return
    done
    return 1
}

smoke_with_buildah() {
    log "no docker engine: buildah (chroot isolation, vfs storage)"
    ensure_packages
    mkdir -p "$STANDIN_DIR"
    make_standin
    log "buildah bud (compiles llama.cpp with $BUILD_JOBS jobs)"
    cleanup_steps+=("${BUILDAH[*]} rmi --prune >/dev/null")
    local containers_before
    containers_before=$("${BUILDAH[@]}" containers --quiet)
    "${BUILDAH[@]}" bud --isolation chroot --format docker "${SECRET_ARGS[@]}" \
        --build-arg BASE_IMAGE="$STANDIN_IMAGE" \
        --build-arg CMAKE_BUILD_PARALLEL_LEVEL="$BUILD_JOBS" \
        -t "$IMAGE" . >"$STANDIN_DIR/build.log" 2>&1 || {
        tail -40 "$STANDIN_DIR/build.log"
        # A failed build leaves its working container behind: remove the ones it made.
        comm -13 <(sort <<<"$containers_before") <("${BUILDAH[@]}" containers --quiet | sort) |
            xargs -r "${BUILDAH[@]}" rm >/dev/null
        fail "buildah bud (log: $STANDIN_DIR/build.log)"
    }
    "${BUILDAH[@]}" inspect --type image --format '{{.Docker.Config.Healthcheck}}' "$IMAGE" | grep -q health ||
        fail "the image has no HEALTHCHECK"

    local container models run_log
    container=$("${BUILDAH[@]}" from --quiet "$IMAGE")
    cleanup_steps+=("${BUILDAH[*]} rm $container >/dev/null")
    # What `docker images` calls the size: the unpacked file system, all layers together.
    IMAGE_BYTES=$(du -sb "$("${BUILDAH[@]}" mount "$container")" | cut -f1)
    "${BUILDAH[@]}" umount "$container" >/dev/null
    # An empty models volume owned by the image's user (uid 10001), as a fresh named volume would be.
    models=$(mktemp -d /var/tmp/localchat-smoke-models.XXXXXX)
    chown 10001:10001 "$models"
    cleanup_steps+=("rm -rf $models")
    [ "$("${BUILDAH[@]}" run --isolation chroot "$container" -- id -u)" = 10001 ] ||
        fail "the image does not run as its non-root user"
    # chroot isolation shares this machine's network: the server's port is reachable as is.
    run_log=$(mktemp /var/tmp/localchat-smoke-run.XXXXXX)
    cleanup_steps+=("rm -f $run_log")
    "${BUILDAH[@]}" run --isolation chroot --env LOCALCHAT_PORT="$PORT" --volume "$models:/models" \
        "$container" -- /opt/localchat/entrypoint.sh >"$run_log" 2>&1 &
    local runner=$!
    cleanup_steps=("kill -KILL $runner 2>/dev/null" "${cleanup_steps[@]}")
    checks "tail -40 $run_log"
    local server
    server=$(server_pid "$runner") || fail "cannot find the server process"
    log "stopping (SIGTERM to the server, pid $server)"
    kill -TERM "$server"
    local waited=0
    while kill -0 "$runner" 2>/dev/null && [ "$waited" -lt "$STOP_TIMEOUT" ]; do
        sleep 1
        waited=$((waited + 1))
    done
    kill -0 "$runner" 2>/dev/null && fail "the server did not exit within ${STOP_TIMEOUT}s of SIGTERM"
    EXIT_CODE=0
    wait "$runner" || EXIT_CODE=$?
    [ "$EXIT_CODE" = 0 ] || tail -20 "$run_log"
    grep -q "localchat.access: .*path=/v1/chat/completions status=200" "$run_log" ||
        fail "no access log line for the chat completions"
    if [ "${LOCALCHAT_SMOKE_PRUNE:-0}" = 1 ]; then
        cleanup_steps+=("${BUILDAH[*]} rmi --all --force >/dev/null" "rm -rf $STANDIN_DIR")
    fi
}

# ---- main --------------------------------------------------------------------------------------------

TIME_TO_HEALTHY=""
IMAGE_BYTES=0
EXIT_CODE=""
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    smoke_with_docker
else
    smoke_with_buildah
fi
[ "$EXIT_CODE" = 0 ] || fail "the server exited with status $EXIT_CODE after SIGTERM (expected 0)"
log "the server exited with status 0 after SIGTERM"
log "image size:      $(human_size "$IMAGE_BYTES") ($IMAGE_BYTES bytes)"
log "time to healthy: ${TIME_TO_HEALTHY}s"
log "total time:      $(($(date +%s) - started))s"
log "docker smoke passed"
