#!/usr/bin/env bash
# e2e_ws.sh - end-to-end tests of the ws connectors with the real `temblor run` and an
# independent WebSocket implementation, Python's websockets library (Debian's
# python3-websockets, run with the system's python3):
#  - an echo server (ws_server -> pipeline -> the same ws_server, codec json): eight clients at
#    once send JSON messages and each gets exactly its own answers back; a binary message comes
#    back binary; a message over max_message is closed with 1009; garbage instead of a
#    handshake gets 400; the server exits 0 on SIGTERM, closing its clients with 1001;
#  - ws_client sending metronome ticks to a Python websockets server and writing what the server
#    answers to a file; the server closes the first connection (1000): the client reconnects
#    with backoff, and the answers of both connections come out;
#  - a refused handshake is named with its HTTP status, a port in use stops the run.
# usage: e2e_ws.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
# shellcheck source=../../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

if ! "$py" -c 'import websockets' 2>/dev/null; then
    echo "ws e2e: python3-websockets is not installed (apt-get install python3-websockets)"
    exit 1
fi


# --- the echo server -------------------------------------------------------------------------------
cat >echo.troy <<'TROY'
define flow echo
flow
  define connector server from ws_server
  with
    config = {"url": "127.0.0.1:0", "path": "/echo", "max_message": 1048576},
    codec = "json"
  end;
  define pipeline pass
  pipeline
    select event from in into out;
  end;
  create connector server;
  create pipeline pass;
  connect /connector/server to /pipeline/pass;
  connect /pipeline/pass to /connector/server;
end;
deploy flow echo;
TROY
"$temblor" run echo.troy 2>echo.err &
echo_pid=$!
pids+=("$echo_pid")
if ! wait_for 30 has_port echo.err; then
    bad "echo: the server never said where it listens"
    show echo.err
    echo "ws e2e: $passed passed, $failed failed"
    exit 1
fi
port=$(logged_port echo.err)

cat >client.py <<'PY'
# Clients of the echo server, one scenario per run; prints OK or raises.
import asyncio, json, socket, sys
import websockets

port = int(sys.argv[1])
what = sys.argv[2]
url = "ws://127.0.0.1:%d/echo" % port

async def one_client(k):
    async with websockets.connect(url, max_size=None) as ws:
        sent = [{"client": k, "n": i, "text": "message %d of client %d" % (i, k)} for i in range(100)]
        async def send():
            for r in sent:
                await ws.send(json.dumps(r))
        t = asyncio.ensure_future(send())
        got = []
        while len(got) < len(sent):
            m = await asyncio.wait_for(ws.recv(), 60)
            assert isinstance(m, str), "a text message, not %r" % type(m)
            got.append(json.loads(m))
        await t
        assert got == sent, "client %d got %r" % (k, got[:3])

async def main():
    if what == "concurrent":
        await asyncio.gather(*[one_client(k) for k in range(8)])
    elif what == "binary":
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"b": 1}).encode())
            m = await asyncio.wait_for(ws.recv(), 60)
            assert isinstance(m, bytes) and json.loads(m) == {"b": 1}, repr(m)
    elif what == "too-big":
        async with websockets.connect(url, max_size=None) as ws:
            try:
                await ws.send(json.dumps({"big": "x" * (2 << 20)}))
                await asyncio.wait_for(ws.recv(), 60)
                raise AssertionError("no close")
            except websockets.ConnectionClosed as e:
                assert e.code == 1009, e.code
        # the server still serves others
        await one_client(99)
    elif what == "garbage":
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(b"\x00\xffnot a handshake\r\n\r\n")
        resp = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            resp += d
        assert resp.startswith(b"HTTP/1.1 400 "), resp
    elif what == "wrong-path":
        try:
            async with websockets.connect("ws://127.0.0.1:%d/nope" % port):
                raise AssertionError("accepted")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 404, e.status_code
    elif what == "hold":
        # stays connected until the server goes away: its close code is printed
        async with websockets.connect(url) as ws:
            open(sys.argv[3], "w").write("connected")
            try:
                await asyncio.wait_for(ws.recv(), 120)
            except websockets.ConnectionClosed as e:
                print("closed", e.code)
                return
    print("OK")

asyncio.run(main())
PY

for scenario in concurrent binary too-big garbage wrong-path; do
    if timeout 120 "$py" client.py "$port" "$scenario" >py.out 2>&1; then ok; else
        bad "echo: $scenario"
        show py.out 20
        show echo.err 20
    fi
done
grep -q 'a message over max_message, closed with status 1009' echo.err && ok ||
    { bad "echo: the message over max_message is reported"; show echo.err; }
grep -q 'refused the handshake with 400' echo.err && ok || { bad "echo: the garbage handshake is reported"; show echo.err; }
"$py" client.py "$port" hold held.txt >hold.out 2>&1 &
hold_pid=$!
pids+=("$hold_pid")
wait_for 30 test -s held.txt || bad "echo: the holding client never connected"
kill -TERM "$echo_pid"
wait "$echo_pid"
rc=$?
check "echo: exits 0 on SIGTERM (got $rc)" test $rc -eq 0
wait "$hold_pid"
grep -q 'closed 1001' hold.out && ok || { bad "echo: a client still connected is closed with 1001"; show hold.out; }

# --- ws_client to a Python websockets server that closes the first connection --------------------------
cat >server.py <<'PY'
# Accepts two connections from temblor's ws_client: answers the first message of the first and
# closes it (1000); answers three messages on the second and keeps it open. Logs what it read.
import asyncio, json, os, sys
import websockets

