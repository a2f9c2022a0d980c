#!/usr/bin/env bash
# sandboxed.sh - the sandbox of the isolated tier, seen from a plugin, with the real binary. The
# probe operator (sandbox_probe.c) runs with isolation = "process" and tries what each event
# asks: read or write a file, open a socket, connect to a port, run a shell. Its reports in
# out.jsonl prove:
#  - nothing granted: reading and writing in the scratch directory are denied (EACCES), a socket
#    is denied (EACCES), a shell is denied (EPERM); requests the probe cannot read are answered,
#    not crashed on; and the runtime is unaffected: the run exits 0, every event gives exactly
#    one report, the plugin host never fails, and another pipeline of the same flow gets every
#    event;
#  - the runtime warns that the plugin declares permissions that are not granted;
#  - granted (in configuration) fs-read of A, fs-write of B, process and net-connect to a port a
#    listener serves: reading in A and in B (write implies read) is allowed, reading in C is
#    denied, writing in A is denied, writing in B works (the file holds the line), the shell
#    runs, the granted port connects and another listening port is denied (where Landlock has
#    network rules, ABI 4 and later; else SKIP);
#  - granted on the command line (--isolate, --grant PLUGIN=fs-read:C): reading in C is allowed,
#    reading in A is denied.
# The file-system and port checks need Landlock. Without it, `--sandbox require` (the default)
# must refuse the plugin host naming Landlock; the rest then runs under `--sandbox degrade`, the
# file-system checks are skipped (SKIP) and the seccomp ones (socket, shell) must still pass. The
# kernel's Landlock ABI is also asked directly, so a sandbox that stops applying Landlock where
# the kernel has it fails here instead of being skipped.
# usage: sandboxed.sh TEMBLOR_BINARY PROBE_PLUGIN_DIR SOURCE_DIR
set -u
temblor=$1
probe_dir=$2
src=$3
# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

EPERM=1
EACCES=13
skipped=0
skip() {
    echo "SKIP: $*"
    skipped=$((skipped + 1))
}

mkdir A B C
echo "in A" >A/a.txt
echo "in B" >B/b.txt
echo "in C" >C/c.txt

# flow NAME [WITH]: NAME.troy, a deployment reading JSON lines on stdin into two pipelines: p
# runs them through the probe (defined with WITH, the text of a `with ... end` clause) into
# out.jsonl, its err port into err.jsonl; passthru copies them into out2.jsonl
flow() {
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector out from file with codec = "json", postprocessors = ["separate"], config = {"path": "out.jsonl", "mode": "truncate"} end;
  define connector out2 from file with codec = "json", postprocessors = ["separate"], config = {"path": "out2.jsonl", "mode": "truncate"} end;
  define connector errors from file with codec = "json", postprocessors = ["separate"], config = {"path": "err.jsonl", "mode": "truncate"} end;
  define pipeline p
  pipeline
    define operator probe from sandbox_probe::op${2:+ $2};
    create operator probe;
    select event from in into probe;
    select event from probe into out;
  end;
  define pipeline passthru pipeline select event from in into out; end;
  create connector input;
  create connector out;
  create connector out2;
  create connector errors;
  create pipeline p;
  create pipeline passthru;
  connect /connector/input to /pipeline/p;
  connect /connector/input to /pipeline/passthru;
  connect /pipeline/p to /connector/out;
  connect /pipeline/p/err to /connector/errors;
  connect /pipeline/passthru to /connector/out2;
end;
deploy flow main;
TROY
}

# run NAME [OPTION...] <REQUESTS: (not in a pipe, which would lose $rc) runs NAME.troy with the probe's directory and the sandbox mode,
# its log into NAME.err, its exit status into $rc
sandbox=()
run() {
    local name=$1
    shift
    rm -f out.jsonl out2.jsonl err.jsonl
    timeout 60 "$temblor" run --plugin-path "$probe_dir" ${sandbox[@]+"${sandbox[@]}"} "$@" "$name.troy" 2>"$name.err"
    rc=$?
}

# Requests, one JSON line each.
read_req() { printf '{"try": "read", "path": "%s"}\n' "$1"; }
write_req() { printf '{"try": "write", "path": "%s"}\n' "$1"; }
connect_req() { printf '{"try": "connect", "port": %s}\n' "$1"; }

