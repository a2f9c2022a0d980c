#!/usr/bin/env bash
# install-deps.sh - installs what temblor needs to build and test, from Debian's packages.
set -euo pipefail
packages=(
    build-essential cmake ninja-build pkg-config clang  # toolchains: gcc and clang
    libclang-rt-14-dev                                  # clang sanitizer and libFuzzer runtimes
    libcmocka-dev                                       # unit tests
    libpcre2-dev                                        # the language's regular expressions
    liblzma-dev                                         # xz: the benchmark data, compression
    zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev     # the compress/decompress processors
    libyaml-dev                                         # the yaml codec
    python3                                             # end-to-end tests read JSON output
)
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
