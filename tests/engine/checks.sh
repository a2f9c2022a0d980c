# checks.sh - the counting helpers the end-to-end scripts share; sourced, not run.
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
    echo "FAIL: $*"
    failed=$((failed + 1))
    return 1 # so `check ... || show FILE` shows what failed
}
# check DESCRIPTION COMMAND...: the command must succeed; returns its success.
check() {
    local what=$1
    shift
    if "$@"; then ok; else bad "$what"; fi
}
# show FILE [LINES]: the start of FILE, indented under a failure.
show() { sed 's/^/  | /' "$1" | head -"${2:-15}"; }
# wait_for SECONDS COMMAND...: polls every 0.05 s until the command succeeds; fails after SECONDS.
wait_for() {
    local until=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge $until ] && return 1
        sleep 0.05
    done
}
# in_scratch_dir: makes a scratch directory ($work) and moves into it. On exit, every process
# whose pid the script added to the array pids is killed, and the directory removed.
pids=()
in_scratch_dir() {
    work=$(mktemp -d)
    trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
    cd "$work" || exit 1
}
# $py: the system's python3, which sees Debian's packages (pyenv's shims do not)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
# logged_port FILE: the port a server logged in FILE it listens on ("listening on
# [http[s]://]127.0.0.1:PORT"), the first one; has_port FILE: whether there is one yet.
logged_port() { sed -n 's/.*listening on \(https\?:\/\/\)\?127\.0\.0\.1:\([0-9]*\).*/\2/p' "$1" 2>/dev/null | head -1; }
has_port() { [ -n "$(logged_port "$1")" ]; }
# nonempty FILE: the file exists and has bytes.
nonempty() { [ -s "$1" ]; }
