#!/usr/bin/env bash
# Host packages for the real-node e2e tier (tests/e2e/node): container runtime, CNI plugins,
# the netfilter tools kubelet/kube-proxy call, and the image builder. Debian's packages only.
# Idempotent: when everything is installed it returns at once (no apt-get update).
#
#   hack/node-packages.sh          (needs root; `make e2e-node` / `make test` call it)
set -euo pipefail

PKGS=(containerd runc containernetworking-plugins iptables nftables conntrack socat ebtables
      ethtool ipset debootstrap buildah fuse-overlayfs iproute2 gcc libc6-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[[ ${#missing[@]} == 0 ]] && exit 0
if [[ $(id -u) != 0 ]]; then
  echo "node-packages: missing ${missing[*]} and not root (apt-get install them)" >&2
  exit 1
fi
echo "node-packages: installing ${missing[*]}" >&2
t0=$SECONDS
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: containerd/buildah recommend a docker-ish stack we do not use.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "node-packages: installed in $((SECONDS - t0)) s" >&2
