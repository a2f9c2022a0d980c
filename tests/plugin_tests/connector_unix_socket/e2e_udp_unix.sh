#!/usr/bin/env bash
# e2e_udp_unix.sh - end-to-end tests of the udp and unix_socket connectors under the real
# `temblor run`: a unix_socket_server echoing JSON lines on the connection they came from
# (separate, json, a passthrough pipeline, the same connector's sink), fed by python3 clients
# that interleave, cut lines across writes, send garbage and vanish mid-line; a stale socket
# file replaced and the file removed at the end; a second server refused on a live path;
# udp_server into a file, fed by python3; unix_socket_client into a server run by python3,
# reconnecting while it is away.
# usage: e2e_udp_unix.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
cd "$work" || exit 1

# shellcheck source=../../engine/checks.sh
source "$src/tests/engine/checks.sh"

# start FILE.troy: runs it in the background (stderr in FILE.err); its pid in $pid
start() {
    "$temblor" run "$1" 2>"${1%.troy}.err" &
    pid=$!
    pids+=("$pid")
}
# stop: SIGTERMs $pid and returns its exit status
stop() {
    kill -TERM "$pid"
    wait "$pid"
}
# wait_for SECONDS COMMAND...: polls COMMAND until it succeeds
wait_for() {
    local until=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge "$until" ] && return 1
        sleep 0.05
    done
}

# --- unix_socket_server: an echo on each connection -------------------------------------------------
sock=$work/echo.sock
# a stale socket file, as a crashed server leaves it: the server replaces it
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
cat >echo.troy <<TROY
define flow main
flow
  define connector srv from unix_socket_server
  with
    config = {"path": "$sock", "permissions": "0600", "max_connections": 16},
    preprocessors = ["separate"],
    codec = "json",
    postprocessors = ["separate"]
  end;
  define pipeline echo
  pipeline
    select event from in into out;
  end;
  create connector srv;
  create pipeline echo;
  connect /connector/srv to /pipeline/echo;
  connect /pipeline/echo to /connector/srv;
end;
deploy flow main;
TROY
start echo.troy
python3 - "$sock" <<'PY' >echo.out 2>&1 && ok || { bad "unix echo: every client gets its own lines back"; show echo.out 30; show echo.err; }
import json, os, socket, sys, time
path = sys.argv[1]

def connect():
    deadline = time.time() + 30
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(30)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)

def read_lines(s, n):
    buf = b""
    while buf.count(b"\n") < n:
        chunk = s.recv(65536)
        assert chunk, "connection closed after %r" % buf[-200:]
        buf += chunk
    lines = buf.split(b"\n")
    assert len(lines) == n + 1 and lines[-1] == b"", buf[-200:]
    return [json.loads(l) for l in lines[:-1]]

clients = [connect() for _ in range(5)]
assert (os.stat(path).st_mode & 0o777) == 0o600, oct(os.stat(path).st_mode)
# a client gone mid-line: nothing of it reaches the others
gone = connect()
gone.sendall(b'{"from": "gone", "cut": ')
gone.close()
# lines interleaved across clients, a line cut across writes, garbage on one of them
for round in range(50):
    for i, s in enumerate(clients):
        line = json.dumps({"client": i, "round": round}).encode() + b"\n"
        if round % 7 == 3:
            s.sendall(line[:5]); time.sleep(0.001); s.sendall(line[5:])
        else:
            s.sendall(line)
clients[2].sendall(b"this is not json\n")
clients[2].sendall(json.dumps({"client": 2, "round": "after garbage"}).encode() + b"\n")
for i, s in enumerate(clients):
    want = [{"client": i, "round": r} for r in range(50)]
    if i == 2:
        want.append({"client": 2, "round": "after garbage"})
    got = read_lines(s, len(want))
    assert got == want, (i, got[:3], want[:3])
# a line of 1 MiB comes back whole
big = {"client": 0, "blob": "x" * (1 << 20)}
clients[0].sendall(json.dumps(big).encode() + b"\n")
assert read_lines(clients[0], 1) == [big]
# a client that shuts its writing down still gets the answer to its last line
s = clients[1]
s.sendall(b'{"last": true}\n')
s.shutdown(socket.SHUT_WR)
assert read_lines(s, 1) == [{"last": True}]
for s in clients:
    s.close()
print("ok")
PY
stop
check "unix echo: exits 0 on SIGTERM" test $? -eq 0
grep -q 'removed a stale socket file' echo.err && ok || { bad "unix echo: the stale socket file is replaced"; show echo.err; }
grep -q 'event failed.*json' echo.err && ok || { bad "unix echo: the garbage line is logged with its reason"; show echo.err; }
check "unix echo: the socket file is removed at the end" test ! -e "$sock"

