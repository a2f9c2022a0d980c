#!/usr/bin/env bash
# sink_streams.sh - a long-running server keeps no state per connection it once had: the
# postprocessors the runtime keeps per stream on the sink side are freed when the connector
# says the stream is over ("temblor.streams/1"), read back through the `streams` field of
# the connector's stage in `flow status`:
#  - tcp_server echo (in process and in a plugin host), 300 connections one after another;
#  - http_server answering 200 requests;
#  - unix_socket_server echo, 100 connections;
#  - ws_server echo, 50 connections (when python3-websockets is installed);
#  - events of another source (tcp_server -> file sink) share one stream at the sink;
#  - tcp_client reconnecting five times keeps only its open connection's streams.
# Each case first checks that a connection held open is counted, so the test sees streams.
# usage: sink_streams.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir


# field STAGE NAME: a field of a stage's record (measurement "stage", or "connector" for the
# plugin's own) in flow status of the runtime serving admin.sock
field() {
    "$temblor" flow status --admin admin.sock --json | "$py" -c '
import json, sys
stage, name = sys.argv[1], sys.argv[2]
for f in json.load(sys.stdin)["flows"]:
    for m in f["metrics"]:
        if m["tags"].get("stage") == stage and name in m["fields"]:
            print(m["fields"][name])' "$1" "$2"
}
streams_are() { [ "$(field "$1" streams)" = "$2" ]; }
streams_at_least() { local n; n=$(field "$1" streams); [ -n "$n" ] && [ "$n" -ge "$2" ]; }

# run_flow NAME: runs NAME.troy with the admin socket; waits for it to answer
run_flow() {
    rm -f admin.sock
    "$temblor" run --sandbox degrade --admin admin.sock "$1.troy" 2>"$1.err" &
    pids+=("$!")
    wait_for 30 test -S admin.sock
}
stop_flow() {
    kill -TERM "${pids[-1]}"
    wait "${pids[-1]}"
    check "$1: exits 0 on SIGTERM" test $? -eq 0 || show "$1.err" 30
}

# echo_flow NAME KIND CONFIG [SINK]: KIND's source to a pipeline and back to KIND's sink (or
# to SINK, a connector definition named sink)
echo_flow() {
    local back=server
    [ -n "${4:-}" ] && back=sink
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector server from $2
  with config = {$3}, preprocessors = ["separate"], codec = "json", postprocessors = ["separate"] end;
  ${4:-}
  define pipeline pass pipeline select event from in into out; end;
  create connector server;
  $([ -n "${4:-}" ] && echo "create connector sink;")
  create pipeline pass;
  connect /connector/server to /pipeline/pass;
  connect /pipeline/pass to /connector/$back;
end;
deploy flow main;
TROY
}

cat >clients.py <<'PY'
# Clients: `held` keeps one connection open (prints READY, then waits for stdin to close);
# `many N` opens N connections one after another, each sending a line and reading its answer
# (or, with a file sink, only sending); prints OK.
import json, os, socket, sys
kind, target, what = sys.argv[1], sys.argv[2], sys.argv[3]

def connect():
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(target)
        return s
    return socket.create_connection(("127.0.0.1", int(target)), timeout=30)

def one(k, answer=True):
    s = connect()
    s.sendall(json.dumps({"k": k}).encode() + b"\n")
    if answer:
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(4096)
            assert d, "closed before the answer"
            buf += d
        assert json.loads(buf) == {"k": k}, buf
    s.close()

if what == "held":
    one(-1)  # a stream that came and went, for a start
    s = connect()
    s.sendall(b'{"held": true}\n')
    print("READY", flush=True)
    sys.stdin.read()
else:
    for k in range(int(sys.argv[4])):
        one(k, answer=(what == "many"))
    print("OK")
PY

# held_then_many NAME STAGE KIND TARGET N MODE: a held connection is counted; then N
# connections come and go, and every stream is freed
held_then_many() {
    local name=$1 stage=$2 kind=$3 target=$4 n=$5 mode=$6
    coproc HELD { "$py" clients.py "$kind" "$target" held; }
    local ready=""
    read -r -t 30 ready <&"${HELD[0]}"
    check "$name: a connection is held open ($ready)" test "$ready" = READY
    check "$name: the held connection's streams are counted" wait_for 20 streams_at_least "$stage" 1 ||
        echo "  | streams: $(field "$stage" streams)"
    # closing its stdin ends the held client (gone already if it failed)
    [ -n "${HELD[1]:-}" ] && eval "exec ${HELD[1]}>&-"
    [ -n "${HELD_PID:-}" ] && wait "$HELD_PID" 2>/dev/null
    timeout 120 "$py" clients.py "$kind" "$target" "$mode" "$n" >many.out 2>&1
    check "$name: $n connections one after another" grep -q OK many.out || show many.out
    check "$name: every stream freed once its connection closed (streams $(field "$stage" streams))" \
        wait_for 20 streams_are "$stage" 0
}

# --- tcp_server, in process and isolated --------------------------------------------------------
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for where in process isolated; do
    port=0 iso=""
    if [ $where = isolated ]; then
        port=$(free_port)
        iso=", \"isolation\": \"process\", \"grant\": {\"net-listen\": [\"127.0.0.1:$port\"]}"
    fi
    echo_flow "tcp_$where" tcp_server "\"url\": \"127.0.0.1:$port\"$iso"
    if run_flow "tcp_$where" && wait_for 30 has_port "tcp_$where.err"; then
        held_then_many "tcp ($where)" main::server tcp "$(logged_port "tcp_$where.err")" 300 many
        check "tcp ($where): 302 connections accepted" test "$(field main::server connections_accepted)" = 302
        stop_flow "tcp ($where)"
    else
        bad "tcp ($where): the server never listened"
        show "tcp_$where.err" 30
    fi
