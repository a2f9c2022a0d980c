#!/usr/bin/env bash
# install-deps.sh - installs what temblor needs to build and test (scripts/packages.txt),
# from Debian's packages, through sudo when not root.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t packages < <(sed 's/#.*//' packages.txt | tr -s ' \t' '\n' | grep -v '^$')
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
