#!/usr/bin/env bash
# engine.sh - end-to-end tests of `temblor run` on deployments: the quickstart, stdio and
# files, the err port, backpressure, restarts, circuit breaking with replay, and draining on
# SIGTERM.
# usage: engine.sh TEMBLOR_BINARY FLAKY_PLUGIN_DIR SOURCE_DIR
set -u
temblor=$1
flaky_dir=$2
src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

# shellcheck source=checks.sh
source "$src/tests/engine/checks.sh"
# run_for SECONDS FILE.troy: runs the flaky-plugin deployment, SIGTERMs it after SECONDS,
# returns its exit status (stderr in err.txt)
run_for() {
    "$temblor" run --plugin-path "$flaky_dir" "$2" 2>err.txt &
    local pid=$!
    sleep "$1"
    kill -TERM $pid
    wait $pid
}
# report_field NAME: a count from the flaky source's report.txt
report_field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" report.txt; }

# --- the quickstart, from the source tree, as the README runs it ---------------------------------
(cd "$src" && "$temblor" run examples/quickstart/quickstart.troy >"$work/qs.out" 2>"$work/qs.err")
rc=$?
check "quickstart exits 0 (got $rc)" test $rc -eq 0
# 60 records: 1 malformed, the debug ones dropped, the rest counted per service and level
total=$(python3 -c '
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
problems=[json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
print(sum(r.get("requests",0) for r in rows), sum(1 for r in problems if "problem" in r))' "$work/qs.out" "$work/qs.err")
want=$(python3 -c '
import json,sys
n=0
for l in open(sys.argv[1]):
    try: r=json.loads(l)
    except ValueError: continue
    n += r["level"].lower()!="debug"
print(n, 1)' "$src/examples/quickstart/logs.jsonl")
check "quickstart counts every non-debug record once and reports the bad one (got '$total', want '$want')" test "$total" = "$want"
alerts=$(wc -l <"$src/quickstart-alerts.jsonl" 2>/dev/null || echo 0)
check "quickstart writes alerts" test "$alerts" -gt 0
rm -f "$src/quickstart-alerts.jsonl"

# --- stdio through a pipeline, with a bad line ------------------------------------------------------
cat >stdio.troy <<'TROY'
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector output from stdio with codec = "json", postprocessors = ["separate"] end;
  define pipeline main
  pipeline
    select {"x": event.a + 1} from in where event.a != 2 into out;
  end;
  create connector input;
  create connector output;
  create pipeline main;
  connect /connector/input to /pipeline/main;
  connect /pipeline/main to /connector/output;
end;
deploy flow main;
TROY
printf '{"a":1}\n{"a":2}\nnot json\n{"a":3}' | "$temblor" run stdio.troy >out.txt 2>err.txt
check "stdio flow exits 0" test $? -eq 0
check "stdio flow output" diff <(printf '{"x":2}\n{"x":4}\n') out.txt
grep -q 'event failed.*json' err.txt && ok || { bad "a bad line is logged with its reason"; show err.txt; }

# --- errors and bad configuration --------------------------------------------------------------------
"$temblor" run missing.troy 2>err.txt
check "a missing file exits 1" test $? -eq 1
grep -q 'cannot read missing.troy' err.txt && ok || bad "a missing file is named"
sed 's/from stdio/from stdoi/' stdio.troy >unknown.troy
"$temblor" run unknown.troy 2>err.txt </dev/null
check "an unknown connector exits 1" test $? -eq 1
grep -q "unknown.troy:3:.*unknown connector 'stdoi'" err.txt && grep -q 'connectors loaded are:.*stdio' err.txt && ok ||
    { bad "an unknown connector is named with its place and the known ones"; show err.txt; }
cat >badopt.troy <<'TROY'
define flow main
flow
  define connector f from file with config = {"path": 42} end;
  define pipeline p pipeline select event from in into out; end;
  create connector f;
  create pipeline p;
  connect /connector/f to /pipeline/p;
end;
deploy flow main;
TROY
"$temblor" run badopt.troy 2>err.txt
check "a bad option exits 1" test $? -eq 1
grep -q "badopt.troy:3:.*path" err.txt && grep -q 'string' err.txt && ok || { bad "a bad option names the option and type"; show err.txt; }
sed 's|connect /connector/f to /pipeline/p;|connect /connector/f/nope to /pipeline/p;|; s|{"path": 42}|{"path": "x"}|' badopt.troy >badport.troy
"$temblor" run badport.troy 2>err.txt
grep -q "badport.troy:7:.*connector 'f' has no output port 'nope'" err.txt && grep -q 'its output ports are: out, err' err.txt && ok || { bad "a bad port is named"; show err.txt; }

# a processor configuration is checked when the flow is deployed, not at its first event
sed 's/postprocessors = \["separate"\]/postprocessors = [{"name": "separate", "config": {"separator": "ab"}}]/' stdio.troy >badproc.troy
"$temblor" run badproc.troy 2>err.txt </dev/null
check "a bad postprocessor option exits 1" test $? -eq 1
grep -q 'postprocessor separate.*separator must be exactly one byte' err.txt && ok || { bad "a bad postprocessor option is named"; show err.txt; }

# a missing input file: reconnect is "none" by default (as in Tremor), so the run fails fast
sed 's|{"path": 42}|{"path": "/nonexistent/in.json"}|' badopt.troy >nofile.troy
timeout 20 "$temblor" run nofile.troy 2>err.txt
check "a missing input file exits 1" test $? -eq 1
grep -q 'cannot open /nonexistent/in.json' err.txt && grep -q 'main::f.*stopped for good' err.txt && ok ||
    { bad "a missing input file is named"; show err.txt; }

# one record a sink cannot encode is dropped alone, logged; its neighbours are delivered
sed 's/define connector output from stdio with codec = "json"/define connector output from stdio with codec = "csv"/; s/select {"x": event.a + 1} from in where event.a != 2 into out;/select event from in into out;/' stdio.troy >csv.troy
printf '[1,2]\n{"a":1}\n[3,4]\n' | "$temblor" run csv.troy >out.txt 2>err.txt
check "unencodable record: exits 0" test $? -eq 0
check "unencodable record: the others are written" diff <(printf '1,2\n3,4\n') out.txt
grep -q 'could not be encoded.*csv' err.txt && ok || { bad "unencodable record: logged with the reason"; show err.txt; }

# --- pipeline arguments: the definition's default, overridden by create --------------------------------
cat >args.troy <<'TROY'
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector output from stdio with codec = "json", postprocessors = ["separate"] end;
  define pipeline add
  args n = 1, label = "default"
  pipeline
    select {"x": event.a + args.n, "label": args.label} from in into out;
  end;
  create connector input;
  create connector output;
  create pipeline add with n = 10 end;
  connect /connector/input to /pipeline/add;
  connect /pipeline/add to /connector/output;
end;
deploy flow main;
TROY
echo '{"a":1}' | "$temblor" run args.troy >out.txt 2>err.txt
check "pipeline args" diff <(echo '{"x":11,"label":"default"}') out.txt

# --- bad input reaches the err port, routed to a file: invalid UTF-8, truncated msgpack ---------------
python3 - <<'PY'
import struct
open("bad.jsonl", "wb").write(b'{"s":"ok"}\n{"s":"bad \xff\xfe"}\n{"s":"fine"}\n')
frames = [b"\x81\xa1a\x01", b"\x82\xa1a\x01\xa1", b"\x81\xa1a\x02"]  # the second is cut short
open("bad.msgpack", "wb").write(b"".join(struct.pack(">Q", len(f)) + f for f in frames))
PY
cat >bad.troy <<TROY
define flow main
flow
  define connector json_in from file with config = {"path": "$work/bad.jsonl"}, preprocessors = ["separate"], codec = "json" end;
  define connector mp_in from file with config = {"path": "$work/bad.msgpack"}, preprocessors = ["length-prefixed"], codec = "msgpack" end;
  define connector good from file with config = {"path": "$work/good.jsonl", "mode": "truncate"}, postprocessors = ["separate"] end;
  define connector errors from file with config = {"path": "$work/errors.jsonl", "mode": "truncate"}, postprocessors = ["separate"] end;
  define pipeline pass pipeline select event from in into out; end;
  define pipeline errs pipeline select event.error from in into out; end;
  create connector json_in;
  create connector mp_in;
  create connector good;
  create connector errors;
  create pipeline pass;
  create pipeline errs;
  connect /connector/json_in to /pipeline/pass;
  connect /connector/mp_in to /pipeline/pass;
  connect /connector/json_in/err to /pipeline/errs;
  connect /connector/mp_in/err to /pipeline/errs;
  connect /pipeline/pass to /connector/good;
  connect /pipeline/errs to /connector/errors;
end;
deploy flow main;
TROY
"$temblor" run bad.troy 2>err.txt
check "bad input: exits 0" test $? -eq 0
check "bad input: the good records pass" test "$(sort good.jsonl | tr '\n' ' ')" = '{"a":1} {"a":2} {"s":"fine"} {"s":"ok"} '
grep -q 'invalid UTF-8' errors.jsonl && grep -q 'msgpack' errors.jsonl && test "$(wc -l <errors.jsonl)" -eq 2 && ok ||
    { bad "bad input: both failures on the err port, with reasons"; show errors.jsonl; }

# --- a source whose file is missing at first: connect is retried with backoff until it appears ------
rm -f late.jsonl late-out.jsonl
cat >late.troy <<TROY
define flow main
flow
  define connector input from file with config = {"path": "$work/late.jsonl"}, preprocessors = ["separate"],
    reconnect = {"retry": {"interval_ms": 50, "growth_rate": 1.5, "randomized": true}} end;
  define connector output from file with config = {"path": "$work/late-out.jsonl", "mode": "truncate"}, postprocessors = ["separate"] end;
  define pipeline p pipeline select event from in into out; end;
  create connector input;
  create connector output;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/output;
end;
deploy flow main;
TROY
"$temblor" run late.troy 2>err.txt &
pid=$!
sleep 0.5
echo '{"late":true}' >late.jsonl
wait $pid
check "late file: exits 0" test $? -eq 0
check "late file: read once it appeared" test "$(cat late-out.jsonl 2>/dev/null)" = '{"late":true}'
grep -q 'connect failed: cannot open .*late.jsonl' err.txt && grep -q 'retrying in' err.txt && ok ||
    { bad "late file: the failed connects and retries are logged"; show err.txt; }

# --- metronome to a pipeline that decides when to stop, to the exit connector -------------------------
cat >exit.troy <<'TROY'
define flow main
flow
  define connector tick from metronome with config = {"interval": 20} end;
  define connector quit from exit;
  define pipeline p pipeline select {"exit": 3} from in where event.id >= 4 into out; end;
  create connector tick;
  create connector quit;
  create pipeline p;
  connect /connector/tick to /pipeline/p;
  connect /pipeline/p to /connector/quit;
end;
deploy flow main;
TROY
timeout 20 "$temblor" run exit.troy 2>err.txt
check "metronome -> exit: exits with the code the event asked for (got $?)" test $? -eq 3

# --- bench: Tremor's benchmark connector, replaying its data, printing the report ------------------------
if [ -f "$src/../shared/bench-data/data.json.xz" ]; then
    cat >bench.troy <<TROY
define flow main
flow
  define connector bench from bench with codec = "json", config = {"path": "$src/../shared/bench-data/data.json.xz", "iters": 20} end;
  define pipeline p pipeline select event from in into out; end;
  create connector bench;
  create pipeline p;
  connect /connector/bench to /pipeline/p;
  connect /pipeline/p to /connector/bench;
end;
deploy flow main;
TROY
    timeout 60 "$temblor" run bench.troy >out.txt 2>err.txt
    check "bench: exits 0" test $? -eq 0
    grep -Eq '^events +2000$' out.txt && grep -q 'Throughput (events)' out.txt && grep -q '^p99 ' out.txt && ok ||
        { bad "bench: a report of 2000 events with percentiles and throughput"; show out.txt 40; }
fi

# --- the flaky connector: transactional source -> sink that misbehaves ------------------------------
flow_with() { # SINK_CONFIG COUNT
    cat <<TROY
define flow main
flow
  define connector src from flaky with config = {"count": $2, "batch": 50, "report": "$work/report.txt"} end;
  define connector dst from flaky with config = $1, reconnect = {"retry": {"interval_ms": 50}} end;
  define pipeline p pipeline select event from in into out; end;
  create connector src;
  create connector dst;
  create pipeline p;
  connect /connector/src to /pipeline/p;
  connect /pipeline/p to /connector/dst;
end;
deploy flow main;
TROY
}
# every seq in [0, n) arrived at least once; prints the number of duplicates
all_there() {
    python3 - "$1" "$2" <<'PY'
import json, sys
seen = [json.loads(l)["seq"] for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
missing = set(range(n)) - set(seen)
if missing:
    print("missing", sorted(missing)[:10]); sys.exit(1)
print(len(seen) - n)
PY
}

# a slow sink: the source is held back (bounded queues), nothing lost
rm -f got.jsonl report.txt
flow_with "{\"out\": \"$work/got.jsonl\", \"slow_ms\": 20}" 5000 >slow.troy
/usr/bin/time -f '%M' -o rss.txt "$temblor" run --plugin-path "$flaky_dir" slow.troy 2>err.txt &
pid=$!
sleep 1
# while the sink is slow, the source must not have run far ahead: at most the queues' worth
emitted_early=$(grep -c seq got.jsonl 2>/dev/null || echo 0)
wait $pid
check "slow sink: exits 0" test $? -eq 0
dups=$(all_there got.jsonl 5000) && check "slow sink: nothing duplicated ($dups)" test "$dups" -eq 0 || bad "slow sink: $dups"
check "slow sink: the sink was behind after 1 s ($emitted_early of 5000 delivered)" test "$emitted_early" -lt 5000
grep -q 'emitted=5000 acked=5000 failed=0' report.txt && ok || { bad "slow sink: every event acknowledged once"; show report.txt; }

# a slow sink under an endless source: memory stays flat (the queues bound what is in flight)
rm -f got.jsonl report.txt
flow_with "{\"out\": \"$work/got.jsonl\", \"slow_ms\": 10}" 2000000 >bounded.troy
"$temblor" run --plugin-path "$flaky_dir" bounded.troy 2>err.txt &
pid=$!
sleep 1
rss1=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
sleep 1.5
rss2=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
kill -TERM $pid
wait $pid
check "bounded: exits 0" test $? -eq 0
# (a sanitizer's quarantine keeps freed memory from reuse: RSS says nothing there)
if [ -z "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}" ]; then
    check "bounded: RSS flat under backpressure (${rss1} kB, then ${rss2} kB)" test $((rss2 - rss1)) -lt 4096
fi
emitted=$(report_field emitted)
check "bounded: the source was held back ($emitted of 2000000 emitted)" test "${emitted:-2000000}" -lt 100000

# a sink whose push keeps failing: restarted with backoff, failed batches replayed
rm -f got.jsonl report.txt
flow_with "{\"out\": \"$work/got.jsonl\", \"fail_every\": 12}" 1000 >restart.troy
"$temblor" run --plugin-path "$flaky_dir" restart.troy 2>err.txt
check "restarting sink: exits 0" test $? -eq 0
dups=$(all_there got.jsonl 1000) && ok || { bad "restarting sink: events lost: $dups"; show err.txt; }
grep -q 'main::dst.*restarting' err.txt && ok || { bad "restarting sink: the restart is logged"; show err.txt; }
grep -Eq 'emitted=[0-9]+ acked=1000 failed=[1-9]' report.txt && ok || { bad "restarting sink: failures replayed, all acked"; show report.txt; }

# a sink that fails every time is given up; the run ends, reports it, exits 1
rm -f got.jsonl report.txt
flow_with "{\"out\": \"$work/got.jsonl\", \"fail_every\": 1}" 1000 >hopeless.troy
timeout 60 "$temblor" run --plugin-path "$flaky_dir" hopeless.troy 2>err.txt
check "hopeless sink: exits 1" test $? -eq 1
grep -q 'main::dst.*stopped for good' err.txt && grep -q 'main::src.*every sink it feeds has failed' err.txt && ok ||
    { bad "hopeless sink: given up and reported"; show err.txt 40; }

# a sink that loses its target: circuit opens, the source pauses, the sink reconnects, replay
rm -f got.jsonl report.txt
flow_with "{\"out\": \"$work/got.jsonl\", \"down_after\": 3, \"down_ms\": 400}" 3000 >circuit.troy
"$temblor" run --plugin-path "$flaky_dir" circuit.troy 2>err.txt
check "circuit: exits 0" test $? -eq 0
dups=$(all_there got.jsonl 3000) && ok || { bad "circuit: events lost: $dups"; show err.txt 30; }
grep -q 'main::dst.*circuit breaker opened' err.txt && grep -q 'main::src.*paused' err.txt && grep -q 'main::src.*resumed' err.txt && ok ||
    { bad "circuit: opened, source paused and resumed"; show err.txt 30; }
grep -Eq 'acked=3000' report.txt && ok || { bad "circuit: all acked"; show report.txt; }

# SIGTERM drains: the source is cut short, what it sent is delivered and acknowledged
rm -f got.jsonl report.txt
flow_with "{\"out\": \"$work/got.jsonl\", \"slow_ms\": 5}" 1000000 >drain.troy
run_for 1 drain.troy
check "SIGTERM: exits 0" test $? -eq 0
emitted=$(report_field emitted)
acked=$(report_field acked)
got=$(grep -c seq got.jsonl)
check "SIGTERM: everything emitted was acknowledged ($emitted emitted, $acked acked, $got delivered)" \
    test -n "$emitted" -a "$emitted" = "$acked" -a "$got" = "$acked"
grep -q 'draining' err.txt && ok || bad "SIGTERM: logged"

# contraflow reaches operators: qos::backpressure sees deliveries slower than its timeout and
# sends events to its overflow port while it backs off; every event still arrives somewhere
rm -f got.jsonl overflow.jsonl report.txt
cat >qos.troy <<TROY
define flow main
flow
  define connector src from flaky with config = {"count": 3000, "batch": 50, "report": "$work/report.txt"} end;
  define connector slow from flaky with config = {"out": "$work/got.jsonl", "slow_ms": 20} end;
  define connector spill from flaky with config = {"out": "$work/overflow.jsonl"} end;
  define pipeline p
  into out, overflow
  pipeline
    define operator bp from qos::backpressure with timeout = 1000000, steps = [50, 100] end;
    create operator bp;
    select event from in into bp;
    select event from bp into out;
    select event from bp/overflow into overflow;
  end;
  create connector src;
  create connector slow;
  create connector spill;
  create pipeline p;
  connect /connector/src to /pipeline/p;
  connect /pipeline/p/out to /connector/slow;
  connect /pipeline/p/overflow to /connector/spill;
end;
deploy flow main;
TROY
timeout 120 "$temblor" run --plugin-path "$flaky_dir" qos.troy 2>err.txt
check "qos: exits 0" test $? -eq 0
passed_n=$(cat got.jsonl 2>/dev/null | grep -c seq)
spilled=$(cat overflow.jsonl 2>/dev/null | grep -c seq)
check "qos: backpressure spilled events to overflow ($passed_n passed, $spilled spilled)" test "$spilled" -gt 0
check "qos: every event went one way or the other" test $((passed_n + spilled)) -ge 3000
grep -q 'acked=3000' report.txt && ok || { bad "qos: all acknowledged"; show report.txt; }

# the same operator hears of a sink whose target goes away (its breaker opening and closing, the
# failed deliveries): what it spills meanwhile depends on timing (the breaker also pauses the
# source), but with the replays every event arrives somewhere, once acknowledged
rm -f got.jsonl overflow.jsonl report.txt
cat >qos-down.troy <<TROY
define flow main
flow
  define connector src from flaky with config = {"count": 3000, "batch": 50, "report": "$work/report.txt"} end;
  define connector slow from flaky
    with config = {"out": "$work/got.jsonl", "down_after": 5, "down_ms": 400, "slow_ms": 2},
         reconnect = {"retry": {"interval_ms": 50}} end;
  define connector spill from file
    with config = {"path": "$work/overflow.jsonl", "mode": "truncate"}, postprocessors = ["separate"] end;
  define pipeline p
  into out, overflow
  pipeline
    define operator bp from qos::backpressure with timeout = 10000000000, steps = [100, 200] end;
    create operator bp;
    select event from in into bp;
    select event from bp into out;
    select event from bp/overflow into overflow;
  end;
  create connector src;
  create connector slow;
  create connector spill;
  create pipeline p;
  connect /connector/src to /pipeline/p;
  connect /pipeline/p/out to /connector/slow;
  connect /pipeline/p/overflow to /connector/spill;
end;
deploy flow main;
TROY
timeout 120 "$temblor" run --plugin-path "$flaky_dir" qos-down.troy 2>err.txt
check "qos, target down: exits 0" test $? -eq 0
all_there <(cat got.jsonl overflow.jsonl) 3000 >/dev/null && ok || { bad "qos, target down: events lost"; show err.txt; }
grep -q 'acked=3000' report.txt && ok || { bad "qos, target down: all acknowledged"; show report.txt; }

# the metrics connector: every stage's counters, as events, here into a file
rm -f got.jsonl report.txt metrics.jsonl
cat >metrics.troy <<TROY
define flow main
flow
  define connector src from flaky with config = {"count": 1000000, "batch": 50} end;
  define connector dst from flaky with config = {"slow_ms": 2} end;
  define connector m from metrics with config = {"interval_ms": 200} end;
  define connector store from file with config = {"path": "$work/metrics.jsonl", "mode": "truncate"}, postprocessors = ["separate"] end;
  define pipeline p pipeline select event from in into out; end;
  define pipeline keep pipeline select event from in where event.measurement == "stage" into out; end;
  create connector src;
  create connector dst;
  create connector m;
  create connector store;
  create pipeline p;
  create pipeline keep;
  connect /connector/src to /pipeline/p;
  connect /pipeline/p to /connector/dst;
  connect /connector/m to /pipeline/keep;
  connect /pipeline/keep to /connector/store;
end;
deploy flow main;
TROY
run_for 1.5 metrics.troy
check "metrics: exits 0" test $? -eq 0
python3 - "$work/metrics.jsonl" <<'PY' && ok || { bad "metrics: stage records with counts"; show metrics.jsonl; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
src = [r for r in rows if r["tags"]["stage"] == "main::src"]
dst = [r for r in rows if r["tags"]["stage"] == "main::dst"]
assert len(src) >= 3, len(src)
assert src[-1]["fields"]["events_out"] > src[0]["fields"]["events_out"] > 0
assert dst[-1]["fields"]["events_out"] > 0 and "latency_mean_ns" in dst[-1]["fields"]
assert all(r["measurement"] == "stage" and r["tags"]["kind"] in ("connector", "pipeline") for r in rows)
PY

# --- a sink that cannot write, fed by a source that cannot replay: the loss is logged ------------------
cat >lost.troy <<'TROY'
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector full from file
  with
    codec = "json", postprocessors = ["separate"], config = {"path": "/dev/full", "mode": "append"}
  end;
  define pipeline p pipeline select event from in into out; end;
  create connector input;
  create connector full;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/full;
end;
deploy flow main;
TROY
printf '{"a":1}\n{"a":2}\n' | "$temblor" run lost.troy >/dev/null 2>lost.err
check "lost: a sink failed for good exits 1" test $? -eq 1
check "lost: the events are reported lost" grep -q 'events not delivered (.*) and lost: their source does not replay' lost.err ||
    show lost.err

echo "engine e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
