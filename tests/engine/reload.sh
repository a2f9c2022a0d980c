#!/usr/bin/env bash
# reload.sh - end-to-end tests of a running runtime's admin interface: flows deployed and
# undeployed, plugins loaded, unloaded (refused while in use, or drained) and reloaded under
# load with every event accounted for, incompatible builds refused, HTTP with a token,
# tcp_server's, unix_socket_server's and udp_server's sockets moving to the new build under
# traffic, and --watch-plugins reloading a library rewritten in place.
# usage: reload.sh TEMBLOR_BINARY FLAKY_PLUGIN_DIR ENGINE_TEST_BINARY_DIR SOURCE_DIR
set -u
temblor=$1
flaky_dir=$2
bin=$3
src=$4
plugins=$(dirname "$temblor")/plugins
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

# shellcheck source=checks.sh
source "$src/tests/engine/checks.sh"
sock=$work/admin.sock
adm() { "$temblor" "$@" --admin "$sock"; }

# start LOG ARGS...: runs the runtime in the background with the admin socket; waits for it.
start() {
    local log=$1
    shift
    "$temblor" run --admin "$sock" "$@" 2>"$log" &
    pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && return 0
        sleep 0.05
    done
    bad "the runtime did not open its admin socket"
    show "$log"
    return 1
}
# stop LOG: SIGTERM, and the exit status must be 0.
stop() {
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    pid=
    check "the runtime drains and exits 0 on SIGTERM (got $rc)" test $rc -eq 0
    [ $rc -eq 0 ] || show "$1" 30
}
# wait_lines FILE N SECONDS: until FILE has N lines.
wait_lines() {
    for _ in $(seq $(($3 * 20))); do
        [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

python3 -c '
for i in range(20000): print("{\"n\":%d,\"s\":\"event %d\"}" % (i, i))' >data.jsonl
for _ in 1 2 3; do cat data.jsonl; done >expected.jsonl

# a bench source at a fixed rate (20 000 events/s, transactional) through a pipeline to a file
cat >load.troy <<TROY
define flow load
flow
  define connector gen from bench
  with codec = "json", config = {"path": "$work/data.jsonl", "iters": 3, "interval": 50000, "is_transactional": true}
  end;
  define connector out from file
  with codec = "json", postprocessors = ["separate"], config = {"path": "$work/out.jsonl", "mode": "truncate"}
  end;
  define pipeline pass
  pipeline
    select event from in into out;
  end;
  create connector gen;
  create connector out;
  create pipeline pass;
  connect /connector/gen to /pipeline/pass;
  connect /pipeline/pass to /connector/out;
end;
deploy flow load;
TROY

# --- reload a codec and a connector ten times each under load: nothing lost, duplicated or
# reordered --------------------------------------------------------------------------------------
start run1.log load.troy || exit 1
sleep 0.3
reloads=0
for i in $(seq 10); do
    adm plugin reload bench >>reload.out 2>>reload.err && reloads=$((reloads + 1))
    adm plugin reload json >>reload.out 2>>reload.err && reloads=$((reloads + 1))
    # the sink's plugin too: it truncates the file when it starts, but not when it takes over
    adm plugin reload file >>reload.out 2>>reload.err && reloads=$((reloads + 1))
    sleep 0.05
done
check "30 reloads under load succeed (got $reloads)" test $reloads -eq 30
[ $reloads -eq 30 ] || show reload.err
check "each reload says what moved" test "$(grep -c '^reloaded 0.1.0 -> 0.1.0: [12] stages\? moved in' reload.out)" -eq 30
# unload refused while in use
adm plugin unload bench >unload.out 2>unload.err
rc=$?
check "unload of a plugin in use is refused" test $rc -eq 1
check "the refusal names the user and the way out" grep -q "plugin 'bench' is in use by load::gen (connector bench).*unload with drain" unload.err
wait_lines out.jsonl 60000 20
stop run1.log
check "every event reached the sink once, in order, across the reloads (count and checksum)" \
    test "$(sha256sum <out.jsonl)" = "$(sha256sum <expected.jsonl)"
[ "$(sha256sum <out.jsonl)" = "$(sha256sum <expected.jsonl)" ] || echo "  got $(wc -l <out.jsonl) lines, want 60000"
check "each old build was unmapped" test "$(grep -c 'unloaded plugin bench 0.1.0' run1.log)" -ge 9

# --- an operator that holds events (generic::batch) reloaded under load: its held events move
# to the new build, none is lost ----------------------------------------------------------------
sed -e 's/deploy flow load;/deploy flow batched;/' -e 's/define flow load/define flow batched/' \
    -e 's|out.jsonl|batched.jsonl|' \
    -e 's|    select event from in into out;|    define operator b from generic::batch with count = 10 end;\n    create operator b;\n    select event from in into b;\n    select event from b into out;|' \
    load.troy >batched.troy
start run6.log batched.troy || exit 1
sleep 0.3
moved=0
for _ in $(seq 10); do
    adm plugin reload generic >/dev/null 2>>batched.err && moved=$((moved + 1))
    sleep 0.05
done
check "10 reloads of an operator holding events succeed (got $moved)" test $moved -eq 10
[ $moved -eq 10 ] || show batched.err
wait_lines batched.jsonl 6000 20
stop run6.log
check "every event held by the operator across its reloads arrived once, in order" python3 -c '
import json, sys
got = [json.dumps(e, sort_keys=True) for line in open("batched.jsonl") for e in json.loads(line)]
want = [json.dumps(json.loads(line), sort_keys=True) for line in open("expected.jsonl")]
sys.exit(0 if got == want else 1)'

# --- a file followed while it is written, half lines included, with the file connector, the
# separate preprocessor and the json codec reloaded: every line once, in order -----------------
cat >tail.troy <<TROY
define flow tail
flow
  define connector in from file
  with codec = "json", preprocessors = ["separate"], config = {"path": "$work/growing.jsonl", "follow": true, "poll_interval_ms": 5}
  end;
  define connector out from file
  with codec = "json", postprocessors = ["separate"], config = {"path": "$work/tail.out", "mode": "truncate"}
  end;
  define pipeline pass
  pipeline
    select event from in into out;
  end;
  create connector in;
  create connector out;
  create pipeline pass;
  connect /connector/in to /pipeline/pass;
  connect /pipeline/pass to /connector/out;
end;
deploy flow tail;
TROY
: >growing.jsonl
start run5.log tail.troy || exit 1
# each line in two writes, so reloads land between the halves of a line
python3 - "$work/growing.jsonl" <<'PY' &
import sys, time
with open(sys.argv[1], "a") as f:
    for i in range(3000):
        line = '{"n":%d,"s":"line %d"}\n' % (i, i)
        f.write(line[:7]); f.flush(); time.sleep(0.0002)
        f.write(line[7:]); f.flush()
PY
writer=$!
moved=0
for _ in 1 2 3 4 5; do
    for p in file separate json; do adm plugin reload $p >/dev/null 2>>tail.err && moved=$((moved + 1)); done
    sleep 0.05
done
wait $writer
check "15 reloads while a file is followed succeed (got $moved)" test $moved -eq 15
[ $moved -eq 15 ] || show tail.err
wait_lines tail.out 3000 20
stop run5.log
python3 -c '
for i in range(3000): print("{\"n\":%d,\"s\":\"line %d\"}" % (i, i))' >tail.want
check "a followed file arrives whole across reloads of its connector, preprocessor and codec" \
    test "$(sha256sum <tail.out)" = "$(sha256sum <tail.want)"
[ "$(sha256sum <tail.out)" = "$(sha256sum <tail.want)" ] || { echo "  got $(wc -l <tail.out) lines"; diff tail.want tail.out | head -5; }

# --- flows deployed and undeployed at run time; incompatible builds refused ---------------------
# flaky_flow NAME SOURCE_CONFIG SINK_CONFIG: a flaky source through a pipeline to a flaky sink
flaky_flow() {
    cat <<TROY
define flow $1
flow
  define connector src from flaky with codec = "json", config = $2 end;
  define connector dst from flaky with codec = "json", config = $3 end;
  define pipeline pass
  pipeline
    select event from in into out;
  end;
  create connector src;
  create connector dst;
  create pipeline pass;
  connect /connector/src to /pipeline/pass;
  connect /pipeline/pass to /connector/dst;
end;
deploy flow $1;
TROY
}
flaky_flow drainme '{"count": 2000000, "batch": 64, "report": "'"$work"'/report.txt"}' \
    '{"out": "'"$work"'/drained.out", "slow_ms": 1}' >flaky.troy
cat >broken.troy <<'TROY'
define flow broken
flow
  define connector c from nosuchkind with codec = "json" end;
  create connector c;
end;
deploy flow broken;
TROY
start run2.log || exit 1
adm flow list >list.out 2>&1
check "a runtime started with no flow lists none" test ! -s list.out
adm flow deploy flaky.troy >deploy.out 2>deploy.err
check "flow deploy of a kind no plugin provides fails" grep -q "flaky.troy:3:[0-9]*: .*flaky" deploy.err
adm plugin load "$flaky_dir/flaky.so" >load.out 2>load.err
check "plugin load makes a new kind available" grep -q "^loaded flaky 0.1.0 (connector flaky)" load.out
adm flow deploy "$work/broken.troy" >deploy.out 2>deploy.err
check "a bad deployment is refused with file:line:column" grep -q "broken.troy:3:[0-9]*: .*nosuchkind" deploy.err
[ $? -eq 0 ] || show deploy.err
adm flow deploy flaky.troy >deploy.out 2>deploy.err
check "flow deploy starts the flow" grep -q "^deployed drainme" deploy.out
adm flow deploy flaky.troy >/dev/null 2>deploy2.err
check "the same flow name is not deployed twice" grep -q "a flow named 'drainme' is deployed already" deploy2.err
sleep 0.3
adm flow status drainme >status.out 2>&1
check "flow status shows the flow's stages" grep -q "drainme::dst *in [1-9]" status.out
adm plugin reload flaky "$bin/flaky-abi2/flaky.so" >/dev/null 2>abi.err
check "a build for another ABI major is refused" grep -q "ABI major mismatch: built for ABI 2.0, this runtime provides ABI 1.2" abi.err
adm plugin reload flaky "$bin/flaky-v2/flaky.so" >/dev/null 2>v2.err
check "a build whose options the running configuration does not suit is refused" \
    grep -q "drainme::dst's configuration of connector flaky does not suit the new build: .*slow_ms" v2.err
[ $? -eq 0 ] || show v2.err
adm plugin list >plist.out
check "after refusals the old build still runs" grep -q "^flaky *0.1.0 *1.2 *active *2 " plist.out
n1=$(wc -l <drained.out)
sleep 0.2
check "the flow keeps moving after the refusals" test "$(wc -l <drained.out)" -gt "$n1"
# unload with drain: the flow drains (every emitted event acknowledged and written), then goes
adm plugin unload flaky --drain >unload.out 2>unload.err
check "unload --drain drains the flows using the plugin" grep -q "drained and undeployed: drainme" unload.out
emitted=$(sed -n 's/.*emitted=\([0-9]*\).*/\1/p' report.txt)
acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' report.txt)
written=$(wc -l <drained.out)
check "drained: emitted = acknowledged = written ($emitted, $acked, $written)" test -n "$emitted" -a "$emitted" = "$acked" -a "$acked" = "$written"
sleep 0.5
adm plugin list >plist.out
check "an unload-safe plugin is unmapped once idle" test "$(grep -c '^flaky ' plist.out)" -eq 0
# not unload-safe: deinit runs, the library stays mapped, listed as retired
adm plugin load "$bin/flaky-sticky/flaky.so" >/dev/null 2>&1
adm flow deploy flaky.troy >/dev/null 2>&1
sleep 0.2
adm plugin unload flaky --drain >/dev/null 2>&1
sleep 0.3
adm plugin list >plist.out
check "a plugin that is not unload-safe is kept mapped and listed as retired" \
    grep -q "^flaky .* retired .*(library kept mapped: not unload-safe)" plist.out
adm plugin load "$bin/flaky-sticky/flaky.so" >/dev/null 2>load2.err
adm plugin list >plist.out
check "the same library loads again beside its retired copy" test "$(grep -c '^flaky ' plist.out)" -eq 2
# a transactional source and its sink move to a new build, again and again, while events are
# in flight: the source is saved only once idle, every event arrives
adm plugin load "$flaky_dir/flaky.so" >/dev/null 2>&1
flaky_flow replay '{"count": 20000, "batch": 64, "report": "'"$work"'/replay.txt"}' \
    '{"out": "'"$work"'/replay.out", "slow_ms": 1}' >replay.troy
adm flow deploy replay.troy >/dev/null 2>&1
moved=0
for _ in 1 2 3 4 5; do adm plugin reload flaky >/dev/null 2>>replay.err && moved=$((moved + 1)); done
check "a transactional source reloads five times (got $moved)" test $moved -eq 5
wait_lines replay.out 20000 20
adm flow undeploy replay >/dev/null 2>&1
check "its state is saved only once every event it emitted is settled" test "$(grep -c 'save failed' run2.log)" -eq 0
check "every event of the reloaded source arrived exactly once" test "$(sort -u replay.out | wc -l)" = 20000 -a "$(wc -l <replay.out)" = 20000
check "the source was told of every delivery" grep -q "acked=20000 failed=0" replay.txt
adm flow undeploy nosuch >/dev/null 2>und.err
check "undeploy of an unknown flow is an error" grep -q "no flow named 'nosuch' is deployed" und.err
adm flow deploy flaky.troy >/dev/null 2>&1
adm flow undeploy drainme >und.out 2>&1
check "flow undeploy drains" grep -q "^undeployed (drained in" und.out
adm flow list >list.out 2>&1
check "an undeployed flow is gone from the list" test ! -s list.out
stop run2.log

# --- HTTP on loopback, with a token -------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "s3cret-token-for-the-test" >token
"$temblor" run --admin-http "127.0.0.1:$port" --admin-token-file token 2>run3.log &
pid=$!
up=0
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/v1/status" && up=1 && break
    sleep 0.05
done
check "admin HTTP listens" test $up -eq 1
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/status")
check "no token: 401 (got $code)" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token-wrong-token" "http://127.0.0.1:$port/v1/status")
check "a wrong token: 401 (got $code)" test "$code" = 401
curl -s -H "Authorization: Bearer s3cret-token-for-the-test" "http://127.0.0.1:$port/v1/status" >status.json
check "GET /v1/status with the token" grep -q '"ok":true' status.json
curl -s -H "Authorization: Bearer s3cret-token-for-the-test" -d '{"cmd":"flow.deploy","path":"'"$work"'/load.troy"}' \
    "http://127.0.0.1:$port/v1/admin" >deploy.json
check "POST /v1/admin deploys a flow" grep -q '"flows":\["load"\]' deploy.json
code=$(curl -s -o bad.json -w '%{http_code}' -H "Authorization: Bearer s3cret-token-for-the-test" -d '{"cmd":"nope"}' \
    "http://127.0.0.1:$port/v1/admin")
check "a failed request: 400 with the reason (got $code)" test "$code" = 400 -a -n "$(grep -o 'unknown command' bad.json)"
"$temblor" run --admin-http "0.0.0.0:$port" --admin-token-file token >/dev/null 2>http.err
check "admin HTTP refuses a non-loopback address" grep -q "loopback only" http.err
stop run3.log

# --- tcp_server and unix_socket_server reloaded under traffic: their sockets move, clients stay
# connected ----------------------------------------------------------------------------------------
# echo_troy FILE KIND CONFIG: an echo flow through KIND's server
echo_troy() {
    cat >"$1" <<TROY
define flow echo
flow
  define connector server from $2
  with config = {$3}, preprocessors = ["separate"], codec = "json", postprocessors = ["separate"] end;
  define pipeline pass pipeline select event from in into out; end;
  create connector server;
  create pipeline pass;
  connect /connector/server to /pipeline/pass;
  connect /pipeline/pass to /connector/server;
end;
deploy flow echo;
TROY
}
cat >socket_clients.py <<'PY'
# Four connections to tcp:PORT or unix:PATH, each sending 1500 lines (a line every 2 ms, some
# cut across writes) while reading its answers; every answer must come back on its
# connection, in order, before any end of stream. Then a fifth connection, opened after the
# reloads, is answered too.
import json, socket, sys, threading, time
kind, where = sys.argv[1].split(":", 1)
errors = []

def connect():
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        s.connect(where)
        return s
    return socket.create_connection(("127.0.0.1", int(where)), timeout=60)

def client(k):
    try:
        s = connect()
        lines = [json.dumps({"c": k, "n": i}).encode() + b"\n" for i in range(1500)]
        def send():
            for i, l in enumerate(lines):
                if i % 7 == 0:
                    s.sendall(l[:5]); time.sleep(0.001); s.sendall(l[5:])
                else:
                    s.sendall(l)
                time.sleep(0.002)
        t = threading.Thread(target=send)
        t.start()
        buf = b""
        while buf.count(b"\n") < len(lines):
            d = s.recv(65536)
            if not d:
                errors.append("connection %d closed after %d answers" % (k, buf.count(b"\n")))
                break
            buf += d
        t.join()
        got = [json.loads(l) for l in buf.split(b"\n") if l]
        if got != [{"c": k, "n": i} for i in range(len(lines))]:
            errors.append("connection %d: %d answers, first wrong %r" % (k, len(got), next((g for i, g in enumerate(got) if g != {"c": k, "n": i}), None)))
        s.close()
    except Exception as e:
        errors.append("connection %d: %r" % (k, e))

ts = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
s = connect()
s.sendall(b'{"after": true}\n')
assert s.recv(100) == b'{"after":true}\n'
assert not errors, errors
print("OK")
PY
# reload_under_traffic NAME PLUGIN TARGET: the flow in NAME.log's runtime serves TARGET; the
# plugin is reloaded five times while socket_clients.py talks to it
reload_under_traffic() {
    python3 socket_clients.py "$3" >"$1_clients.out" 2>&1 &
    local clients=$! moved=0
    sleep 0.5
    for _ in 1 2 3 4 5; do
        adm plugin reload "$2" >/dev/null 2>>"$1_reload.err" && moved=$((moved + 1))
        sleep 0.3
    done
    wait $clients
    check "$1: reloaded five times under traffic (got $moved)" test $moved -eq 5 || show "$1_reload.err"
    check "$1: its clients stay connected and every line is answered in order on its connection" \
        grep -q OK "$1_clients.out" || { show "$1_clients.out"; show "$1.log" 30; }
    check "$1: the new builds took over the listening socket and the connections" \
        test "$(grep -c 'took over the listening socket and 4 connections' "$1.log")" -eq 5 || show "$1.log" 30
    stop "$1.log"
}
echo_troy tcp.troy tcp_server '"url": "127.0.0.1:0"'
if start tcp.log tcp.troy; then
    wait_for 5 has_port tcp.log
    reload_under_traffic tcp tcp "tcp:$(logged_port tcp.log)"
fi
echo_troy unix.troy unix_socket_server "\"path\": \"$work/echo.sock\""
if start unix.log unix.troy; then
    wait_for 5 test -S echo.sock
    reload_under_traffic unix unix_socket "unix:$work/echo.sock"
    check "unix: the socket file is removed at the end" test ! -e echo.sock
fi

# --- udp_server reloaded while datagrams arrive: its socket moves, none is dropped ---------------
cat >udp.troy <<TROY
define flow dgrams
flow
  define connector server from udp_server with config = {"url": "127.0.0.1:0"}, codec = "json" end;
  define connector out from file with config = {"path": "$work/udp.jsonl", "mode": "write"}, codec = "json",
    postprocessors = ["separate"] end;
  define pipeline pass pipeline select event from in into out; end;
  create connector server;
  create connector out;
  create pipeline pass;
  connect /connector/server to /pipeline/pass;
  connect /pipeline/pass to /connector/out;
end;
deploy flow dgrams;
TROY
udp_port() { sed -n 's/.*listening on udp 127\.0\.0\.1 port \([0-9]*\).*/\1/p' udp.log | head -1; }
if start udp.log udp.troy && wait_for 5 test -n "$(udp_port)"; then
    # 4000 datagrams at about 2000 a second, well within what the socket buffers
    python3 -c '
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(4000):
    s.sendto(json.dumps({"n": i}).encode(), ("127.0.0.1", int(sys.argv[1])))
    time.sleep(0.0005)' "$(udp_port)" &
    sender=$!
    sleep 0.3
    moved=0
    for _ in 1 2 3 4 5; do
        adm plugin reload udp >/dev/null 2>>udp_reload.err && moved=$((moved + 1))
        sleep 0.2
    done
    wait $sender
    check "udp: reloaded five times while datagrams arrive (got $moved)" test $moved -eq 5 || show udp_reload.err
    wait_lines udp.jsonl 4000 20
    check "udp: every datagram sent across the reloads arrived once ($(wc -l <udp.jsonl) lines)" python3 -c '
import json, sys
got = [json.loads(l)["n"] for l in open(sys.argv[1])]
assert sorted(got) == list(range(4000)), (len(got), len(set(got)))' udp.jsonl
    check "udp: the new builds took over the socket" test "$(grep -c 'took over the socket' udp.log)" -eq 5 || show udp.log 30
    stop udp.log
else
    bad "udp: the server never listened"
    show udp.log
fi

# --- --watch-plugins: a library rewritten in place is reloaded ----------------------------------
mkdir wp
cp "$plugins/tb-connector-bench.so" wp/
TEMBLOR_PLUGIN_PATH=$work/wp "$temblor" run --watch-plugins --admin "$sock" load.troy 2>run4.log &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
sleep 0.3
# the hostile way: cp writes into the very file (a process mapping it would crash)
cp "$plugins/tb-connector-bench.so" wp/tb-connector-bench.so
reloaded=0
for _ in $(seq 60); do
    grep -q "plugin bench reloaded" run4.log && reloaded=1 && break
    sleep 0.05
done
check "a rewritten library is reloaded (--watch-plugins)" test $reloaded -eq 1
wait_lines out.jsonl 60000 20
stop run4.log
check "the watched reload lost nothing" test "$(sha256sum <out.jsonl)" = "$(sha256sum <expected.jsonl)"

echo "reload: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
