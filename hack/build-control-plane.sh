#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.20
# from Debian bookworm's `kubernetes` source package, and links Debian's etcd,
# into $1 (the cache directory). Run once per machine; the binaries are cached.
#
# Why from source: the network reaches only npm and Debian, and Debian ships no
# server binaries. Why the library swaps: the vendored modern-go/reflect2 v1.0.1
# makes a Go 1.19 apiserver segfault at its first request, and the vendored
# json-iterator decodes "" as null in custom resources; Debian's reflect2 1.0.2
# and json-iterator 1.1.12 (released together for newer Go) fix both.
set -euo pipefail

dest=${1:?usage: build-control-plane.sh CACHE_DIR}
work=${BUILD_DIR:-$(mktemp -d /tmp/k8s-build.XXXXXX)}
say() { printf '[control-plane build] %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# deb-src entries derived from the machine's own deb822 source file, so the
# source comes from the same mirror/snapshot as the binaries.
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  src=/etc/apt/sources.list.d/debian.sources
  [ -f "$src" ] || { say "no $src to derive deb-src entries from"; exit 1; }
  say "adding deb-src entries derived from $src"
  sed 's/^Types: deb$/Types: deb-src/' "$src" | as_root tee /etc/apt/sources.list.d/finetune-deb-src.sources >/dev/null
fi

say "installing build dependencies (etcd-server, golang-go 1.19, reflect2 1.0.2, json-iterator 1.1.12, rsync, jq)"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  etcd-server golang-go golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev rsync jq dpkg-dev ca-certificates >/dev/null

say "fetching the kubernetes source package into $work"
cd "$work"
apt-get source -qq --download-only kubernetes >/dev/null
dpkg-source -x --skip-debianization kubernetes_*.dsc src >/dev/null 2>&1 || dpkg-source -x kubernetes_*.dsc src >/dev/null
cd src

say "vendored json-iterator: $(grep -A0 '^# github.com/json-iterator/go ' vendor/modules.txt || echo unknown)"
say "replacing vendored modern-go/reflect2 and json-iterator/go with Debian's 1.0.2 and 1.1.12"
for lib in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  rm -rf "vendor/$lib"
  cp -r "/usr/share/gocode/src/$lib" "vendor/$lib"
  find "vendor/$lib" -name '*_test.go' -delete
done

# debian/rules builds inside a GOPATH link: k8s.io/kubernetes must resolve to this tree.
mkdir -p "$work/gopath/src/k8s.io"
ln -sfn "$work/src" "$work/gopath/src/k8s.io/kubernetes"
cd "$work/gopath/src/k8s.io/kubernetes"

say "compiling (10-15 minutes on 2 cores; make prints each target as it goes)"
export GOPATH="$work/gopath" GO111MODULE=off GOFLAGS=-mod=vendor GOCACHE="$work/gocache" \
  KUBE_GIT_TREE_STATE=clean KUBE_GIT_VERSION=v1.20.5 KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubectl"

mkdir -p "$dest"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  install -m 0755 "_output/local/bin/linux/$(go env GOARCH)/$b" "$dest/$b"
done
ln -sf "$(command -v etcd || echo /usr/bin/etcd)" "$dest/etcd"
say "binaries cached in $dest"
rm -rf "$work"
