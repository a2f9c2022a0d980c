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
