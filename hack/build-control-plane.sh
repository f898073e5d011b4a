#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.20
# from Debian bookworm's `kubernetes` source package, and links Debian's etcd,
# into $1 (the cache directory). Run once per machine; the binaries are cached.
#
# Why from source: the network reaches only npm and Debian, and Debian ships no
# server binaries. Two Go 1.19 incompatibilities of this 1.20 tree are fixed:
# - the vendored modern-go/reflect2 v1.0.1 segfaults at the first request:
#   Debian's 1.0.2 replaces it;
# - the OpenAPI type validators decide "is this null?" with
#   reflect.DeepEqual(reflect.Zero(T), reflect.ValueOf(data)), which compares
#   reflect.Value internals; since Go 1.19 both point at the runtime's zeroVal
#   for "", so every empty string in a custom resource is refused as null.
#   Only a real nil is null there (as it was in practice before Go 1.19).
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

say "installing build dependencies (etcd-server, golang-go 1.19, reflect2 1.0.2, rsync, jq)"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  etcd-server golang-go golang-github-modern-go-reflect2-dev rsync jq dpkg-dev ca-certificates >/dev/null

say "fetching the kubernetes source package into $work"
cd "$work"
apt-get source -qq --download-only kubernetes >/dev/null
dpkg-source -x --skip-debianization kubernetes_*.dsc src >/dev/null 2>&1 || dpkg-source -x kubernetes_*.dsc src >/dev/null
cd src

say "replacing vendored github.com/modern-go/reflect2 with Debian's 1.0.2"
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2

say "patching the OpenAPI validators' null check (empty strings in custom resources)"
null_check='reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))'
for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
  grep -qF "data == nil || $null_check" "$f" || { say "expected null check not found in $f"; exit 1; }
  sed -i "s/data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))/data == nil/" "$f"
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
