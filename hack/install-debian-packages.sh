#!/usr/bin/env bash
# Installs the Debian packages the project needs at run time and in its tests,
# when they are missing. `npm start` and `npm test` call it first; on a machine
# that has them it only asks dpkg (a few milliseconds) and prints nothing.
#
#   dataset-fashion-mnist   the quickstart's dataset, the tests' and the benchmarks'
#                           (/usr/share/datasets/fashion-mnist, IDX files)
#   lua5.4                  runs the Argo CD health check (deploy/argocd) in the tests
#   prometheus              promtool checks and tests the chart's alerts in the tests
#                           (apt brings its dependencies, e.g. fonts-glyphicons-halflings)
# With the argument `tests` (npm test), also:
#   ceph-mon ceph-osd       a one-node Ceph cluster, and radosgw, its S3 gateway: the real S3
#   radosgw                 server the object-storage tests run against (69 MB, ~20 s, once)
#   chromium                a real headless browser: the tests render each job's report.html
#                           and screenshot it; scripts/screenshots.ts makes the README's pictures
#
# The control plane's build dependencies are installed by build-control-plane.sh.
# Needs root or password-less sudo to install; otherwise it names the command.
set -euo pipefail

packages=(dataset-fashion-mnist lua5.4 prometheus)
[ "${1:-}" = tests ] && packages+=(ceph-mon ceph-osd radosgw chromium)

find_missing() {
  missing=()
  for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
  done
}
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0

# One install at a time (two test runs started together): the second waits, then finds them installed.
exec 9>"${TMPDIR:-/tmp}/finetune-operator-debian-packages.lock"
flock 9
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0

say() { printf '[debian packages] %s\n' "$*" >&2; }
# Wait for another apt or dpkg (unattended-upgrades on a new machine, a second test run) rather than fail.
wait_lock=(-o DPkg::Lock::Timeout=300)
command=(apt-get "${wait_lock[@]}" install -y -qq --no-install-recommends "${missing[@]}")
if ! command -v apt-get >/dev/null; then
  say "missing: ${missing[*]}, and this machine has no apt-get: install them with your package manager (the project expects Debian bookworm)"
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  say "missing: ${missing[*]}; installing needs root. Run: sudo apt-get update && sudo apt-get install ${missing[*]}"
  exit 1
fi

say "installing ${missing[*]} (once per machine)"
# The package lists' lock has no timeout option: another apt (say, unattended-upgrades) is waited out here.
for try in $(seq 1 60); do
  "${as_root[@]}" apt-get "${wait_lock[@]}" update -qq && break
  [ "$try" -lt 60 ] || { say "apt-get update kept failing"; exit 1; }
  sleep 5
done
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "${command[@]}" >/dev/null
say "installed ${missing[*]}"
