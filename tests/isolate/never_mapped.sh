#!/usr/bin/env bash
# never_mapped.sh - plugins of an isolated plugin path (--isolated-plugin-path DIR) are never
# mapped into the runtime: a plugin host, confined with nothing granted, describes each, and
# every instance runs in a host of its own. The probe plugin's constructor (sandbox_probe.c)
# shows where its code runs:
#  - it creates the file TEMBLOR_PROBE_MARK names, which only an unconfined process can: from an
#    isolated path the file never appears, yet the operator works; from the ordinary plugin path
#    it does (the runtime mapped it), even when its instance is isolated;
#  - with TEMBLOR_PROBE_CRASH it segfaults as it is mapped: from an isolated path the library is
#    refused, naming the crash, and the runtime runs its flow; from the ordinary path the
#    runtime dies as it starts;
#  - the isolated tier's signature policy (--isolated-signatures require) refuses it unsigned,
#    naming the file, while the in-process policy is off, and takes it once signed;
#  - isolation "none" on an instance of such a plugin is refused.
# usage: never_mapped.sh TEMBLOR_BINARY PROBE_PLUGIN_DIR SOURCE_DIR
set -u
temblor=$1
probe_dir=$2
src=$3
# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

mkdir untrusted
cp "$probe_dir/tb-operator-sandbox_probe.so" untrusted/

# flow NAME [WITH]: one request through the probe to NAME.out; every event also to NAME.all
flow() {
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector out from file with codec = "json", postprocessors = ["separate"], config = {"path": "$1.out", "mode": "truncate"} end;
  define connector all from file with codec = "json", postprocessors = ["separate"], config = {"path": "$1.all", "mode": "truncate"} end;
  define pipeline p
  into out, all
  pipeline
    define operator probe from sandbox_probe::op ${2:-};
    create operator probe;
    select event from in into probe;
    select event from probe into out;
    select event from in into all;
  end;
  create connector input;
  create connector out;
  create connector all;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/out;
  connect /pipeline/p/all to /connector/all;
end;
deploy flow main;
TROY
}
# plain NAME: a flow that does not use the probe
plain() {
    cat >"$1.troy" <<TROY
define flow main
flow
  define connector input from stdio with codec = "json", preprocessors = ["separate"] end;
  define connector out from file with codec = "json", postprocessors = ["separate"], config = {"path": "$1.out", "mode": "truncate"} end;
  define pipeline p pipeline select event from in into out; end;
  create connector input;
  create connector out;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/out;
end;
deploy flow main;
TROY
}
request='{"try":"socket"}'

# --- the constructor never runs unconfined ------------------------------------------------------------
flow iso
echo "$request" | TEMBLOR_PROBE_MARK=$PWD/mark1 timeout 60 "$temblor" run --sandbox degrade \
    --isolated-plugin-path untrusted iso.troy 2>iso.log
rc=$?
check "isolated path: the run ends normally (exit $rc)" test $rc -eq 0 || show iso.log
check "isolated path: the operator ran (in its host: the socket was denied)" \
    grep -q '"try":"socket".*"ok":false' iso.out || show iso.out
check "isolated path: its constructor never ran unconfined (no mark file)" test ! -e mark1 || show mark1
"$temblor" plugin list --isolated-plugin-path untrusted >list.txt 2>&1
check "isolated path: plugin list shows it" grep -q 'sandbox_probe .*untrusted/tb-operator-sandbox_probe.so' list.txt ||
    show list.txt 50

flow isoinst 'with isolation = "process" end'
echo "$request" | TEMBLOR_PROBE_MARK=$PWD/mark2 timeout 60 "$temblor" run --sandbox degrade \
    --plugin-path untrusted isoinst.troy 2>isoinst.log
check "ordinary path, isolated instance: the run ends normally" test $? -eq 0 || show isoinst.log
check "ordinary path: the runtime mapped it, and its constructor ran unconfined" test -s mark2

# --- a library that crashes as it is mapped ---------------------------------------------------------
plain other
echo '{"n":1}' | TEMBLOR_PROBE_CRASH=1 timeout 60 "$temblor" run --sandbox degrade \
    --isolated-plugin-path untrusted other.troy 2>crash.log
rc=$?
check "crash on load, isolated path: the runtime runs its flow (exit $rc)" test $rc -eq 0 || show crash.log
check "crash on load, isolated path: the flow's event went through" grep -q '"n":1' other.out
check "crash on load, isolated path: the library is refused, naming the crash" \
    grep -Eq 'tb-operator-sandbox_probe.so: the plugin host describing it (was killed by signal (11|6)|exited with code (1|66))' \
    crash.log || show crash.log
echo '{"n":1}' | TEMBLOR_PROBE_CRASH=1 timeout 60 "$temblor" run --plugin-path untrusted other.troy >/dev/null 2>&1
rc=$?
check "crash on load, ordinary path: the runtime itself dies (exit $rc)" test $rc -ne 0

# --- the isolated tier's own signature policy -----------------------------------------------------------
mkdir trust
(cd trust && "$temblor" plugin keygen tester >/dev/null 2>&1)
echo "$request" | timeout 60 "$temblor" run --sandbox degrade --signatures off --isolated-signatures require \
    --trust trust --isolated-plugin-path untrusted iso.troy 2>unsigned.log
check "unsigned under --isolated-signatures require: the flow is refused" test $? -ne 0
check "unsigned: the refusal names the file and the reason" \
    grep -q 'untrusted/tb-operator-sandbox_probe.so: refused by the signature policy (require): no signature file' \
    unsigned.log || show unsigned.log
"$temblor" plugin sign --key trust/tester.key untrusted/tb-operator-sandbox_probe.so >sign.log 2>&1 || show sign.log
echo "$request" | timeout 60 "$temblor" run --sandbox degrade --signatures off --isolated-signatures require \
    --trust trust --isolated-plugin-path untrusted iso.troy 2>signed.log
check "signed: taken (exit $?)" grep -q '"ok":false' iso.out || show signed.log

# --- isolation "none" is refused -------------------------------------------------------------------------
flow none 'with isolation = "none" end'
echo "$request" | timeout 60 "$temblor" run --sandbox degrade --isolated-plugin-path untrusted none.troy 2>none.log
check "isolation none on a plugin of an isolated path: refused" test $? -ne 0
check "naming why" grep -q 'is from an isolated plugin path: it runs only in a plugin host' none.log || show none.log

echo "never mapped: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
