#!/usr/bin/env bash
# run_corpus.sh TEMBLOR CORPUS_DIR [CASE...]
#
# Each case is a directory with one program and its expectations:
#   script.tremor   the program: a script, or
#   query.trickle   a query, or
#   deploy.troy     a deployment: checked only (it must pass `temblor check` unless check.txt
#                   says how it fails), until the runtime runs deployments
#   in.json         input events, one JSON document per line (may be absent: no input)
#   out.json        the expected stdout: what is emitted, one line per event, exactly
#   err.txt         the expected stderr, exactly (runtime errors: the err port); absent: empty
#   check.txt       for programs that must not compile: the expected `temblor check` output
#                   on stderr, exactly (then out.json and err.txt are not used)
# Prints one line per failing case with a diff, then "N passed, M failed".
set -u
temblor=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
corpus=$(cd "$2" && pwd)
shift 2
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -gt 0 ]; then cases=("$@"); else cases=("$corpus"/*/); fi
for dir in "${cases[@]}"; do
    dir=${dir%/}
    name=$(basename "$dir")
    # a case may be named by its directory name alone
    [ -d "$dir" ] || [ ! -d "$corpus/$dir" ] || dir="$corpus/$dir"
    [ -d "$dir" ] || { echo "FAIL $name: no such case"; failed=$((failed + 1)); continue; }
    dir=$(cd "$dir" && pwd)
    program=$(ls "$dir"/script.tremor "$dir"/query.trickle "$dir"/deploy.troy 2>/dev/null | head -1)
    if [ -z "$program" ]; then
        echo "FAIL $name: no program (script.tremor, query.trickle or deploy.troy)"
        failed=$((failed + 1))
        continue
    fi
    # paths in messages are relative to the corpus, so expectations do not depend on where
    # the tree is checked out
    rel=${program#"$corpus"/}
    if [ -f "$dir/check.txt" ]; then
        (cd "$corpus" && "$temblor" check "$rel") >"$tmp/out" 2>"$tmp/err"
        status=$?
        if [ "$status" -eq 0 ]; then
            echo "FAIL $name: expected a compile error, but check passed"
            failed=$((failed + 1))
        elif ! diff -u "$dir/check.txt" "$tmp/err" >"$tmp/diff"; then
            echo "FAIL $name: compile error differs"
            sed 's/^/    /' "$tmp/diff"
            failed=$((failed + 1))
        else
            passed=$((passed + 1))
        fi
        continue
    fi
    if [ "${program##*.}" = troy ]; then
        if (cd "$corpus" && "$temblor" check "$rel") >"$tmp/out" 2>"$tmp/err"; then
            passed=$((passed + 1))
        else
            echo "FAIL $name: check failed"
            sed 's/^/    /' "$tmp/err" | head -20
            failed=$((failed + 1))
        fi
        continue
    fi
    input="$dir/in.json"
    [ -f "$input" ] || input=/dev/null
    (cd "$corpus" && "$temblor" run "$rel") <"$input" >"$tmp/out" 2>"$tmp/err"
    status=$?
    ok=true
    if [ "$status" -ne 0 ]; then
        echo "FAIL $name: exited $status"
        sed 's/^/    /' "$tmp/err" | head -20
        ok=false
    fi
    expected_out="$dir/out.json"
    [ -f "$expected_out" ] || expected_out=/dev/null
    if $ok && ! diff -u "$expected_out" "$tmp/out" >"$tmp/diff"; then
        echo "FAIL $name: output differs"
        sed 's/^/    /' "$tmp/diff" | head -40
        ok=false
    fi
    expected_err="$dir/err.txt"
    [ -f "$expected_err" ] || expected_err=/dev/null
    if $ok && ! diff -u "$expected_err" "$tmp/err" >"$tmp/diff"; then
        echo "FAIL $name: errors differ"
        sed 's/^/    /' "$tmp/diff" | head -40
        ok=false
    fi
    if $ok; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
