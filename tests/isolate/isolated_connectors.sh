#!/usr/bin/env bash
# isolated_connectors.sh - connectors in plugin hosts ("isolation": "process" in their config):
#  - file source and file sink, each in a host with an fs grant: the output is the input; with
#    no grant the source's open is denied by the sandbox and the error names it;
#  - tcp_server, its fd watches on the host's own loop: 2000 lines from a client over one
#    connection are each answered on that connection, and the plugin's own metrics (kept in
#    its host) are in the runtime's flow status;
#  - the flaky test connector, source and sink each isolated, the sink crashing (a segfault in
#    its host) every 15th batch: each crash is logged, the engine restarts the connector, the
#    batches the dead host owed fail back to the transactional source, which replays them: every
#    event arrives at least once, and the run ends normally.
# usage: isolated_connectors.sh TEMBLOR_BINARY FLAKY_PLUGIN_DIR SOURCE_DIR
set -u
temblor=$1
flaky_dir=$2
src=$3
# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

# --- files ------------------------------------------------------------------------------------------
for i in $(seq 1 500); do echo "{\"n\":$i}"; done >in.jsonl
files() { # GRANT_OF_THE_SOURCE
    cat >files.troy <<TROY
define flow main
flow
  define connector input from file
  with codec = "json", preprocessors = ["separate"],
       config = {"path": "$work/in.jsonl", "isolation": "process"$1} end;
  define connector out from file
  with codec = "json", postprocessors = ["separate"],
       config = {"path": "$work/out.jsonl", "mode": "truncate", "isolation": "process",
                 "grant": {"fs-write": ["$work"]}} end;
  define pipeline p pipeline select event from in into out; end;
  create connector input;
  create connector out;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/out;
end;
deploy flow main;
TROY
}
files ", \"grant\": {\"fs-read\": [\"$work/in.jsonl\"]}"
timeout 60 "$temblor" run --sandbox degrade files.troy 2>files.log
rc=$?
check "files: the run ends normally (exit $rc)" test $rc -eq 0 || show files.log
check "files: the output is the input" diff -q <(tr -d ' ' <in.jsonl) out.jsonl || show out.jsonl 3
files ""
rm -f out.jsonl
timeout 60 "$temblor" run --sandbox degrade files.troy 2>denied.log
check "files, nothing granted: the source cannot open its file" grep -q 'cannot open .*in.jsonl: Permission denied' denied.log ||
    show denied.log
check "files, nothing granted: the warning said so first" grep -q 'declares fs-read .*which is not granted' denied.log

# --- tcp_server: fd watches and timers in the host ----------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >tcp.troy <<TROY
define flow main
flow
  define connector server from tcp_server
  with codec = "json", preprocessors = ["separate"], postprocessors = ["separate"],
       config = {"url": "127.0.0.1:$port", "isolation": "process", "grant": {"net-listen": ["127.0.0.1:$port"]}} end;
  define pipeline p pipeline select {"echo": event} from in into out; end;
  create connector server;
  create pipeline p;
  connect /connector/server to /pipeline/p;
  connect /pipeline/p to /connector/server;
end;
deploy flow main;
TROY
"$temblor" run --sandbox degrade --admin admin.sock tcp.troy 2>tcp.log &
pids+=($!)
listening() { grep -q "listening on 127.0.0.1:$port" tcp.log; }
check "tcp: the isolated server listens" wait_for 20 listening || show tcp.log
python3 - "$port" >tcp.out <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"".join(b'{"n":%d}\n' % i for i in range(2000)))
buf, s_timeout = b"", s.settimeout(10)
while buf.count(b"\n") < 2000:
    d = s.recv(65536)
    if not d:
        break
    buf += d
lines = buf.decode().splitlines()
print(len(lines), all(l == '{"echo":{"n":%d}}' % i for i, l in enumerate(lines)))
PY
check "tcp: every line answered in order on its connection" grep -q '^2000 True$' tcp.out || show tcp.out
# the plugin's own metrics, kept in its host, are the runtime's too
accepted() {
    "$temblor" flow status --admin admin.sock --json | python3 -c '
import json, sys
for f in json.load(sys.stdin)["flows"]:
    for m in f["metrics"]:
        if m["measurement"] == "connector" and m["tags"]["stage"] == "main::server":
            print(m["fields"].get("connections_accepted"))'
}
check "tcp: the plugin's metrics cross from its host (connections_accepted $(accepted))" test "$(accepted)" = 1
kill -TERM "${pids[-1]}"
wait "${pids[-1]}"
check "tcp: SIGTERM stops it normally" test $? -eq 0 || show tcp.log

# --- a crashing sink, a replaying source ------------------------------------------------------------------
cat >flaky.troy <<TROY
define flow main
flow
  define connector src from flaky
  with config = {"count": 3000, "batch": 50, "report": "$work/report.txt", "isolation": "process",
                 "grant": {"fs-write": ["$work"]}} end;
  define connector dst from flaky
  with config = {"out": "$work/got.jsonl", "crash_every": 15, "isolation": "process",
                 "grant": {"fs-write": ["$work"]}} end;
  define pipeline p pipeline select event from in into out; end;
  create connector src;
  create connector dst;
  create pipeline p;
  connect /connector/src to /pipeline/p;
  connect /pipeline/p to /connector/dst;
end;
deploy flow main;
TROY
timeout 120 "$temblor" run --sandbox degrade --plugin-path "$flaky_dir" flaky.troy 2>flaky.log
rc=$?
check "crashing sink: the run ends normally (exit $rc)" test $rc -eq 0 || show flaky.log 30
check "crashing sink: its host's crash is logged" \
    grep -Eq 'plugin host of flaky (was killed by signal (11|6)|exited with code (1|66))' flaky.log || show flaky.log 30
check "crashing sink: the engine restarted it" grep -q 'restarting (restart [0-9]*)' flaky.log
missing=$(python3 - <<'PY'
import json
seen = {json.loads(l)["seq"] for l in open("got.jsonl") if l.strip()}
print(len(set(range(3000)) - seen))
PY
)
check "crashing sink: every event arrived at least once ($missing missing)" test "$missing" = 0
check "crashing sink: the source saw every event acknowledged" grep -q 'acked=3000' report.txt || show report.txt

echo "isolated connectors: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
