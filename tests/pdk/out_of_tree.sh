#!/usr/bin/env bash
# out_of_tree.sh BUILD_DIR SOURCE_DIR CODEC_ROUNDTRIP
#
# Checks the PDK the way a plugin author uses it: installs the temblor build into a fresh
# prefix, builds examples/plugin-kv against ONLY that prefix (once with CMake and
# find_package(TemblorPDK), once with a bare compiler and pkg-config), inspects both
# libraries with the installed temblor binary, and runs the codec_roundtrip test on the
# CMake-built one.
#
# Environment: CC, the compiler to build the plugin with (the runtime's, so a sanitized
# runtime gets a matching plugin); TB_SANITIZE_FLAGS, e.g. "-fsanitize=address,undefined",
# added to the plugin's compile flags.
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR CODEC_ROUNDTRIP" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
roundtrip=$3
example="$source_dir/examples/plugin-kv"
cc=${CC:-cc}
san=${TB_SANITIZE_FLAGS:-}
# The example must build warning-free.
warn="-Wall -Wextra -Werror"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/temblor-pdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Nothing outside the fresh prefix may help: no inherited package paths.
unset CMAKE_PREFIX_PATH PKG_CONFIG_PATH TEMBLOR_PLUGIN_PATH || true

step "install $build_dir into $tmp"
cmake --install "$build_dir" --prefix "$tmp" >"$tmp/install.log" ||
    { cat "$tmp/install.log" >&2; fail "cmake --install"; }

step "the PDK files are installed"
[[ -f "$tmp/include/temblor/temblor.h" ]] || fail "no include/temblor/temblor.h"
shopt -s nullglob
pcs=("$tmp"/lib*/pkgconfig/temblor-pdk.pc)
configs=("$tmp"/lib*/cmake/TemblorPDK/TemblorPDKConfig.cmake)
shopt -u nullglob
[[ ${#pcs[@]} -eq 1 ]] || fail "expected one lib*/pkgconfig/temblor-pdk.pc, found ${#pcs[@]}"
[[ ${#configs[@]} -eq 1 ]] ||
    fail "expected one lib*/cmake/TemblorPDK/TemblorPDKConfig.cmake, found ${#configs[@]}"
[[ -x "$tmp/bin/temblor" ]] || fail "no bin/temblor"
echo "ok: ${pcs[0]#$tmp/} ${configs[0]#$tmp/}"

step "build examples/plugin-kv with CMake against $tmp"
cmake_args=(-S "$example" -B "$tmp/kv-build" -DCMAKE_PREFIX_PATH="$tmp"
            -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$warn $san"
            -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if command -v ninja >/dev/null 2>&1; then cmake_args+=(-G Ninja); fi
cmake "${cmake_args[@]}" >"$tmp/kv-configure.log" ||
    { cat "$tmp/kv-configure.log" >&2; fail "configuring the example"; }
# the package must have come from the fresh prefix, not from anywhere else
found=$(sed -n 's/^TemblorPDK_DIR:[A-Z]*=//p' "$tmp/kv-build/CMakeCache.txt")
[[ "$found" == "$tmp"/* ]] || fail "TemblorPDK found at '$found', not under $tmp"
cmake --build "$tmp/kv-build" --verbose >"$tmp/kv-build.log" 2>&1 ||
    { cat "$tmp/kv-build.log" >&2; fail "building the example with CMake"; }
grep -q -- "-I$tmp/include\|-isystem $tmp/include" "$tmp/kv-build.log" ||
    { cat "$tmp/kv-build.log" >&2; fail "the CMake build did not use $tmp/include"; }
kv_cmake="$tmp/kv-build/tb-codec-kv.so"
[[ -f "$kv_cmake" ]] || fail "no $kv_cmake"
echo "ok: $kv_cmake"

step "build kv.c with pkg-config against $tmp"
pc_dir=$(dirname "${pcs[0]}")
pc_cflags=$(PKG_CONFIG_PATH="$pc_dir" PKG_CONFIG_LIBDIR="$pc_dir" pkg-config --cflags temblor-pdk)
echo "pkg-config --cflags temblor-pdk: $pc_cflags"
[[ "$pc_cflags" == *"-I$tmp/"* ]] || fail "pkg-config points outside $tmp: $pc_cflags"
kv_pc="$tmp/kv-pc.so"
# shellcheck disable=SC2086 # the flags are words
"$cc" $warn $san $pc_cflags -shared -o "$kv_pc" "$example/kv.c"
echo "ok: $kv_pc"

step "the libraries export only tb_plugin_entry and need no runtime symbol"
for lib in "$kv_cmake" "$kv_pc"; do
    if command -v nm >/dev/null 2>&1; then
        exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ { print $3 }' |
                   grep -v '^_' | sort | tr '\n' ' ')
        [[ "$exported" == "tb_plugin_entry " ]] ||
            fail "$lib exports '$exported', expected only tb_plugin_entry"
        if nm -D --undefined-only "$lib" | grep -q ' tbr_'; then
            fail "$lib references runtime symbols: $(nm -D --undefined-only "$lib" | grep ' tbr_')"
        fi
    fi
done
echo "ok"

step "the installed temblor inspects both"
for lib in "$kv_cmake" "$kv_pc"; do
    out=$("$tmp/bin/temblor" plugin inspect "$lib") || fail "temblor plugin inspect $lib"
    echo "$out"
    grep -Eq '^plugin +kv 0\.1\.0$' <<<"$out" || fail "$lib: no 'plugin kv 0.1.0' line"
    grep -Eq '^unload-safe +yes$' <<<"$out" || fail "$lib: not unload-safe"
    grep -Eq '^codec kv: ' <<<"$out" || fail "$lib: no codec kv"
    grep -Eq '^ +separator +string +" " ' <<<"$out" || fail "$lib: no option separator"
    grep -Eq '^ +strict +bool +true ' <<<"$out" || fail "$lib: no option strict"
    json=$("$tmp/bin/temblor" plugin inspect "$lib" --json) ||
        fail "temblor plugin inspect --json $lib"
    grep -q '"kind": "codec"' <<<"$json" || fail "$lib: --json lacks the codec"
done

step "codec_roundtrip with $kv_cmake"
TB_KV_PLUGIN="$kv_cmake" "$roundtrip"

step "all PDK checks passed"
