#!/usr/bin/env bash
# kafka_roundtrip.sh - both kafka connectors through `temblor run`, against a mock Kafka
# cluster (mock_cluster, producing nothing itself): a deployment reads JSON lines from a file
# and sends them with kafka_producer, key, partition and a header set by a script from each
# event; it exits 0 when the file ends, once every message is delivered (drain). Another
# deployment reads them back with kafka_consumer into a file, with their metadata, and stops
# on SIGTERM, committing what it wrote; run again in the same group, it reads nothing more.
# usage: kafka_roundtrip.sh TEMBLOR_BINARY MOCK_CLUSTER_BINARY SOURCE_DIR
set -u
temblor=$1
mock=$2
src=$3
count=200
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

# shellcheck source=../../engine/checks.sh
source "$src/tests/engine/checks.sh"

has_lines() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

"$mock" rt 2 0 1 status.txt >boot.txt 2>mock.err &
pids+=($!)
wait_for 30 nonempty boot.txt || { bad "the mock cluster starts"; show mock.err; exit 1; }
brokers=$(head -1 boot.txt | sed 's/\([^,]*\)/"\1"/g')

for n in $(seq 0 $((count - 1))); do printf '{"n":%d,"k":"key%d"}\n' "$n" $((n % 5)); done >in.jsonl

cat >produce.troy <<TROY
define flow main
flow
  define connector input from file
  with
    codec = "json",
    preprocessors = ["separate"],
    config = {"path": "$work/in.jsonl"}
  end;
  define connector kout from kafka_producer
  with
    codec = "json",
    config = {"brokers": [$brokers], "topic": "rt", "rdkafka_options": {"linger.ms": 20}}
  end;
  define pipeline route
  pipeline
    define script keyed
    script
      let \$kafka_producer = {"key": event.k, "partition": event.n % 2, "headers": {"src": "roundtrip"}};
      event
    end;
    create script keyed;
    select event from in into keyed;
    select event from keyed into out;
  end;
  create connector input;
  create connector kout;
  create pipeline route;
  connect /connector/input to /pipeline/route;
  connect /pipeline/route to /connector/kout;
end;
deploy flow main;
TROY
timeout 120 "$temblor" run produce.troy 2>produce.err
rc=$?
check "producing deployment exits 0 when its file ends (got $rc)" test $rc -eq 0
[ $rc -eq 0 ] || show produce.err 30

# consume NAME: reads topic rt in group rt into NAME.jsonl, in the background
consume() {
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector kin from kafka_consumer
  with
    codec = "json",
    config = {"brokers": [$brokers], "topics": ["rt"], "group_id": "rt",
              "rdkafka_options": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}}
  end;
  define connector out from file
  with
    codec = "json",
    postprocessors = ["separate"],
    config = {"path": "$work/$1.jsonl", "mode": "append"}
  end;
  define pipeline meta
  pipeline
    use std::string;
    select {"n": event.n, "k": event.k, "p": \$kafka_consumer.partition, "o": \$kafka_consumer.offset,
            "key": string::from_utf8_lossy(\$kafka_consumer.key),
            "src": string::from_utf8_lossy(\$kafka_consumer.headers.src),
            "topic": \$kafka_consumer.topic, "ts": \$kafka_consumer.timestamp}
    from in into out;
  end;
  create connector kin;
  create connector out;
  create pipeline meta;
  connect /connector/kin to /pipeline/meta;
  connect /pipeline/meta to /connector/out;
end;
deploy flow main;
TROY
    "$temblor" run "$1.troy" 2>"$1.err" &
    pids+=($!)
}

consume first
pid=$!
wait_for 90 has_lines first.jsonl $count && ok || { bad "every message is read back"; show first.err 30; }
kill -TERM $pid
wait $pid
check "consuming deployment exits 0 on SIGTERM" test $? -eq 0
python3 - "$count" first.jsonl <<'PY' && ok || { bad "what was read back, with its metadata"; show first.jsonl 5; }
import json, sys
count = int(sys.argv[1])
rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert sorted(r["n"] for r in rows) == list(range(count)), "each message once"
for r in rows:
    assert r["p"] == r["n"] % 2, r
    assert r["key"] == r["k"] == "key%d" % (r["n"] % 5), r
    assert r["src"] == "roundtrip" and r["topic"] == "rt" and r["ts"] > 1600000000000, r
for p in (0, 1):
    offsets = [r["o"] for r in rows if r["p"] == p]
    assert offsets == list(range(count // 2)), f"partition {p} out of order"
PY

# the stop committed everything: the group has nothing more to read
consume second
pid=$!
wait_for 60 grep -q "assigned 2 partitions" second.err || bad "the second run joins the group"
sleep 2
kill -TERM $pid
wait $pid
check "second run exits 0" test $? -eq 0
check "second run reads nothing: the first committed what it wrote" test ! -s second.jsonl

echo "kafka roundtrip: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
