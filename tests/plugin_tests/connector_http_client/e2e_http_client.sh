#!/usr/bin/env bash
# e2e_http_client.sh - end-to-end tests of the http_client connector with the real `temblor run`,
# against http_peer.py (Python's stdlib), which answers 503 to every third request:
#  - a file of JSON lines -> pipeline -> http_client (batches of 10, retries): every line
#    reaches the server exactly once in the requests it accepted, the run ends by itself when
#    the file does (drain waits for the requests in flight), and exits 0;
#  - the same with the responses connected: the server echoes each body, the echoes come out of
#    http_client's source half as JSON lines (preprocessors, codec) into a file, every line once;
#  - a bad url stops the run with the option and the value named.
# usage: e2e_http_client.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

python3 "$here/http_peer.py" port.txt requests.log --flaky-every 3 &
pids+=("$!")
if ! wait_for 30 nonempty port.txt; then
    bad "the Python peer never started"
    echo "http_client e2e: $passed passed, $failed failed"
    exit 1
fi
port=$(cat port.txt)

n=500
python3 -c "
import json
with open('in.jsonl', 'w') as f:
    for i in range($n):
        f.write(json.dumps({'n': i, 'text': 'line %d' % i}) + '\n')"

# flow NAME PATH [RESPONSES]: a flow shipping in.jsonl to PATH; with RESPONSES the responses go
# to answers.jsonl
flow() {
    local name=$1 path=$2 responses=${3:-}
    cat <<TROY
define flow $name
flow
  define connector input from file
  with
    config = {"path": "$work/in.jsonl"},
    preprocessors = ["separate"],
    codec = "json"
  end;
  define connector web from http_client
  with
    config = {
      "url": "http://127.0.0.1:$port$path",
      "headers": {"Content-Type": "application/x-ndjson"},
      "batch_size": 10, "linger_ms": 20, "concurrency": 4, "queue_size": 4,
      "max_retries": 10, "backoff_ms": 10, "max_backoff_ms": 100
    },
    codec = "json",
    postprocessors = ["separate"],
    preprocessors = ["separate"]
  end;
  define pipeline out pipeline select event from in into out; end;
  create connector input;
  create connector web;
  create pipeline out;
  connect /connector/input to /pipeline/out;
  connect /pipeline/out to /connector/web;
TROY
    if [ -n "$responses" ]; then
        cat <<TROY
  define connector answers from file
  with
    config = {"path": "$work/answers.jsonl", "mode": "write"},
    codec = "json",
    postprocessors = ["separate"]
  end;
  define pipeline back pipeline select event from in into out; end;
  create connector answers;
  create pipeline back;
  connect /connector/web to /pipeline/back;
  connect /pipeline/back to /connector/answers;
TROY
    fi
    echo "end;"
    echo "deploy flow $name;"
}

# check_once PATH FILE...: every n of in.jsonl is in the bodies the server accepted on PATH
# exactly once, and the server refused some requests on the way
check_once() {
    python3 - "$@" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
reqs = [json.loads(l) for l in open("requests.log") if l.endswith("\n")]
mine = [r for r in reqs if r["path"] == path]
ok = [r for r in mine if r["status"] == 200]
refused = [r for r in mine if r["status"] == 503]
assert refused, "the server refused nothing"
got = [json.loads(l)["n"] for r in ok for l in r["body"].split("\n") if l]
assert sorted(got) == list(range(n)), (len(got), sorted(set(range(n)) - set(got))[:10])
assert all(r["headers"]["content-type"] == ["application/x-ndjson"] for r in mine)
assert max(len([l for l in r["body"].split("\n") if l]) for r in ok) > 1, "no batching"
print("%d requests, %d refused, %d lines" % (len(mine), len(refused), len(got)))
PY
}

# --- sink only: the run ends with the file ---------------------------------------------------------
flow ship /ingest >ship.troy
timeout 120 "$temblor" run ship.troy 2>ship.err
rc=$?
check "sink only: the run ends by itself and exits 0 (got $rc)" test $rc -eq 0
if check_once /ingest $n >check.out 2>&1; then ok; echo "sink only: $(cat check.out)"; else
    bad "sink only: every line arrived exactly once"
    show check.out
    show ship.err 30
fi
grep -q 'HTTP 503; retrying in' ship.err && ok || { bad "sink only: the 503s are retried and logged"; show ship.err; }

# --- with the responses -----------------------------------------------------------------------------
flow echo /echo yes >echo.troy
"$temblor" run echo.troy 2>echo.err &
echo_pid=$!
pids+=("$echo_pid")
lines() { [ -f answers.jsonl ] && [ "$(wc -l <answers.jsonl)" -ge $n ]; }
wait_for 120 lines && ok || { bad "responses: every echo comes out"; show echo.err 30; }
sleep 0.5 # nothing more may come
kill -TERM "$echo_pid"
wait "$echo_pid"
rc=$?
check "responses: exits 0 on SIGTERM (got $rc)" test $rc -eq 0
if check_once /echo $n >check.out 2>&1; then ok; echo "responses: $(cat check.out)"; else
    bad "responses: every line arrived exactly once"
    show check.out
fi
python3 - $n <<'PY' && ok || { bad "responses: the echoed lines come out once each"; show answers.jsonl; }
import json, sys
n = int(sys.argv[1])
got = sorted(json.loads(l)["n"] for l in open("answers.jsonl") if l.strip())
assert got == list(range(n)), (len(got), got[:10])
PY

# --- a bad url --------------------------------------------------------------------------------------
sed 's|"url": "http://127.0.0.1:[0-9]*/ingest"|"url": "ftp://127.0.0.1/ingest"|' ship.troy >bad.troy
timeout 60 "$temblor" run bad.troy 2>err.txt
check "a bad url exits 1" test $? -eq 1
grep -q 'url "ftp://127.0.0.1/ingest": the scheme must be http:// or https://' err.txt && ok ||
    { bad "a bad url is named"; show err.txt; }

echo "http_client e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
