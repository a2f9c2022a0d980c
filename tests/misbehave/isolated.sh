#!/usr/bin/env bash
# isolated.sh - the misbehaving plugins (misbehave.c) in the isolated tier: each operator runs in
# a plugin host process (isolation = "process", or --isolate), and whatever it does, the runtime
# goes on and loses nothing:
#  - a segfault, an abort, a hang past --call-budget-ms, a leak past --memory-limit: the host is
#    ended, the reason logged, a new host started with backoff and sent the same event again;
#    every one of the 250 events comes out exactly once, in order, and the run exits 0;
#  - memory corruption and host calls from the wrong thread stay inside the host;
#  - garbage status codes send the events to err, naming the status, as in process;
#  - a plugin that keeps dying is quarantined after 5 failures in a minute: the rest of its
#    events go to err naming the quarantine, and another path of the same flow gets every event;
#  - an isolated sink connector calling host functions from its own thread is refused in its
#    host, as in process.
# usage: isolated.sh TEMBLOR_BINARY BAD_PLUGIN_DIR SOURCE_DIR
set -u
temblor=$1
bad_dir=$2
src=$3
# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir
# the hosts of a sanitizer build end through the sanitizer's own handlers, and the leak is the
# point of one of them
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

# flow WHAT [WITH]: JSON lines on stdin through bad_WHAT::op (with WITH, default isolated) to
# out.jsonl, the pipeline's err port to err.jsonl, and every event also straight to all.jsonl
flow() {
    local with=${2-with isolation = \"process\" end}
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector out from file with codec = "json", postprocessors = ["separate"], config = {"path": "out.jsonl", "mode": "truncate"} end;
  define connector errors from file with codec = "json", postprocessors = ["separate"], config = {"path": "err.jsonl", "mode": "truncate"} end;
  define connector all from file with codec = "json", postprocessors = ["separate"], config = {"path": "all.jsonl", "mode": "truncate"} end;
  define pipeline p
  into out, err, all
  pipeline
    define operator bad from bad_$1::op $with;
    create operator bad;
    select event from in into bad;
    select event from bad into out;
    select event from in into all;
  end;
  create connector input;
  create connector out;
  create connector errors;
  create connector all;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/out;
  connect /pipeline/p/all to /connector/all;
  connect /pipeline/p/err to /connector/errors;
end;
deploy flow main;
TROY
}
lines() { for i in $(seq 1 "$1"); do echo "{\"n\":$i}"; done; }
lines 250 >in250.jsonl

# run WHAT [OPTIONS...]: the 250 events through WHAT's flow; the exit code in $rc
run() {
    local what=$1
    shift
    rm -f out.jsonl err.jsonl all.jsonl
    timeout 90 "$temblor" run --sandbox degrade --plugin-path "$bad_dir" "$@" "$what.troy" <in250.jsonl 2>"$what.err"
    rc=$?
}

# all_out: out.jsonl holds each of the 250 events exactly once, in order
all_out() { diff -q <(lines 250) <(tr -d ' ' <out.jsonl) >/dev/null; }

# --- contained, restarted, nothing lost ----------------------------------------------------------
contained() {
    local what=$1 reason=$2
    shift 2
    run "$what" "$@"
    check "$what: the run ends normally (exit $rc)" test "$rc" -eq 0 || show "$what.err" 30
    check "$what: every event came out once, in order" all_out || show out.jsonl 5
    check "$what: nothing went to err" test ! -s err.jsonl
    check "$what: the other path got every event" test "$(wc -l <all.jsonl)" -eq 250
    check "$what: the host's end is logged with its reason, and the restart" \
        grep -Eq "plugin host of bad_$what ($reason); restarting it in [0-9]+ ms and sending it the same 1 event again" \
        "$what.err" || show "$what.err" 30
}
flow segfault
# (a sanitizer build's host reports the segfault, then exits (ASan 1, TSan 66) or aborts)
contained segfault 'was killed by signal 11 \(Segmentation fault\)|was killed by signal 6 \(Aborted\)|exited with code (1|66)'
check "segfault: it crashed more than once (every 100th event of a host)" \
    test "$(grep -c 'plugin host of bad_segfault' segfault.err)" -ge 2
flow abort
contained abort 'was killed by signal 6 \(Aborted\)'
flow hang
contained hang 'did not answer within 300 ms \(the call budget\), so it was killed' --call-budget-ms 300
check "hang: the engine's watchdog leaves the supervised wait alone" \
    bash -c "! grep -q 'has been in one call' hang.err"
flow leak
contained leak 'exited with code 92 \(past its memory limit\)' --memory-limit bad_leak=100M
check "leak: the host says which allocation went past the limit" \
    grep -q 'allocation of 1048576 bytes refused: over the memory limit of 104857600 bytes; the plugin host exits' leak.err

# --- what stays inside the host ------------------------------------------------------------------
# each event is in out or in err, exactly once
none_lost() { test "$(cat out.jsonl err.jsonl | grep -o '"n":[0-9]*' | sort -u | wc -l)" -eq "$1" -a "$(cat out.jsonl err.jsonl | wc -l)" -eq "$1"; }
flow overflow
run overflow
check "overflow: the run ends normally (exit $rc)" test "$rc" -eq 0 || show overflow.err
# (a sanitizer build's host finds the corruption and dies of it each time, until quarantined)
check "overflow: every event came out once, in out or err" none_lost 250
flow thread
run thread
check "thread: the run ends normally (exit $rc)" test "$rc" -eq 0 || show thread.err
check "thread: every event came out once, in order" all_out
check "thread: the plugin's calls from its own thread were refused in its host" \
    grep -q 'from my own thread: timer_start gave -6, fd_watch gave -6' thread.err || show thread.err
flow status
run status
check "status: the run ends normally (exit $rc)" test "$rc" -eq 0 || show status.err
check "status: every event goes to err" test "$(wc -l <err.jsonl)" -eq 250
check "status: naming the operator and the status" \
    grep -q 'operator bad_status::op failed to process the event: an unknown status code (12345)' err.jsonl || show err.jsonl

# --- --isolate: every instance of a plugin, no setting in the flow -------------------------------------
flow segfault ""
run segfault --isolate bad_segfault
check "--isolate: the run ends normally (exit $rc)" test "$rc" -eq 0 || show segfault.err
check "--isolate: every event came out once, in order" all_out
check "--isolate: the crash was the host's" grep -q 'plugin host of bad_segfault' segfault.err
"$temblor" run --isolate nosuch segfault.troy </dev/null 2>nosuch.err
check "--isolate: a plugin that is not loaded is refused" grep -q "no plugin named 'nosuch' is loaded" nosuch.err

# --- quarantine ------------------------------------------------------------------------------------
flow segfault
rm -f out.jsonl err.jsonl all.jsonl
lines 700 | timeout 90 "$temblor" run --sandbox degrade --plugin-path "$bad_dir" segfault.troy 2>quarantine.err
rc=$?
check "quarantine: the run ends normally (exit $rc)" test "$rc" -eq 0 || show quarantine.err 30
check "quarantine: reported, with the last failure" \
    grep -Eq 'plugin bad_segfault quarantined: its host failed 5 times within 60 s \(last: (was killed by signal (11|6)|exited with code (1|66))' \
    quarantine.err || show quarantine.err 30
out=$(wc -l <out.jsonl)
err=$(wc -l <err.jsonl)
check "quarantine: every event is in out or err, none twice ($out + $err)" none_lost 700
check "quarantine: the events after it go to err, naming it" \
    grep -q 'plugin bad_segfault is quarantined (its host failed 5 times within a minute' err.jsonl || show err.jsonl 3
check "quarantine: the other path of the flow got every event" test "$(wc -l <all.jsonl)" -eq 700

# --- a connector: host calls from the wrong thread, in its host ------------------------------------------
cat >sink.troy <<'TROY'
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector bad from bad_thread::sink with config = {"isolation": "process"} end;
  define pipeline p pipeline select event from in into out; end;
  create connector input;
  create connector bad;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/bad;
end;
deploy flow main;
TROY
lines 50 | timeout 30 "$temblor" run --sandbox degrade --plugin-path "$bad_dir" sink.troy 2>sink.err
rc=$?
check "isolated sink: the run ends normally (exit $rc)" test "$rc" -eq 0 || show sink.err
check "isolated sink: timer_start from its own thread is refused in its host, and logged" \
    grep -q 'timer_start called from thread [0-9]*, which is not the instance.s: refused' sink.err || show sink.err

echo "misbehave isolated: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