log = open(sys.argv[2], "w", buffering=1)
conns = 0

async def handler(ws, path="/"):
    global conns
    conns += 1
    conn = conns
    want = 1 if conn == 1 else 3
    log.write("path %s %s\n" % (conn, getattr(ws, "path", path)))
    log.write("header %s %s\n" % (conn, ws.request_headers.get("X-Token")))
    for _ in range(want):
        m = await ws.recv()
        log.write("conn %d: %s\n" % (conn, json.dumps(json.loads(m), sort_keys=True)))
        await ws.send(json.dumps({"from": "server", "conn": conn}))
    if conn == 1:
        await ws.close(1000, "first done")
    else:
        log.write("done\n")
        await asyncio.sleep(120)

async def main():
    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        open(sys.argv[1] + ".tmp", "w").write(str(port))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        await asyncio.sleep(180)

asyncio.run(main())
PY
"$py" server.py port.txt server.log &
pids+=("$!")
if ! wait_for 30 test -s port.txt; then
    bad "client: the Python server never started"
else
    sport=$(cat port.txt)
    cat >client.troy <<TROY
define flow ship
flow
  define connector tick from metronome with config = {"interval": 50} end;
  define connector upstream from ws_client
  with
    config = {"url": "ws://127.0.0.1:$sport/feed", "headers": {"X-Token": "t0k3n"}},
    codec = "json",
    reconnect = {"retry": {"interval_ms": 100, "max_interval_ms": 500}}
  end;
  define connector answers from file
  with
    config = {"path": "$work/answers.jsonl", "mode": "write"},
    codec = "json",
    postprocessors = ["separate"]
  end;
  define pipeline out pipeline select {"tick": event.id} from in into out; end;
  define pipeline back pipeline select event from in into out; end;
  create connector tick;
  create connector upstream;
  create connector answers;
  create pipeline out;
  create pipeline back;
  connect /connector/tick to /pipeline/out;
  connect /pipeline/out to /connector/upstream;
  connect /connector/upstream to /pipeline/back;
  connect /pipeline/back to /connector/answers;
end;
deploy flow ship;
TROY
    "$temblor" run client.troy 2>client.err &
    client_pid=$!
    pids+=("$client_pid")
    both_answers() { grep -q '"conn":1' answers.jsonl 2>/dev/null && grep -q '"conn":2' answers.jsonl; }
    wait_for 60 grep -q done server.log && ok || { bad "client: the server saw both connections"; show server.log; show client.err 30; }
    wait_for 60 both_answers && ok || { bad "client: the answers of both connections come out"; show client.err 30; }
    kill -TERM "$client_pid"
    wait "$client_pid"
    rc=$?
    check "client: exits 0 on SIGTERM (got $rc)" test $rc -eq 0
    grep -q '^path 1 /feed' server.log && grep -q '^header 1 t0k3n' server.log && ok ||
        { bad "client: the path and the extra header reach the server"; show server.log; }
    "$py" - server.log <<'PY' && ok || { bad "client: the server read ticks"; show server.log; }
import json, sys
rows = [l.split(": ", 1) for l in open(sys.argv[1]) if l.startswith("conn")]
assert [r[0] for r in rows] == ["conn 1", "conn 2", "conn 2", "conn 2"], rows
ticks = [json.loads(r[1])["tick"] for r in rows]
assert ticks[1:] == sorted(ticks[1:]) and ticks[1] > ticks[0], ticks
PY
    grep -q 'the server closed the connection with status 1000' client.err && grep -q 'retrying in' client.err && ok ||
        { bad "client: the lost connection is logged with its reason, and retried"; show client.err 30; }
fi

# --- errors ----------------------------------------------------------------------------------------------
# a handshake refused: a plain HTTP server answers 403, and the client's log names the status
"$py" -c '
import http.server, os, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(403, "Go Away"); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()' http.txt &
pids+=("$!")
if wait_for 30 test -s http.txt; then
    hport=$(cat http.txt)
    sed "s#ws://127.0.0.1:$sport/feed#ws://127.0.0.1:$hport/x#" client.troy >refused.troy
    timeout 60 "$temblor" run refused.troy 2>refused.err &
    rpid=$!
    pids+=("$rpid")
    wait_for 30 grep -q 'refused the WebSocket handshake: HTTP 403 Go Away' refused.err && ok ||
        { bad "a refused handshake names the HTTP status"; show refused.err; }
    kill -TERM "$rpid" 2>/dev/null
    wait "$rpid" 2>/dev/null
else
    bad "the HTTP helper never started"
fi

"$py" -c '
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
open(sys.argv[1], "w").write(str(l.getsockname()[1])); time.sleep(120)' taken.txt &
pids+=("$!")
if wait_for 30 test -s taken.txt; then
    taken=$(cat taken.txt)
    sed "s/127.0.0.1:0/127.0.0.1:$taken/" echo.troy >taken.troy
    timeout 60 "$temblor" run taken.troy 2>err.txt
    check "a port in use exits 1" test $? -eq 1
    grep -q "cannot listen on 127.0.0.1:$taken: Address already in use" err.txt && ok ||
        { bad "a port in use is named"; show err.txt; }
else
    bad "the port-taking helper never started"
fi
sed 's#"url": "127.0.0.1:0"#"url": "http://127.0.0.1:1"#' echo.troy >badurl.troy
timeout 60 "$temblor" run badurl.troy 2>err.txt
check "a bad url exits 1" test $? -eq 1
grep -q 'only ws:// and wss:// are understood' err.txt && ok || { bad "a bad url is named"; show err.txt; }

echo "ws e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
