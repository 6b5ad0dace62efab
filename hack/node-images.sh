#!/usr/bin/env bash
# Images for the real-node e2e tier (tests/e2e/node), built without Docker or a registry.
#
#   hack/node-images.sh build [base|python|pause|operator|runtime|all]...   (default: all)
#   hack/node-images.sh import ADDRESS        load the built images into the containerd at ADDRESS
#   hack/node-images.sh hash NAME             print the input hash of operator|runtime
#
# base     `debootstrap --variant=minbase bookworm` -> a buildah image (tfflink-e2e/bookworm-minbase)
# python   a stand-in for python:3.11-slim-bookworm (Debian's python3 3.11 + venv + pip) FROM base,
#          tagged docker.io/library/python:3.11-slim-bookworm, so the project's Dockerfiles build
#          unchanged with --pull=never. The host's CA bundle (HTTPS here goes through a proxy CA)
#          is put into it at build time (never into the repository), with /etc/pip.conf naming it
#          and a wheelhouse dir (see below) as pip's find-links.
# pause    the sandbox image: .tools/bin/pause (hack/build-tools.sh node) in a scratch image.
# operator images/operator/Dockerfile -> tfflink/operator:0.1.0
# runtime  images/runtime/Dockerfile  -> tfflink/runtime:0.1.0
#
# Caching: operator/runtime are rebuilt only when their input hash changes (the Dockerfile, the
# files it COPYs as filtered by .dockerignore, and the base image's id); builds use buildah's
# layer cache (--layers) and a host wheelhouse (.tools/images/wheels, filled with `pip download`
# of requirements.lock once, mounted into RUN steps) so a source change re-runs pip from local
# wheels. Each image is kept as a docker-archive under .tools/images (gitignored) with its hash;
# `import` skips an image whose containerd copy carries the same hash label.
# TFFLINK_NODE_IMAGES=keep uses the images already built even when their inputs changed (to
# iterate on tests quickly; the images then lag the source).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TFFLINK_TOOLS_DIR:-$ROOT/.tools}
IMG=$TOOLS_DIR/images
WHEELS=$IMG/wheels
mkdir -p "$IMG"
# One run at a time per images dir: `make node-prep` and the node tier's fixture both build
# here, and a second build's `rm -rf` of the rootfs under a running debootstrap breaks both.
exec {IMG_LOCK}>"$IMG/.lock"
flock "$IMG_LOCK"
TAG=${IMAGE_TAG:-0.1.0}
BASE=localhost/tfflink-e2e/bookworm-minbase:latest
PYIMG=docker.io/library/python:3.11-slim-bookworm
PAUSE=registry.k8s.io/pause:3.10
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA=${TFFLINK_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
NICE=(nice -n 19)
BUD=(buildah bud --layers --pull=never --network host --isolation chroot --format docker)

log() { printf '[node-images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
timed() {  # timed NAME cmd...
  local name=$1; shift
  local t0=$SECONDS
  "$@" || return $?
  log "$name done in $((SECONDS - t0)) s"
  echo "image-$name $((SECONDS - t0))" >>"$TOOLS_DIR/build-times.txt"
}
image_id() { buildah images --noheading --no-trunc --format '{{.ID}}' "$1" 2>/dev/null | head -1; }

build_base() {
  [[ -n $(image_id "$BASE") ]] && return 0
  log "debootstrap --variant=minbase bookworm ($MIRROR)"
  local rootfs=$IMG/rootfs-bookworm
  rm -rf "$rootfs"
  timed debootstrap "${NICE[@]}" debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$IMG/debootstrap.log" 2>&1 ||
    { tail -20 "$IMG/debootstrap.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  local c
  c=$(buildah from scratch)
  tar -C "$rootfs" -cf "$IMG/bookworm-minbase.tar" .
  buildah add "$c" "$IMG/bookworm-minbase.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$c"
  buildah commit --rm "$c" "$BASE" >/dev/null
  rm -rf "$rootfs" "$IMG/bookworm-minbase.tar"
}

build_python() {
  build_base
  local want have
  want="$(image_id "$BASE") $(sha256sum <"$CA" | cut -c1-16) v2"
  have=$(cat "$IMG/python.inputs" 2>/dev/null || true)
  [[ -n $(image_id "$PYIMG") && $want == "$have" ]] && return 0
  log "building the $PYIMG stand-in"
  local ctx
  ctx=$(mktemp -d)
  cp "$CA" "$ctx/ca-certificates.crt"
  cat >"$ctx/Containerfile" <<EOF
FROM $BASE
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip python-is-python3 ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\nfind-links = /opt/tfflink-e2e-wheels\n' >/etc/pip.conf \\
 && mkdir -p /opt/tfflink-e2e-wheels
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
EOF
  timed python "${NICE[@]}" "${BUD[@]}" -t "$PYIMG" -f "$ctx/Containerfile" "$ctx" >"$IMG/python.log" 2>&1 ||
    { tail -30 "$IMG/python.log" >&2; rm -rf "$ctx"; exit 1; }
  rm -rf "$ctx"
  echo "$want" >"$IMG/python.inputs"
}

build_pause() {
  local bin=$TOOLS_DIR/bin/pause
  [[ -x $bin ]] || "$ROOT/hack/build-tools.sh" pause >/dev/null
  local want
  want=$(sha256sum <"$bin" | cut -c1-16)
  [[ -f $IMG/pause.tar && $(cat "$IMG/pause.hash" 2>/dev/null) == "$want" ]] && return 0
  log "building $PAUSE"
  local c
  c=$(buildah from scratch)
  buildah copy "$c" "$bin" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  buildah commit --rm "$c" "$PAUSE" >/dev/null
  rm -f "$IMG/pause.tar"
  buildah push "$PAUSE" "docker-archive:$IMG/pause.tar:$PAUSE" >/dev/null
  echo "$want" >"$IMG/pause.hash"
}

# The inputs of images/NAME/Dockerfile: the Dockerfile, what it COPYs (.dockerignore's filter),
# the base image's id and the wheelhouse's listing.
input_hash() {
  local name=$1 paths=(pyproject.toml requirements.lock README.md operator)
  [[ $name == runtime ]] && paths+=(examples)
  {
    echo "$(image_id "$PYIMG")"
    (cd "$ROOT" && find "images/$name/Dockerfile" .dockerignore "${paths[@]}" -type f \
        ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path 'operator/*.egg-info/*' -print0 |
      sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-16
}

fill_wheelhouse() {
  # Every distribution the two images install, resolved by pip in the python stand-in itself (its
  # Python is 3.11.2: markers such as python_full_version < "3.11.3" differ from the host's), plus
  # pip, setuptools and wheel (build isolation). When that worked, the builds get a pip.conf with
  # no-index (mounted at /etc/xdg/pip, read before /etc/pip.conf), so a rebuild downloads nothing:
  # pip would otherwise take the index's copy over find-links' for the same version.
  local want
  want="$(cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16) $(image_id "$PYIMG") v3"
  [[ $(cat "$WHEELS/.lock-hash" 2>/dev/null) == "$want" ]] && return 0
  log "filling the wheelhouse (pip download in the $PYIMG stand-in)"
  mkdir -p "$WHEELS"
  rm -rf "$IMG/pipconf"
  local c ok=1
  c=$(buildah from --pull=never "$PYIMG")
  if ! timed wheelhouse "${NICE[@]}" buildah run --network host --isolation chroot \
      -v "$WHEELS:/opt/tfflink-e2e-wheels" -v "$ROOT:/src:ro" "$c" -- sh -c \
      'mkdir -p /tmp/src && cd /src && cp -r pyproject.toml requirements.lock README.md operator /tmp/src/ &&
       rm -rf /tmp/src/operator/*.egg-info && cd /tmp && python -m venv /tmp/v &&
       /tmp/v/bin/pip download -q -d /opt/tfflink-e2e-wheels pip "setuptools>=68" wheel &&
       /tmp/v/bin/pip download -q -d /opt/tfflink-e2e-wheels -c /tmp/src/requirements.lock "/tmp/src[runtime]" "/tmp/src[operator]"' \
      >"$IMG/wheels.log" 2>&1; then
    ok=0
    log "wheelhouse incomplete (see $IMG/wheels.log); the builds use the package index"
  fi
  buildah rm "$c" >/dev/null
  rm -f "$WHEELS"/tfflink-*
  log "wheelhouse: $(find "$WHEELS" -name '*.whl' | wc -l) wheels, $(find "$WHEELS" -name '*.tar.gz' | wc -l) sdists"
  if [[ $ok == 1 ]]; then
    mkdir -p "$IMG/pipconf"
    printf '[global]\nno-index = true\nfind-links = /opt/tfflink-e2e-wheels\n' >"$IMG/pipconf/pip.conf"
  fi
  echo "$want" >"$WHEELS/.lock-hash"
}

build_project_image() {
  local name=$1 ref=tfflink/$1:$TAG
  build_python
  fill_wheelhouse
  local want
  want=$(input_hash "$name")
  if [[ -f $IMG/$name.tar && $(cat "$IMG/$name.hash" 2>/dev/null) == "$want" && -n $(image_id "$ref") ]]; then
    return 0
  fi
  if [[ ${TFFLINK_NODE_IMAGES:-} == keep && -f $IMG/$name.tar ]]; then
    log "TFFLINK_NODE_IMAGES=keep: using the existing $ref although its inputs changed"
    return 0
  fi
  log "building $ref (inputs $want)"
  local vols=(-v "$WHEELS:/opt/tfflink-e2e-wheels:ro")
  [[ -f $IMG/pipconf/pip.conf ]] && vols+=(-v "$IMG/pipconf:/etc/xdg/pip:ro")
  if ! timed "$name" "${NICE[@]}" "${BUD[@]}" "${vols[@]}" \
      --build-arg "TFFLINK_VERSION=$TAG" -f "images/$name/Dockerfile" -t "$ref" "$ROOT" >"$IMG/$name.log" 2>&1; then
    [[ ${#vols[@]} -gt 2 ]] || { tail -40 "$IMG/$name.log" >&2; exit 1; }
    log "$ref: the build from the wheelhouse failed (tail of $IMG/$name.log below); again with the package index"
    tail -5 "$IMG/$name.log" >&2
    rm -rf "$IMG/pipconf"
    timed "$name" "${NICE[@]}" "${BUD[@]}" -v "$WHEELS:/opt/tfflink-e2e-wheels:ro" \
      --build-arg "TFFLINK_VERSION=$TAG" -f "images/$name/Dockerfile" -t "$ref" "$ROOT" >"$IMG/$name.log" 2>&1 ||
      { tail -40 "$IMG/$name.log" >&2; exit 1; }
  fi
  rm -f "$IMG/$name.tar" "$IMG/$name.hash"
  timed "$name-archive" buildah push "$ref" "docker-archive:$IMG/$name.tar:docker.io/$ref" >/dev/null
  echo "$want" >"$IMG/$name.hash"
  buildah rmi --prune >/dev/null 2>&1 || true
}

import_all() {
  local addr=$1 name ref hash cur
  for name in pause operator runtime; do
    case $name in
      pause) ref=$PAUSE ;;
      *) ref=docker.io/tfflink/$name:$TAG ;;
    esac
    [[ -f $IMG/$name.tar ]] || { echo "node-images: $IMG/$name.tar missing (run: $0 build)" >&2; exit 1; }
    hash=$(cat "$IMG/$name.hash")
    cur=$(ctr -a "$addr" -n k8s.io images ls "name==$ref" 2>/dev/null | awk 'NR>1{print $NF}' |
      tr ',' '\n' | sed -n 's/^tfflink.dev\/input-hash=//p')
    [[ $cur == "$hash" ]] && continue
    # drop every ref of the old version (its tags and CRI's sha256:<id> ref) so containerd can
    # collect its content instead of keeping one runtime image per rebuild
    local old
    old=$(ctr -a "$addr" -n k8s.io images ls "name==$ref" 2>/dev/null | awk 'NR>1{print $3}')
    if [[ -n $old ]]; then
      ctr -a "$addr" -n k8s.io images ls 2>/dev/null | awk -v d="$old" 'NR>1 && $3==d {print $1}' |
        xargs -r ctr -a "$addr" -n k8s.io images rm >/dev/null 2>&1 || true
    fi
    log "importing $ref into containerd ($addr)"
    timed "$name-import" "${NICE[@]}" ctr -a "$addr" -n k8s.io images import --no-unpack=false "$IMG/$name.tar" >/dev/null
    ctr -a "$addr" -n k8s.io images label "$ref" "tfflink.dev/input-hash=$hash" >/dev/null
  done
}

cmd=${1:-build}; shift || true
case $cmd in
  build)
    [[ $# == 0 ]] && set -- all
    for t in "$@"; do
      case $t in
        base) build_base ;;
        python) build_python ;;
        pause) build_pause ;;
        operator|runtime) build_project_image "$t" ;;
        all) build_pause; build_project_image operator; build_project_image runtime ;;
        *) echo "unknown image: $t (base|python|pause|operator|runtime|all)" >&2; exit 2 ;;
      esac
    done ;;
  import) import_all "${1:?containerd address}" ;;
  hash) build_python >/dev/null; input_hash "${1:?operator|runtime}" ;;
  *) echo "usage: $0 build [base|python|pause|operator|runtime|all]... | import ADDRESS | hash NAME" >&2; exit 2 ;;
esac
