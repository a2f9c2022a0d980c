#!/usr/bin/env bash
# kafka_scale.sh - scale-out across processes (issue 7): a mock Kafka cluster (mock_cluster)
# produces COUNT numbered messages into a topic with 4 partitions, paced; two `temblor run`
# processes consume it in one consumer group, each into a file of its own. Once both have
# written, one is killed with SIGKILL mid-stream; the other must take its partitions over
# (rebalance after the session timeout) and resume from the committed offsets. The test
# proves that every produced message reached a sink at least once, counts the duplicates,
# and checks that the survivor read every partition after the kill.
# usage: kafka_scale.sh TEMBLOR_BINARY MOCK_CLUSTER_BINARY SOURCE_DIR
set -u
temblor=$1
mock=$2
src=$3
count=${KAFKA_SCALE_COUNT:-3000}
rate=${KAFKA_SCALE_RATE:-100} # messages a second: the stream lasts count/rate seconds
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

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# distinct message numbers in the sink files
distinct() { cat a.jsonl b.jsonl 2>/dev/null | python3 -c '
import json, sys
print(len({json.loads(l)["n"] for l in sys.stdin if l.strip()}))'; }
all_arrived() { [ "$(distinct)" -ge "$count" ]; }

"$mock" scale 4 "$count" "$rate" status.txt >boot.txt 2>mock.err &
pids+=($!)
wait_for 30 nonempty boot.txt || { bad "the mock cluster starts"; show mock.err; exit 1; }
bootstrap=$(head -1 boot.txt)
brokers=$(printf '%s' "$bootstrap" | sed 's/\([^,]*\)/"\1"/g')

# instance NAME: a deployment consuming topic scale in group scale into NAME.jsonl
instance() {
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector kin from kafka_consumer
  with
    codec = "json",
    config = {"brokers": [$brokers], "topics": ["scale"], "group_id": "scale",
              "commit_interval_ms": 500,
              "rdkafka_options": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}}
  end;
  define connector out from file
  with
    codec = "json",
    postprocessors = ["separate"],
    config = {"path": "$work/$1.jsonl", "mode": "append"}
  end;
  define pipeline tag
  pipeline
    select {"n": event.n, "p": \$kafka_consumer.partition, "o": \$kafka_consumer.offset}
    from in into out;
  end;
  create connector kin;
  create connector out;
  create pipeline tag;
  connect /connector/kin to /pipeline/tag;
  connect /pipeline/tag to /connector/out;
end;
deploy flow main;
TROY
    "$temblor" run "$1.troy" 2>"$1.err" &
    pids+=($!)
}

instance a
pid_a=$!
instance b
pid_b=$!

# both in the group, both with partitions: each has written something
wait_for 90 nonempty a.jsonl && wait_for 90 nonempty b.jsonl && ok ||
    { bad "both instances get partitions and write"; show a.err; show b.err; exit 1; }
kill -KILL $pid_a
wait $pid_a 2>/dev/null
produced_at_kill=$(sed -n 's/produced=//p' status.txt)
b_at_kill=$(lines b.jsonl)
echo "killed a (pid $pid_a) with $(lines a.jsonl) lines written, b had $b_at_kill, $produced_at_kill of $count produced"
check "a was killed mid-stream (produced at the kill: ${produced_at_kill:-all})" test -n "$produced_at_kill"

wait_for 180 all_arrived && ok || bad "every message arrives ($(distinct) of $count distinct)"
wait_for 60 grep -q done status.txt || bad "the mock cluster produced every message"
kill -TERM $pid_b
wait $pid_b
check "b exits 0 on SIGTERM" test $? -eq 0

python3 - "$count" "$b_at_kill" a.jsonl b.jsonl <<'PY' && ok || { bad "at least once, with duplicates counted"; show b.err; }
import collections, json, sys
count, b_at_kill = int(sys.argv[1]), int(sys.argv[2])
rows = {f: [json.loads(l) for l in open(f) if l.strip()] for f in sys.argv[3:]}
seen = collections.Counter(r["n"] for rs in rows.values() for r in rs)
missing = [n for n in range(count) if n not in seen]
dups = sum(c - 1 for c in seen.values())
print(f"a: {len(rows['a.jsonl'])} lines, b: {len(rows['b.jsonl'])} lines; "
      f"{len(seen)} distinct of {count}, {dups} duplicates, {len(missing)} missing")
assert not missing, f"missing: {missing[:20]}"
assert all(0 <= n < count for n in seen), "unknown messages"
# every message sits in the partition it was produced to
assert all(r["p"] == r["n"] % 4 for rs in rows.values() for r in rs), "a message in the wrong partition"
# after the kill, the survivor read every partition: it took a's over
after = {r["p"] for r in rows["b.jsonl"][b_at_kill:]}
assert after == {0, 1, 2, 3}, f"b read partitions {sorted(after)} after the kill"
PY
grep -q "assigned 4 partitions" b.err && ok || { bad "b is assigned all 4 partitions after the kill"; show b.err 30; }

echo "kafka scale-out: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