# outcome TRY [TARGET]: what the report in out.jsonl on that request (TARGET its path or port)
# says: "ok", "denied ERRNO (ERROR)", "failed: ERROR", or "no report"
outcome() {
    python3 - "$@" <<'PY'
import json, sys
want, target = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
for line in open("out.jsonl"):
    r = json.loads(line)
    if r.get("try") != want or (target is not None and str(r.get("path", r.get("port"))) != target):
        continue
    print("ok" if r["ok"] is True else "denied %d (%s)" % (r["errno"], r["error"]) if r["errno"] else "failed: " + r["error"])
    break
else:
    print("no report")
PY
}

# expect DESCRIPTION WANT TRY [TARGET]: the outcome of the request starts with WANT ("ok",
# "denied 13", "failed: bad request")
expect() {
    local what=$1 want=$2 got
    shift 2
    got=$(outcome "$@")
    case "$got" in
    "$want" | "$want "*) ok ;;
    *) bad "$what: expected $want, got $got" ;;
    esac
}

# lines FILE: the number of lines in FILE, 0 when it does not exist
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# a listener the granted port leads to, and another one that is not granted
python3 -c '
import socket, sys
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    socks.append(s)
print(*(s.getsockname()[1] for s in socks), flush=True)
while True:
    for s in socks:
        s.settimeout(0.05)
        try:
            s.accept()[0].close()
        except socket.timeout:
            pass
' >ports.txt &
pids+=($!)
wait_for 10 nonempty ports.txt || {
    echo "FAIL: no listener for the connect tests"
    exit 1
}
read -r port other_port <ports.txt

# the kernel's Landlock ABI, 0 for none: landlock_create_ruleset(NULL, 0, VERSION), system call
# 444 on every architecture but alpha
abi=$(python3 -c 'import ctypes; print(max(ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1), 0))')

# --- nothing granted --------------------------------------------------------------------------
flow none 'with isolation = "process" end'
none_requests() {
    read_req "$PWD/A/a.txt"
    write_req "$PWD/A/new.txt"
    echo '{"try": "socket"}'
    connect_req "$port"
    echo '{"try": "shell"}'
    # what the probe cannot read: answered, never crashed on
    echo '{"try": "read"}'
    echo '{"try": "write", "path": 42}'
    echo '{"try": "connect", "port": "many"}'
    echo '{"nothing": "to try"}'
    echo '[1, 2, 3]'
    echo '"read"'
    echo '{"try": "fly"}'
}
none_requests >none.jsonl
nnone=$(lines none.jsonl)
run none <none.jsonl
landlock=true
if [ $rc -ne 0 ] && grep -q 'Landlock' none.err; then
    landlock=false
    skip "no Landlock: the file-system checks (the runtime refused under --sandbox require, as it must)"
    check "no Landlock: the refusal names it" grep -q 'the kernel has no Landlock' none.err || show none.err
    check "no Landlock: the kernel agrees (its Landlock ABI is $abi)" test "$abi" -eq 0
    sandbox=(--sandbox degrade)
    run none <none.jsonl
fi
check "nothing granted: the run ends normally (exit $rc)" test $rc -eq 0 || show none.err 30
check "nothing granted: one report per event" test "$(lines out.jsonl)" -eq "$nnone" || show out.jsonl 30
check "nothing granted: nothing went to err" test "$(lines err.jsonl)" -eq 0 || show err.jsonl
check "nothing granted: the other pipeline got every event" test "$(lines out2.jsonl)" -eq "$nnone"
check "nothing granted: the plugin host never failed" test "$(grep -c 'plugin host of sandbox_probe' none.err)" -eq 0 ||
    show none.err 30
if $landlock; then
    expect "nothing granted: reading a file in the scratch dir is denied" "denied $EACCES" read "$PWD/A/a.txt"
    expect "nothing granted: writing a file in the scratch dir is denied" "denied $EACCES" write "$PWD/A/new.txt"
    check "nothing granted: the file was not made" test ! -e A/new.txt
