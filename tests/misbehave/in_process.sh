#!/usr/bin/env bash
# in_process.sh - the misbehaving plugins (misbehave.c) loaded into the runtime's own process:
# what can be detected there is, and the runtime goes on:
#  - a plugin returning a status the ABI does not define: every event it was given goes to the
#    pipeline's err port naming the operator and the status, and the run ends normally;
#  - a plugin calling timer_start and fd_watch from a thread of its own: refused (they would
#    corrupt the instance's loop), logged with the call and the thread, and the flow goes on;
#  - a plugin that leaks host memory under --memory-limit: refused past the limit, logged, and
#    the events it could not process go to err;
#  - a plugin that never returns: the watchdog names the stage after --call-budget-ms.
# What cannot be contained in process (a crash, an abort, memory corruption) is for the
# isolated tier; docs/isolation.md says so.
# usage: in_process.sh TEMBLOR_BINARY BAD_PLUGIN_DIR SOURCE_DIR
set -u
temblor=$1
bad_dir=$2
src=$3
# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

# flow WHAT: a deployment reading JSON lines on stdin through bad_WHAT::op to out.jsonl, the
# pipeline's err port to err.jsonl
flow() {
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector out from file with codec = "json", postprocessors = ["separate"], config = {"path": "out.jsonl", "mode": "truncate"} end;
  define connector errors from file with codec = "json", postprocessors = ["separate"], config = {"path": "err.jsonl", "mode": "truncate"} end;
  define pipeline p
  pipeline
    define operator bad from bad_$1::op;
    create operator bad;
    select event from in into bad;
    select event from bad into out;
  end;
  create connector input;
  create connector out;
  create connector errors;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/out;
  connect /pipeline/p/err to /connector/errors;
end;
deploy flow main;
TROY
}
lines() { for i in $(seq 1 "$1"); do echo "{\"n\":$i}"; done; }

# --- a status the ABI does not define ----------------------------------------------------------
flow status
lines 3 | timeout 60 "$temblor" run --plugin-path "$bad_dir" status.troy 2>status.err
check "status: the run ends normally" test $? -eq 0 || show status.err
check "status: every event goes to err" test "$(wc -l <err.jsonl)" = 3
check "status: naming the operator and the status" \
    grep -q 'operator bad_status::op failed to process the event: an unknown status code (12345)' err.jsonl || show err.jsonl
rm -f out.jsonl err.jsonl

# --- host calls from the plugin's own thread ---------------------------------------------------------
cat >thread.troy <<'TROY'
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector bad from bad_thread::sink with config = {} end;
  define pipeline p pipeline select event from in into out; end;
  create connector input;
  create connector bad;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/bad;
end;
deploy flow main;
TROY
lines 50 | timeout 60 "$temblor" run --plugin-path "$bad_dir" thread.troy 2>thread.err
rc=$?
check "thread: the run ends normally (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || show thread.err 40
check "thread: timer_start from another thread is refused, naming the call" \
    grep -q 'timer_start called from thread [0-9]*, which is not the instance.s: refused' thread.err || show thread.err
check "thread: fd_watch too" grep -q 'fd_watch called from thread [0-9]*, which is not the instance.s: refused' thread.err
check "thread: the plugin was told (TB_EINVAL)" grep -q 'from my own thread: timer_start gave -2, fd_watch gave -2' thread.err

# --- a leak through host memory, under a limit -------------------------------------------------------
flow leak
# (the leak is the point: a sanitizer build is told not to report it at exit)
lines 10 | ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" timeout 60 "$temblor" run --plugin-path "$bad_dir" \
    --memory-limit bad_leak=4M leak.troy 2>leak.err
check "leak: the run ends normally" test $? -eq 0 || show leak.err
check "leak: the allocation past the limit is refused and logged" \
    grep -q 'allocation of 1048576 bytes refused: over the limit of 4194304' leak.err || show leak.err
check "leak: the events it could not take go to err, with the plugin's reason" \
    test "$(grep -c 'no more memory to leak' err.jsonl)" -ge 6
check "leak: the ones before passed" test "$(wc -l <out.jsonl)" -ge 3
"$temblor" run --memory-limit nosuch=1M leak.troy 2>limit.err </dev/null
check "leak: a limit for a plugin that is not loaded is refused" grep -q "no plugin named 'nosuch' is loaded" limit.err
rm -f out.jsonl err.jsonl

# --- a call that never returns ---------------------------------------------------------------------
flow hang
mkfifo feed
"$temblor" run --plugin-path "$bad_dir" --call-budget-ms 300 hang.troy <feed 2>hang.err &
pids+=($!)
exec 3>feed
lines 150 >&3
stalled() { grep -q 'has been in one call for [0-9.]* s: a plugin of this stage is not returning' hang.err; }
check "hang: the watchdog names the stage stuck in a call" wait_for 30 stalled || show hang.err
check "hang: it is the pipeline running the operator" grep -q '\[main::p\] has been in one call' hang.err
exec 3>&-

echo "misbehave in process: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
