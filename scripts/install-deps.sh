#!/usr/bin/env bash
# install-deps.sh - installs what temblor needs to build and test (scripts/packages.txt),
# from Debian's packages, through sudo when not root. With --bench, also what only the
# benchmarks need (scripts/bench-packages.txt).
set -euo pipefail
cd "$(dirname "$0")"
lists=(packages.txt)
# --bench: also what only the benchmarks need (scripts/bench-packages.txt)
if [ "${1:-}" = "--bench" ]; then lists+=(bench-packages.txt); fi
mapfile -t packages < <(sed 's/#.*//' "${lists[@]}" | tr -s ' \t' '\n' | grep -v '^$')
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