fi
expect "nothing granted: a socket is denied" "denied $EACCES" socket
expect "nothing granted: so is a connection" "denied $EACCES" connect "$port"
expect "nothing granted: a shell is denied" "denied $EPERM" shell
check "bad requests are answered as such" test "$(grep -c '"error": *"bad request"' out.jsonl)" -eq 6 ||
    show out.jsonl 30
expect "an unknown request is answered as such" "failed: unknown request" fly
for kind in fs-read fs-write net-connect process; do
    check "nothing granted: the log warns that $kind is declared and not granted" \
        grep -q "plugin sandbox_probe declares $kind.*which is not granted" none.err || show none.err 30
done

# --- granted in configuration -------------------------------------------------------------------
flow granted "with isolation = \"process\", grant = {\"fs-read\": [\"$PWD/A\"], \"fs-write\": [\"$PWD/B\"], \
\"process\": true, \"net-connect\": [\"127.0.0.1:$port\"]} end"
granted_requests() {
    read_req "$PWD/A/a.txt"
    read_req "$PWD/B/b.txt"
    read_req "$PWD/C/c.txt"
    write_req "$PWD/A/new.txt"
    write_req "$PWD/B/new.txt"
    echo '{"try": "socket"}'
    connect_req "$port"
    connect_req "$other_port"
    echo '{"try": "shell"}'
}
granted_requests >granted.jsonl
ngranted=$(lines granted.jsonl)
run granted --log-level debug <granted.jsonl
check "granted: the run ends normally (exit $rc)" test $rc -eq 0 || show granted.err 30
check "granted: one report per event" test "$(lines out.jsonl)" -eq "$ngranted" || show out.jsonl 30
check "granted: the other pipeline got every event" test "$(lines out2.jsonl)" -eq "$ngranted"
if $landlock; then
    expect "granted: reading in the fs-read directory is allowed" ok read "$PWD/A/a.txt"
    expect "granted: reading in the fs-write directory is allowed" ok read "$PWD/B/b.txt"
    expect "granted: reading in a directory not granted is denied" "denied $EACCES" read "$PWD/C/c.txt"
    expect "granted: writing in the fs-read directory is denied" "denied $EACCES" write "$PWD/A/new.txt"
    check "granted: the file was not made" test ! -e A/new.txt
else
    skip "no Landlock: granted file-system access"
fi
expect "granted: writing in the fs-write directory works" ok write "$PWD/B/new.txt"
check "granted: the file written holds the line" grep -qx 'written by sandbox_probe' B/new.txt
expect "granted: a socket is allowed" ok socket
expect "granted: connecting to the granted port works" ok connect "$port"
if [ "$abi" -ge 4 ]; then
    check "granted: the plugin host says it filters TCP ports" \
        grep -q 'plugin host started.*TCP connect to granted ports only' granted.err || show granted.err 30
    expect "granted: connecting to another listening port is denied" "denied $EACCES" connect "$other_port"
else
    skip "Landlock ABI $abi has no network rules: connecting to a port not granted gave $(outcome connect "$other_port")"
fi
# (exec needs Landlock's execute right on the shell's file: a process grant must bring it)
expect "granted: the shell runs (and exits 7)" ok shell
check "granted: no warning about net-connect or process, which are granted" \
    test "$(grep -c 'declares \(net-connect\|process\).*which is not granted' granted.err)" -eq 0 || show granted.err 30

# --- granted on the command line --------------------------------------------------------------
flow cli
{
    read_req "$PWD/C/c.txt"
    read_req "$PWD/A/a.txt"
    echo '{"try": "shell"}'
} >cli.jsonl
run cli --isolate sandbox_probe --grant "sandbox_probe=fs-read:$PWD/C" <cli.jsonl
check "--grant: the run ends normally (exit $rc)" test $rc -eq 0 || show cli.err 30
check "--grant: one report per event" test "$(lines out.jsonl)" -eq 3 || show out.jsonl
if $landlock; then
    expect "--grant: reading in the directory granted is allowed" ok read "$PWD/C/c.txt"
    expect "--grant: reading elsewhere is denied" "denied $EACCES" read "$PWD/A/a.txt"
else
    skip "no Landlock: file-system access granted with --grant"
fi
expect "--isolate: the probe runs in a sandbox (no shell)" "denied $EPERM" shell

echo "isolate sandbox: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