done

# --- unix_socket_server ---------------------------------------------------------------------------
echo_flow unix unix_socket_server "\"path\": \"$work/echo.sock\""
if run_flow unix && wait_for 30 test -S echo.sock; then
    held_then_many unix main::server unix "$work/echo.sock" 100 many
    stop_flow unix
else
    bad "unix: the server never listened"
    show unix.err 30
fi

# --- events of another source share one stream at a sink ----------------------------------------
echo_flow foreign tcp_server '"url": "127.0.0.1:0"' \
    "define connector sink from file with config = {\"path\": \"$work/out.jsonl\", \"mode\": \"write\"}, codec = \"json\", postprocessors = [\"separate\"] end;"
if run_flow foreign && wait_for 30 has_port foreign.err; then
    timeout 120 "$py" clients.py tcp "$(logged_port foreign.err)" send 100 >many.out 2>&1
    check "foreign: 100 connections send a line each" grep -q OK many.out || show many.out
    all_written() { [ "$(wc -l <out.jsonl)" -eq 100 ]; }
    check "foreign: the file sink writes every line" wait_for 20 all_written
    check "foreign: the file sink keeps one stream for them all (streams $(field main::sink streams))" \
        streams_are main::sink 1
    stop_flow foreign
else
    bad "foreign: the server never listened"
    show foreign.err 30
fi

# --- tcp_client: a reconnect ends the old connection's stream -----------------------------------------
# A server that greets each connection, reads the line echoed back, and closes it; five times,
# then it keeps the sixth open. The client's flow sends what it reads back to the same client.
cat >greeter.py <<'PY'
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0))
l.listen(4)
open(sys.argv[1], "w").write(str(l.getsockname()[1]))
log = open(sys.argv[2], "w", buffering=1)
keep = []
for n in range(6):
    c, _ = l.accept()
    c.settimeout(30)
    c.sendall(b'{"hello": %d}\n' % n)
    buf = b""
    while not buf.endswith(b"\n"):
        d = c.recv(4096)
        if not d:
            break
        buf += d
    log.write(buf.decode())
    if n < 5:
        c.close()
    else:
        keep.append(c)
log.write("done\n")
sys.stdin.read()
PY
coproc GREETER { "$py" greeter.py greeter.port greeter.log; }
pids+=("$GREETER_PID")
if wait_for 30 test -s greeter.port; then
    cat >client.troy <<TROY
define flow main
flow
  define connector client from tcp_client
  with config = {"url": "127.0.0.1:$(cat greeter.port)"}, preprocessors = ["separate"], codec = "json",
       postprocessors = ["separate"], reconnect = {"retry": {"interval_ms": 50, "max_interval_ms": 100}} end;
  define pipeline pass pipeline select event from in into out; end;
  create connector client;
  create pipeline pass;
  connect /connector/client to /pipeline/pass;
  connect /pipeline/pass to /connector/client;
end;
deploy flow main;
TROY
    run_flow client
    check "tcp_client: six connections, each greeting echoed back" wait_for 60 grep -q done greeter.log ||
        { show greeter.log; show client.err 30; }
    check "tcp_client: the five closed connections' streams are freed (streams $(field main::client streams))" \
        wait_for 20 streams_are main::client 2
    stop_flow client
else
    bad "tcp_client: the greeting server never started"
fi

# --- http_server ------------------------------------------------------------------------------------
cat >http.troy <<'TROY'
define flow main
flow
  define connector server from http_server
  with config = {"url": "127.0.0.1:0"}, codec = "json", postprocessors = ["separate"] end;
  define pipeline pass pipeline select event from in into out; end;
  create connector server;
  create pipeline pass;
  connect /connector/server to /pipeline/pass;
  connect /pipeline/pass to /connector/server;
end;
deploy flow main;
TROY
if run_flow http && wait_for 30 has_port http.err; then
    hport=$(logged_port http.err)
    "$py" - "$hport" >http.out 2>&1 <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for k in range(200):
    c.request("POST", "/echo", body=json.dumps({"k": k}), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and json.loads(body) == {"k": k}, (r.status, body)
print("OK")
PY
    check "http: 200 requests answered" grep -q OK http.out || show http.out
    check "http: every request's stream freed once answered (streams $(field main::server streams))" \
        wait_for 20 streams_are main::server 0
    stop_flow http
else
    bad "http: the server never listened"
    show http.err 30
fi

# --- ws_server -----------------------------------------------------------------------------------------
if "$py" -c 'import websockets' 2>/dev/null; then
    echo_flow ws ws_server '"url": "127.0.0.1:0", "path": "/echo"'
    if run_flow ws && wait_for 30 has_port ws.err; then
        "$py" - "$(logged_port ws.err)" >ws.out 2>&1 <<'PY'
import asyncio, json, sys
import websockets

async def main(port):
    for k in range(50):
        async with websockets.connect("ws://127.0.0.1:%s/echo" % port) as ws:
            await ws.send(json.dumps({"k": k}) + "\n")
            got = await asyncio.wait_for(ws.recv(), 30)
            assert json.loads(got) == {"k": k}, got
    print("OK")

asyncio.run(main(sys.argv[1]))
PY
        check "ws: 50 connections one after another" grep -q OK ws.out || show ws.out
        check "ws: every stream freed once its connection closed (streams $(field main::server streams))" \
            wait_for 20 streams_are main::server 0
        stop_flow ws
    else
        bad "ws: the server never listened"
        show ws.err 30
    fi
else
    echo "SKIP ws: python3-websockets is not installed"
fi

echo "sink streams e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
