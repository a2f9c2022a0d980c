# checks.sh - the counting helpers the end-to-end scripts share; sourced, not run.
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
    local what=$1
    shift
    if "$@"; then ok; else bad "$what"; fi
}
# show FILE [LINES]: the start of FILE, indented under a failure.
show() { sed 's/^/  | /' "$1" | head -"${2:-15}"; }
# wait_for SECONDS COMMAND...: polls every 0.2 s until the command succeeds; fails after SECONDS.
wait_for() {
    local until=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge $until ] && return 1
        sleep 0.2
    done
}
# nonempty FILE: the file exists and has bytes.
nonempty() { [ -s "$1" ]; }