# a second server on the path of a live one is refused, and says why
start echo.troy
first=$pid
wait_for 30 test -S "$sock" || bad "unix echo: the server listens again"
start echo.troy
wait "$pid"
check "unix: a second server on a live path exits 1" test $? -eq 1
grep -q 'another server is listening' echo.err && ok || { bad "unix: a live path is refused with the reason"; show echo.err; }
pid=$first
stop
check "unix: the first server was undisturbed and exits 0" test $? -eq 0

# --- udp_server into a file ----------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >udp.troy <<TROY
define flow main
flow
  define connector in from udp_server with config = {"url": "127.0.0.1:$port", "buf_size": 1024}, codec = "json" end;
  define connector out from file
  with
    config = {"path": "$work/udp.jsonl", "mode": "truncate"}, codec = "json-sorted", postprocessors = ["separate"]
  end;
  define connector errors from file
  with
    config = {"path": "$work/udp-errors.jsonl", "mode": "truncate"}, codec = "json", postprocessors = ["separate"]
  end;
  define pipeline keep
  pipeline
    select {"n": event.n, "peer": \$udp_server.peer.host} from in into out;
  end;
  define pipeline why
  pipeline
    select event.error from in into out;
  end;
  create connector in;
  create connector out;
  create connector errors;
  create pipeline keep;
  create pipeline why;
  connect /connector/in to /pipeline/keep;
  connect /pipeline/keep to /connector/out;
  connect /connector/in/err to /pipeline/why;
  connect /pipeline/why to /connector/errors;
end;
deploy flow main;
TROY
start udp.troy
wait_for 30 grep -q 'listening on udp' udp.err || { bad "udp: the server listens"; show udp.err; }
python3 - "$port" <<'PY' >udp.out 2>&1 || { bad "udp: python3 sends"; show udp.out; }
import json, socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(500):
    s.sendto(json.dumps({"n": n}).encode(), ("127.0.0.1", port))
    if n % 10 == 9:
        time.sleep(0.01)  # loopback drops nothing at this pace, even on a loaded machine
s.sendto(b"garbage", ("127.0.0.1", port))
s.sendto(json.dumps({"n": -1, "pad": "y" * 2000}).encode(), ("127.0.0.1", port))
PY
have_all() { [ "$(wc -l <udp.jsonl 2>/dev/null || echo 0)" -ge 500 ] && [ "$(wc -l <udp-errors.jsonl 2>/dev/null || echo 0)" -ge 2 ]; }
wait_for 30 have_all
stop
check "udp: exits 0 on SIGTERM" test $? -eq 0
python3 - "$work/udp.jsonl" <<'PY' && ok || { bad "udp: every datagram is one record, with its peer"; show udp.jsonl; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(r["n"] for r in rows) == list(range(500)), len(rows)
assert all(r["peer"] == "127.0.0.1" for r in rows)
PY
grep -q 'json codec' udp-errors.jsonl && grep -q 'datagram of 2020 bytes truncated to buf_size (1024 bytes)' udp-errors.jsonl &&
    test "$(wc -l <udp-errors.jsonl)" -eq 2 && ok || { bad "udp: garbage and an oversized datagram reach err with reasons"; show udp-errors.jsonl; }

# --- unix_socket_client into a python3 server, which goes away and comes back -------------------------
csock=$work/peer.sock
cat >client.troy <<TROY
define flow main
flow
  define connector tick from metronome with config = {"interval": 20} end;
  define connector cli from unix_socket_client
  with
    config = {"path": "$csock"}, codec = "json", postprocessors = ["separate"],
    reconnect = {"retry": {"interval_ms": 50, "growth_rate": 1.5, "max_interval_ms": 200}}
  end;
  define pipeline p pipeline select {"id": event.id} from in into out; end;
  create connector tick;
  create connector cli;
  create pipeline p;
  connect /connector/tick to /pipeline/p;
  connect /pipeline/p to /connector/cli;
end;
deploy flow main;
TROY
python3 - "$csock" >server.out 2>&1 <<'PY' &
import json, os, socket, sys, time
path = sys.argv[1]
def serve(lines_wanted):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.settimeout(30)
    conn, _ = srv.accept()
    conn.settimeout(30)
    buf = b""
    while buf.count(b"\n") < lines_wanted:
        chunk = conn.recv(4096)
        assert chunk, "closed early"
        buf += chunk
    conn.close()
    srv.close()
    os.unlink(path)
    return [json.loads(l) for l in buf.split(b"\n")[:lines_wanted]]
first = serve(5)
time.sleep(0.5)  # away: the client fails to connect and backs off
second = serve(5)
assert all("id" in r for r in first + second), (first, second)
print("served", first[0]["id"], second[-1]["id"])
PY
server=$!
pids+=("$server")
sleep 0.2
start client.troy
wait "$server"
check "unix client: the python3 server got lines before and after it went away (see server.out)" test $? -eq 0
stop
check "unix client: exits 0 on SIGTERM" test $? -eq 0
grep -q 'connect failed.*peer.sock' client.err && ok || { bad "unix client: connect failures are logged while the server is away"; show client.err; }

echo "udp/unix e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
