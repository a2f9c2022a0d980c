#!/usr/bin/env bash
# check.sh - builds temblor and runs the whole test suite three ways, warnings as errors:
#   1. gcc, optimised (build/check)
#   2. clang with AddressSanitizer and UndefinedBehaviorSanitizer (build/check-asan)
#   3. clang with ThreadSanitizer, on the threaded tests (build/check-tsan)
#   4. gcc with every bundled plugin linked statically, end-to-end tests (build/check-static)
#   5. the parser fuzz target (clang, libFuzzer, ASan+UBSan), for a bounded time
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s ===\n' "$*"; }

step "gcc build and tests"
cmake -S . -B build/check -G Ninja -DCMAKE_C_COMPILER=gcc -DTEMBLOR_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build/check -j "$jobs"
ctest --test-dir build/check --output-on-failure -j "$jobs"

step "clang ASan+UBSan build and tests"
cmake -S . -B build/check-asan -G Ninja -DCMAKE_C_COMPILER=clang -DTEMBLOR_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug -DTEMBLOR_SANITIZE=address,undefined
cmake --build build/check-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/check-asan --output-on-failure -j "$jobs"

step "clang TSan build, threaded tests"
cmake -S . -B build/check-tsan -G Ninja -DCMAKE_C_COMPILER=clang -DTEMBLOR_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug -DTEMBLOR_SANITIZE=thread
cmake --build build/check-tsan -j "$jobs"
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/check-tsan --output-on-failure -L threaded

step "gcc build with static plugins, end-to-end tests"
cmake -S . -B build/check-static -G Ninja -DCMAKE_C_COMPILER=gcc -DTEMBLOR_WERROR=ON \
    -DTEMBLOR_STATIC_PLUGINS=all
cmake --build build/check-static -j "$jobs"
build/check-static/temblor plugin list | grep -Eq '^string .* \(static\)$' ||
    { echo "the static build does not report the string codec as static" >&2; exit 1; }
# (reloading replaces, and signatures cover, libraries loaded from disk: not this build's
# linked-in plugins)
ctest --test-dir build/check-static --output-on-failure -R 'e2e|pdk' -E 'e2e_reload|e2e_signatures'

step "fuzz the script parser for ${TEMBLOR_FUZZ_SECONDS:-60} seconds"
cmake -S . -B build/check-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DTEMBLOR_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug -DTEMBLOR_SANITIZE=address,undefined -DTEMBLOR_FUZZ=ON
cmake --build build/check-fuzz -j "$jobs" --target fuzz_script
mkdir -p build/check-fuzz/corpus
for f in tests/language/*/*.tremor tests/language/*/*.trickle tests/language/*/*.troy; do
    cp "$f" "build/check-fuzz/corpus/$(basename "$(dirname "$f")").${f##*.}"
done
# inputs that once crashed the parser (tests/fuzz/regressions, one file per fixed bug, named for
# it) run first, every time
build/check-fuzz/tests/fuzz/fuzz_script tests/fuzz/regressions/*
build/check-fuzz/tests/fuzz/fuzz_script -max_total_time="${TEMBLOR_FUZZ_SECONDS:-60}" -max_len=4096 \
    -timeout=10 -rss_limit_mb=2048 build/check-fuzz/corpus

step "all checks passed"
