#!/usr/bin/env bash
# e2e_http_roundtrip.sh - temblor's http_client against temblor's http_server, two `temblor run`
# processes on 127.0.0.1:
#  - 200 JSON lines read from a file become 200 requests. The server answers the first attempt
#    of every fifth one 503 (a script remembers what it has seen), so the client retries those.
#    Every line is answered 200 exactly once, and the answers come out of the client's source
#    with the response status and headers in $http_client.response. The server saw 240
#    requests: the 200 and the 40 retries.
#  - the same lines batched ten to a request (batch_size 10, one line each): about 20 requests
#    (the server's own `requests` metric, read through the admin socket), each answered with
#    its ten lines, which the client's `separate` splits back into 200 events.
# usage: e2e_http_roundtrip.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
# shellcheck source=../../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

lines_in() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
# served: how many requests the server has had (its http_server's own `requests` metric)
served() {
    "$temblor" flow status --admin server.sock --json | python3 -c '
import json, sys
for f in json.load(sys.stdin)["flows"]:
    for m in f["metrics"]:
        if m["measurement"] == "connector" and m["tags"]["stage"] == "server::api":
            print(m["fields"]["requests"])'
}

cat >server.troy <<'TROY'
define flow server
flow
  define connector api from http_server
  with
    config = {"url": "127.0.0.1:0", "content_type": "application/json"},
    preprocessors = ["separate"],
    codec = "json",
    postprocessors = ["separate"]
  end;
  define connector seen from file
  with
    config = {"path": "seen.jsonl", "mode": "truncate"},
    codec = "json",
    postprocessors = ["separate"]
  end;
  define pipeline answer
  pipeline
    define script flaky
    script
      let state = match state of
        case null => {}
        default => state
      end;
      let k = "#{event.n}";
      match $http_server.request.path == "/flaky" and event.n % 5 == 0 and not present state[k] of
        case true =>
          let state[k] = true;
          let $http_server.response = {"status": 503, "headers": {"retry-after": "0"}};
          {"busy": event.n}
        default =>
          let $http_server.response = {"headers": {"x-served-by": "temblor"}};
          {"ok": event.n, "run": $http_server.request.headers["x-run"]}
      end
    end;
    create script flaky;
    select event from in into flaky;
    select event from flaky into out;
  end;
  create connector api;
  create connector seen;
  create pipeline answer;
  connect /connector/api to /pipeline/answer;
  connect /pipeline/answer to /connector/api;
  connect /pipeline/answer to /connector/seen;
end;
deploy flow server;
TROY
"$temblor" run --admin server.sock server.troy 2>server.err &
pids+=($!)
if ! wait_for 30 has_port server.err; then
    bad "the server never said where it listens"
    show server.err
    echo "http roundtrip e2e: $passed passed, $failed failed"
    exit 1
fi
port=$(logged_port server.err)
for i in $(seq 0 199); do echo "{\"n\":$i}"; done >input.jsonl

# client NAME PATH EXTRA_CONFIG: a client flow sending input.jsonl to PATH, answers to NAME.jsonl
client() {
    cat >"$1.troy" <<TROY
define flow $1
flow
  define connector lines from file
  with
    config = {"path": "input.jsonl"},
    preprocessors = ["separate"],
    codec = "json"
  end;
  define connector web from http_client
  with
    config = {"url": "http://127.0.0.1:$port$2", "headers": {"x-run": "$1"}, "max_retries": 3, "backoff_ms": 10 $3},
    preprocessors = ["separate"],
    codec = "json",
    postprocessors = ["separate"]
  end;
  define connector answers from file
  with
    config = {"path": "$1.jsonl", "mode": "truncate"},
    codec = "json",
    postprocessors = ["separate"]
  end;
  define pipeline out
  pipeline
    select event from in into out;
  end;
  define pipeline back
  pipeline
    select {"status": \$http_client.response.status, "served_by": \$http_client.response.headers["x-served-by"],
            "answer": event} from in into out;
  end;
  create connector lines;
  create connector web;
  create connector answers;
  create pipeline out;
  create pipeline back;
  connect /connector/lines to /pipeline/out;
  connect /pipeline/out to /connector/web;
  connect /connector/web to /pipeline/back;
  connect /pipeline/back to /connector/answers;
end;
deploy flow $1;
TROY
    "$temblor" run "$1.troy" 2>"$1.err" &
    pids+=($!)
}

# --- one request a line, every fifth refused once ------------------------------------------
client flaky /flaky ""
if wait_for 60 lines_in flaky.jsonl 200; then ok; else
    bad "flaky: $(wc -l <flaky.jsonl 2>/dev/null) of 200 answers"
    show flaky.err
fi
sleep 0.5 # nothing more may come
check "flaky: 200 answers, no more" test "$(wc -l <flaky.jsonl)" = 200
check "flaky: all 200 answered 200, by the server, with its header" \
    test "$(grep -c '^{"status":200,"served_by":"temblor","answer":{"ok":[0-9]*,"run":"flaky"}}$' flaky.jsonl)" = 200
check "flaky: every line answered once" test "$(sed 's/.*"ok":\([0-9]*\).*/\1/' flaky.jsonl | sort -n | uniq | wc -l)" = 200
check "flaky: the server refused 40 first attempts" test "$(grep -c '"busy"' seen.jsonl)" = 40
check "flaky: and answered 200 requests" test "$(grep -c '"run":"flaky"' seen.jsonl)" = 200
before=$(served)
check "flaky: the server counted 240 requests" test "$before" = 240

# --- ten lines a request ----------------------------------------------------------------------
client batched /batch ', "batch_size": 10, "linger_ms": 50'
if wait_for 60 lines_in batched.jsonl 200; then ok; else
    bad "batched: $(wc -l <batched.jsonl 2>/dev/null) of 200 answers"
    show batched.err
fi
sleep 0.5
check "batched: 200 answer lines" test "$(wc -l <batched.jsonl)" = 200
check "batched: every line answered once" \
    test "$(grep -o '"ok":[0-9]*' batched.jsonl | sort -t: -k2 -n | uniq | wc -l)" = 200
check "batched: the server got the 200 lines" test "$(grep -c '"run":"batched"' seen.jsonl)" = 200
requests=$(($(served) - before))
# ten lines a request, unless linger_ms ended a batch early: far fewer than 200 in any case
check "batched: in 20 to 40 requests ($requests)" test "$requests" -ge 20 -a "$requests" -le 40

kill -TERM "${pids[@]}" 2>/dev/null
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
pids=()
echo "http roundtrip e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
