#!/usr/bin/env bash
# isolated_codecs.sh - codecs and processors in the isolated tier give what they give in
# process, byte for byte: a flow whose preprocessor, codec and postprocessor each run in a plugin
# host (isolation = "process" on their references) against the same flow in process, on
#  - ordinary JSON lines, malformed ones among them (their errors go to err, the same errors);
#  - lines of 3 MB, larger than the channel's 2 MiB rings: they cross in pieces, whole;
#  - --isolate json: the codec isolated by plugin, with no setting in the flow;
# and a grant that is not a record, or an isolation that is not "process" or "none", is refused
# with the flow, naming the setting.
# usage: isolated_codecs.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

# flow NAME ISOLATED: stdin -> separate -> json -> pipeline -> json -> separate -> NAME.out,
# err port to NAME.err.out; with ISOLATED the processors and codecs run in plugin hosts
flow() {
    local iso=""
    [ "$2" = yes ] && iso=', "isolation": "process"'
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector input from stdio
  with codec = {"name": "json"$iso}, preprocessors = [{"name": "separate"$iso}] end;
  define connector out from file
  with codec = {"name": "json"$iso}, postprocessors = [{"name": "separate"$iso}],
       config = {"path": "$1.out", "mode": "truncate"} end;
  define connector errors from file
  with codec = "json", postprocessors = ["separate"], config = {"path": "$1.err.out", "mode": "truncate"} end;
  define pipeline p pipeline select event from in into out; end;
  define pipeline e pipeline select event from in into out; end;
  create connector input;
  create connector out;
  create connector errors;
  create pipeline p;
  create pipeline e;
  connect /connector/input to /pipeline/p;
  connect /connector/input/err to /pipeline/e;
  connect /pipeline/p to /connector/out;
  connect /pipeline/e to /connector/errors;
end;
deploy flow main;
TROY
}

# input: records of every kind, and two lines that are not JSON
for i in $(seq 1 2000); do
    echo "{\"n\":$i,\"s\":\"line \\\"$i\\\"\",\"f\":$i.5,\"a\":[true,false,null,{\"k\":\"\\u00e9\"}],\"neg\":-$i}"
    [ "$i" = 700 ] && echo '{"broken": '
    [ "$i" = 1400 ] && echo 'not json at all'
done >in.jsonl

flow inproc no
flow iso yes
timeout 60 "$temblor" run inproc.troy <in.jsonl 2>inproc.log
check "in process: runs (exit $?)" test -s inproc.out || show inproc.log
timeout 60 "$temblor" run --sandbox degrade iso.troy <in.jsonl 2>iso.log
rc=$?
check "isolated: the run ends normally (exit $rc)" test $rc -eq 0 || show iso.log
check "isolated: the output is the same, byte for byte" cmp -s inproc.out iso.out || show iso.out 3
check "isolated: 2000 records" test "$(wc -l <iso.out)" -eq 2000
check "isolated: the malformed lines go to err with the same errors" cmp -s inproc.err.out iso.err.out ||
    show iso.err.out
check "isolated: two of them" test "$(wc -l <iso.err.out)" -eq 2

# --- large events: in pieces ---------------------------------------------------------------------
pad=$(head -c 3000000 /dev/zero | tr '\0' x)
for i in $(seq 1 4); do echo "{\"n\":$i,\"pad\":\"$pad\"}"; done >big.jsonl
flow bigin no
flow big yes
timeout 60 "$temblor" run bigin.troy <big.jsonl 2>bigin.log
timeout 60 "$temblor" run --sandbox degrade big.troy <big.jsonl 2>big.log
rc=$?
check "large: the run ends normally (exit $rc)" test $rc -eq 0 || show big.log
check "large: the output is the same" cmp -s bigin.out big.out
check "large: 4 records" test "$(wc -l <big.out)" -eq 4

# --- --isolate ---------------------------------------------------------------------------------------
timeout 60 "$temblor" run --sandbox degrade --isolate json inproc.troy <in.jsonl 2>isolate.log
check "--isolate json: the run ends normally" test $? -eq 0 || show isolate.log
check "--isolate json: the same output" cmp -s iso.out inproc.out

# --- bad settings -------------------------------------------------------------------------------------
sed 's/"isolation": "process"/"isolation": "yes"/' iso.troy >badiso.troy
timeout 30 "$temblor" run badiso.troy </dev/null 2>badiso.log
check "a bad isolation is refused" test $? -ne 0
check "naming the setting" grep -q 'isolation must be "process" or "none"' badiso.log || show badiso.log
sed 's/"isolation": "process"/"isolation": "process", "grant": ["fs-read"]/' iso.troy >badgrant.troy
timeout 30 "$temblor" run badgrant.troy </dev/null 2>badgrant.log
check "a grant that is not a record is refused" test $? -ne 0
check "naming it" grep -q 'grant must be a record' badgrant.log || show badgrant.log

echo "isolated codecs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
