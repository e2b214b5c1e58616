#!/usr/bin/env bash
# Build the lumbarqi MAP container image with podman (or docker) from this repository.
#
#   scripts/build_image.sh [--tag IMAGE:TAG] [--base IMAGE] [--local-base] [--engine podman|docker]
#
# --local-base  build FROM localhost/lumbarqi-base, made here with debootstrap when it
#               is not there yet (for machines that reach no container registry).
# Without it the Dockerfile's default base (python:3.11-slim-bookworm) is pulled.
#
# What the script does, in order:
#  1. stages a small build context (Dockerfile, app/, operators/, lumbarqi/, models/,
#     pyproject.toml, app.yaml, xnat/command.json) so the 2+ GB .venv never reaches the engine;
#  2. turns xnat/command.json into the one-line JSON list carried by the
#     org.nrg.commands label (build argument NRG_COMMANDS);
#  3. with podman: writes a containers.conf (no default ulimits, cgroupfs, runc) and
#     passes it in CONTAINERS_CONF; builds with --network host, the host's CA
#     certificate folder and pip find-links folder mounted read-only, and
#     PIP_FIND_LINKS, so torch==2.13.0 resolves to the CPU wheel on disk.
# Prints "image: NAME", "size_bytes: N" and "build_seconds: S" at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/lumbarqi/__init__.py")"
TAG="lumbarqi/lumbarqi:${VERSION}"
ENGINE="${LUMBARQI_ENGINE:-podman}"
BASE=""
LOCAL_BASE=0
LOCAL_BASE_NAME="localhost/lumbarqi-base"
PY="${PYTHON:-python3}"

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift 2 ;;
    --base) BASE="$2"; shift 2 ;;
    --local-base) LOCAL_BASE=1; shift ;;
    --engine) ENGINE="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build_image.sh: error: unknown option $1" >&2; exit 2 ;;
  esac
done

command -v "$ENGINE" >/dev/null || { echo "build_image.sh: error: $ENGINE is not installed (Debian: apt-get install podman runc)" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lumbarqi-build.XXXXXX")"
cleanup() { rm -rf "$WORK" 2>/dev/null || true; }
trap cleanup EXIT

# --- podman configuration that works on hosts where rlimits cannot be set ----------------
if [ "$ENGINE" = podman ]; then
  if [ -z "${CONTAINERS_CONF:-}" ]; then
    cat > "$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
EOF
    export CONTAINERS_CONF="$WORK/containers.conf"
  fi
fi

# --- local base image (debootstrap), cached as localhost/lumbarqi-base --------------------
if [ "$LOCAL_BASE" = 1 ]; then
  BASE="${BASE:-$LOCAL_BASE_NAME}"
  if ! "$ENGINE" image exists "$LOCAL_BASE_NAME" 2>/dev/null; then
    command -v debootstrap >/dev/null || { echo "build_image.sh: error: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }
    [ "$(id -u)" = 0 ] || { echo "build_image.sh: error: debootstrap needs root" >&2; exit 2; }
    MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    echo "building base image $LOCAL_BASE_NAME with debootstrap from $MIRROR (about a minute)"
    t0=$(date +%s)
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log" >&2; echo "build_image.sh: error: debootstrap failed" >&2; exit 1; }
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    tar -C "$WORK/rootfs" -c . | "$ENGINE" import - "$LOCAL_BASE_NAME" >/dev/null
    rm -rf "$WORK/rootfs"
    echo "base image built in $(( $(date +%s) - t0 )) s"
  fi
fi

# --- build context -------------------------------------------------------------------------
CTX="$WORK/context"
mkdir -p "$CTX/xnat"
cp "$ROOT/Dockerfile" "$ROOT/pyproject.toml" "$ROOT/app.yaml" "$CTX/"
cp "$ROOT/xnat/command.json" "$CTX/xnat/"
for d in app operators lumbarqi models; do
  if [ -d "$ROOT/$d" ]; then
    (cd "$ROOT" && tar -c --exclude='__pycache__' --exclude='*.pyc' --exclude='*.egg-info' "$d") | tar -C "$CTX" -x
  else
    mkdir -p "$CTX/$d"
  fi
done
NRG_COMMANDS="$("$PY" -c 'import json,sys; print(json.dumps([json.load(open(sys.argv[1]))], separators=(",", ":")))' "$ROOT/xnat/command.json")"

ARGS=(build -t "$TAG" --build-arg "NRG_COMMANDS=$NRG_COMMANDS" --build-arg "LUMBARQI_VERSION=$VERSION")
[ -n "$BASE" ] && ARGS+=(--build-arg "BASE_IMAGE=$BASE")
ARGS+=(--network host)

# The host's pip settings: CA certificate (for a TLS-intercepting proxy) and find-links
# (where the CPU torch wheel lies). Both are mounted read-only at the same path.
pip_setting() { "$PY" -m pip config list 2>/dev/null | sed -n "s/^[^.]*\.$1='\(.*\)'$/\1/p" | head -1; }
CERT="$(pip_setting cert || true)"
FIND_LINKS="${PIP_FIND_LINKS:-$(pip_setting find-links || true)}"
# (docker build has no --volume: there the public indexes are used as they are.)
if [ "$ENGINE" = podman ] && [ -n "$CERT" ] && [ -e "$CERT" ]; then
  CERT_DIR="$(dirname "$CERT")"
  ARGS+=(--volume "$CERT_DIR:$CERT_DIR:ro" --build-arg "PIP_CERT=$CERT")
fi
if [ "$ENGINE" = podman ] && [ -n "$FIND_LINKS" ] && [ -d "$FIND_LINKS" ]; then
  ARGS+=(--volume "$FIND_LINKS:$FIND_LINKS:ro" --build-arg "PIP_FIND_LINKS=$FIND_LINKS")
fi
ARGS+=("$CTX")

echo "building $TAG with $ENGINE (base: ${BASE:-python:3.11-slim-bookworm})"
t0=$(date +%s)
if ! "$ENGINE" "${ARGS[@]}" > "$WORK/build.log" 2>&1; then
  tail -40 "$WORK/build.log" >&2
  echo "build_image.sh: error: image build failed (log above)" >&2
  exit 1
fi
t1=$(date +%s)
SIZE="$("$ENGINE" image inspect "$TAG" --format '{{.Size}}')"
echo "image: $TAG"
echo "size_bytes: $SIZE"
echo "build_seconds: $(( t1 - t0 ))"
