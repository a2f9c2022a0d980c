#!/usr/bin/env bash
# e2e_tcp.sh - end-to-end tests of the tcp connectors with the real `temblor run`:
#  - an echo server (tcp_server -> pipeline -> the same tcp_server), JSON lines from several
#    Python clients at once, each answered on its own connection; garbage, a client leaving
#    mid-line, a client half-closing and reading its answers, a client too slow to read what
#    it is sent (buffered, circuit breaker, nothing lost), a 40 MiB line (memory bounded);
#  - tcp_client sending metronome ticks to a Python server that closes the first connection:
#    the client reconnects with backoff, and what the server sends comes out of its source;
#  - a bad url and a port in use stop the run with the reason.
# usage: e2e_tcp.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
# shellcheck source=../../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

# the port a tcp_server logged it listens on, from FILE

# --- the echo server -------------------------------------------------------------------------------
echo_config='"url": "127.0.0.1:0", "linger_ms": 2000, "max_buffered": 262144'
cat >echo.troy <<TROY
define flow echo
flow
  define connector server from tcp_server
  with
    config = {$echo_config},
    preprocessors = ["separate"],
    codec = "json",
    postprocessors = ["separate"]
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
    echo "tcp e2e: $passed passed, $failed failed"
    exit 1
fi
port=$(logged_port echo.err)

cat >client.py <<'PY'
# Clients of the echo server, one scenario per run; prints OK or raises.
import json, socket, sys, threading, time

port = int(sys.argv[1])
what = sys.argv[2]

def connect():
    return socket.create_connection(("127.0.0.1", port), timeout=60)

def read_lines(s, n):
    buf = b""
    while buf.count(b"\n") < n:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return [json.loads(l) for l in buf.split(b"\n")[:n]]

def one_client(k, errors):
    try:
        s = connect()
        sent = [{"client": k, "n": i, "text": "line %d of client %d" % (i, k)} for i in range(50)]
        # in pieces that cut lines, so that lines span reads
        data = b"".join(json.dumps(r).encode() + b"\n" for r in sent)
        for i in range(0, len(data), 37):
            s.sendall(data[i:i + 37])
        got = read_lines(s, 50)
        if got != sent:
            errors.append("client %d got %r" % (k, got[:3]))
        s.close()
    except Exception as e:
        errors.append("client %d: %r" % (k, e))

if what == "concurrent":
    errors = []
    ts = [threading.Thread(target=one_client, args=(k, errors)) for k in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert not errors, errors
elif what == "garbage":
    s = connect()
    s.sendall(b"not json at all\n\x00\xff\xfe binary\n" + json.dumps({"after": "garbage"}).encode() + b"\n")
    assert read_lines(s, 1) == [{"after": "garbage"}]
elif what == "leave-mid-line":
    a = connect()
    b = connect()
    a.sendall(b'{"a": 1}\n{"cut": "in the mi')
    assert read_lines(a, 1) == [{"a": 1}]
    a.close()
    b.sendall(b'{"b": 2}\n')
    assert read_lines(b, 1) == [{"b": 2}]
elif what == "half-close":
    s = connect()
    s.sendall(b"".join(json.dumps({"n": i}).encode() + b"\n" for i in range(20)))
    s.shutdown(socket.SHUT_WR)   # no more from us; the answers still come, then the end
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    got = [json.loads(l) for l in buf.split(b"\n") if l]
    assert got == [{"n": i} for i in range(20)], got
elif what == "slow-reader":
    # a small window from the start (set before connect), and nothing read for a second
    # while 12 MB of lines go out, well past what the kernel buffers (tcp_wmem's 4 MiB): the
    # server buffers, pauses its source, loses nothing
    s = socket.socket()
    s.settimeout(60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.connect(("127.0.0.1", port))
    n = 120000
    data = b"".join(json.dumps({"n": i, "pad": "x" * 80}).encode() + b"\n" for i in range(n))
    t = threading.Thread(target=s.sendall, args=(data,))
    t.start()
    time.sleep(1)
    buf = bytearray()
    while buf.count(b"\n") < n:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
    t.join()
    got = [json.loads(l)["n"] for l in bytes(buf).split(b"\n") if l]
    assert got == list(range(n)), (len(got), got[:5])
elif what == "huge-line":
    s = connect()
    piece = b"x" * (1 << 20)
    s.sendall(b'{"big": "')
    for _ in range(40):
        s.sendall(piece)
    s.sendall(b'"}\n' + json.dumps({"after": "huge"}).encode() + b"\n")
    assert read_lines(s, 1) == [{"after": "huge"}]
print("OK")
PY

peak_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$echo_pid/status"; }

for scenario in concurrent garbage leave-mid-line half-close slow-reader; do
    if timeout 120 python3 client.py "$port" "$scenario" >py.out 2>&1; then ok; else
        bad "echo: $scenario"
        show py.out 20
    fi
done
grep -q 'circuit breaker opened' echo.err && grep -q 'circuit breaker closed' echo.err && ok ||
    { bad "echo: the slow reader opened the circuit breaker, and it closed again"; show echo.err; }
before=$(peak_kb)
if timeout 120 python3 client.py "$port" huge-line >py.out 2>&1; then ok; else
    bad "echo: a 40 MiB line is refused by separate and the next line answered"
    show py.out 20
fi
after=$(peak_kb)
# reading is chunked: the line costs at most separate's max_length (8 MiB) and a few batches,
# never its 40 MiB. (AddressSanitizer keeps freed memory in quarantine: no bound to check there.)
if nm "$temblor" 2>/dev/null | grep -q __asan_init; then
    ok
elif [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -lt 32768 ]; then
    ok
else
    bad "echo: memory grew from ${before} kB to ${after} kB for a 40 MiB line"
fi
grep -q 'record longer than max_length' echo.err && ok || { bad "echo: the huge line is reported"; show echo.err; }
grep -q 'json codec' echo.err && ok || { bad "echo: the garbage line is reported"; show echo.err; }
kill -TERM "$echo_pid"
wait "$echo_pid"
rc=$?
check "echo: exits 0 on SIGTERM (got $rc)" test $rc -eq 0

# --- tcp_client to a Python server that closes the first connection ----------------------------------
cat >server.py <<'PY'
# Accepts two connections from temblor's tcp_client: reads a line on the first, answers and
# closes it; reads three lines on the second, answers, and keeps it open. Logs what it read.
import json, os, socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0))
l.listen(4)
open(sys.argv[1] + ".tmp", "w").write(str(l.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
log = open(sys.argv[2], "w", buffering=1)
keep = []
for conn, want in ((1, 1), (2, 3)):
    c, _ = l.accept()
    c.settimeout(60)
    buf = b""
    while buf.count(b"\n") < want:
        d = c.recv(4096)
        if not d:
            break
        buf += d
    for line in buf.split(b"\n")[:want]:
        log.write("conn %d: %s\n" % (conn, json.dumps(json.loads(line), sort_keys=True)))
    c.sendall(json.dumps({"from": "server", "conn": conn}).encode() + b"\n")
    if conn == 1:
        c.close()
    else:
        keep.append(c)
log.write("done\n")
time.sleep(120)
PY
python3 server.py port.txt server.log &
pids+=("$!")
if ! wait_for 30 test -s port.txt; then
    bad "client: the Python server never started"
else
    sport=$(cat port.txt)
    cat >client.troy <<TROY
define flow ship
flow
  define connector tick from metronome with config = {"interval": 20} end;
  define connector upstream from tcp_client
  with
    config = {"url": "127.0.0.1:$sport"},
    codec = "json",
    postprocessors = ["separate"],
    preprocessors = ["separate"],
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
    # every line the server read was a tick, the second connection's after the first's
    python3 - server.log <<'PY' && ok || { bad "client: the server read ticks"; show server.log; }
import json, sys
rows = [l.split(": ", 1) for l in open(sys.argv[1]) if l.startswith("conn")]
assert [r[0] for r in rows] == ["conn 1", "conn 2", "conn 2", "conn 2"], rows
ticks = [json.loads(r[1])["tick"] for r in rows]
assert ticks[1:] == sorted(ticks[1:]) and ticks[1] > ticks[0], ticks
PY
    grep -q 'connection lost.*the server closed the connection' client.err && grep -q 'retrying in' client.err && ok ||
        { bad "client: the lost connection is logged with its reason, and retried"; show client.err 30; }
fi

# --- configuration and listening errors ----------------------------------------------------------------
sed "s/$echo_config/\"url\": \"127.0.0.1:http\"/" echo.troy >badurl.troy
timeout 60 "$temblor" run badurl.troy 2>err.txt
check "a bad url exits 1" test $? -eq 1
grep -q 'url "127.0.0.1:http": the port must be 0 to 65535' err.txt && ok || { bad "a bad url is named"; show err.txt; }

python3 -c '
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
open(sys.argv[1], "w").write(str(l.getsockname()[1])); time.sleep(120)' taken.txt &
pids+=("$!")
if wait_for 30 test -s taken.txt; then
    taken=$(cat taken.txt)
    sed "s/$echo_config/\"url\": \"127.0.0.1:$taken\"/" echo.troy >taken.troy
    timeout 60 "$temblor" run taken.troy 2>err.txt
    check "a port in use exits 1 (reconnect none)" test $? -eq 1
    grep -q "cannot listen on 127.0.0.1:$taken: Address already in use" err.txt && ok ||
        { bad "a port in use is named"; show err.txt; }
else
    bad "the port-taking helper never started"
fi

echo "tcp e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
