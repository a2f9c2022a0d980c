#!/usr/bin/env bash
# cli.sh - end-to-end tests of the temblor binary's command line: exit codes, plugin list
# and inspect on the bundled plugins and on the broken test plugins.
# usage: cli.sh TEMBLOR_BINARY TEST_PLUGIN_DIR
set -u
temblor=$1
broken_dir=$2
passed=0
failed=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# run EXPECTED_STATUS CMD...: runs CMD, keeps stdout/stderr, checks the exit status.
run() {
    local want=$1
    shift
    "$@" >"$out" 2>"$err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: '$*' exited $got, expected $want"
        sed 's/^/  stderr: /' "$err" | head -5
        failed=$((failed + 1))
        return 1
    fi
    passed=$((passed + 1))
}

# expect FILE PATTERN DESCRIPTION: grep -E for PATTERN in FILE.
expect() {
    if grep -Eq -- "$2" "$1"; then
        passed=$((passed + 1))
    else
        echo "FAIL: $3: no line matches /$2/ in:"
        sed 's/^/  | /' "$1" | head -20
        failed=$((failed + 1))
    fi
}

run 0 "$temblor" version && expect "$out" '^temblor [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI 1\.2\)$' "version"
run 0 "$temblor" version --json && expect "$out" '"abi":\{"major":1,"minor":2\}' "version --json"
run 0 "$temblor" --help && expect "$out" 'plugin inspect NAME\|FILE' "--help lists commands"
run 2 "$temblor"
run 2 "$temblor" frobnicate && expect "$err" "unknown command 'frobnicate'" "unknown command"
run 2 "$temblor" plugin
run 2 "$temblor" plugin list --frobnicate && expect "$err" "unknown option '--frobnicate'" "unknown option"
run 0 "$temblor" plugin --help && expect "$out" '^usage: temblor plugin list' "plugin --help"
run 2 "$temblor" --log loud version && expect "$err" "unknown log level 'loud'" "bad log level"

# The bundled plugins, found beside the binary with no configuration.
unset TEMBLOR_PLUGIN_PATH
run 0 "$temblor" plugin list
expect "$out" '^string +0\.1\.0 +1\.2 +codec string ' "list shows the string codec"
expect "$out" '^separate +0\.1\.0 +1\.2 +preprocessor separate ' "list shows separate"
expect "$out" '^null +0\.1\.0 +1\.2 +connector null ' "list shows null"
expect "$out" '^passthrough +0\.1\.0 +1\.2 +operator passthrough ' "list shows passthrough"
expect "$out" '^generic +0\.1\.0 +1\.2 +operator generic::batch, operator generic::counter ' "list shows generic"
expect "$out" '^grouper +0\.1\.0 +1\.2 +operator grouper::bucket ' "list shows grouper"
expect "$out" '^qos +0\.1\.0 +1\.2 +operator qos::backpressure, operator qos::percentile, operator qos::roundrobin ' "list shows qos"
# every bundled plugin loads (their number grows with the project)
bundled=$(grep -cE '^[a-z0-9_-]+ +[0-9]+\.[0-9]+\.[0-9]+ +1\.2 ' "$out")
expect "$out" "^$bundled loaded, 0 refused\$" "list counts"

run 0 "$temblor" plugin inspect separate
expect "$out" '^preprocessor separate: splits a byte stream' "inspect names the component"
expect "$out" '^  separator +string +"\\n" +the byte that ends a record$' "inspect shows options"
expect "$out" '^  max_length +uint +8388608 ' "inspect shows defaults"

run 0 "$temblor" plugin inspect string --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["name"]=="string" and d["components"][0]["kind"]=="codec", d' "$out" \
    && passed=$((passed + 1)) || { echo "FAIL: inspect --json is not the expected JSON"; failed=$((failed + 1)); }

run 0 "$temblor" plugin inspect qos
expect "$out" '^operator qos::roundrobin: distributes events over its outputs' "inspect names an operator"
expect "$out" '^  timeout +uint +\(required\) +nanoseconds a delivery may take' "inspect shows operator options"

run 1 "$temblor" plugin inspect no_such_plugin && expect "$err" "no plugin named 'no_such_plugin'" "inspect unknown name"

# The broken plugins: listed as refused with their reasons; the good ones still load.
run 0 env TEMBLOR_PLUGIN_PATH="$broken_dir" "$temblor" plugin list
expect "$out" '^probe +1\.2\.3 +1\.2 +codec probe ' "probe loads beside broken plugins"
expect "$out" '^probe_old +1\.2\.3 +1\.0 ' "older minor plugin loads"
expect "$out" 'abi_major\.so: ABI major mismatch: built for ABI 2\.0, this runtime provides ABI 1\.2$' "major refusal listed"
expect "$out" 'missing_dependency\.so: cannot load: libtb_gone\.so: cannot open shared object file' "dependency refusal listed"
expect "$out" "^$((bundled + 4)) loaded, 14 refused\$" "list counts with broken plugins"

run 0 env TEMBLOR_PLUGIN_PATH="$broken_dir" "$temblor" plugin list --json
python3 - "$out" "$bundled" <<'PY' && passed=$((passed + 1)) || { echo "FAIL: list --json"; failed=$((failed + 1)); }
import json, sys
d = json.load(open(sys.argv[1]))
loaded = [p for p in d if p["status"] == "loaded"]
refused = [p for p in d if p["status"] == "refused"]
assert len(loaded) == int(sys.argv[2]) + 4 and len(refused) == 14, (len(loaded), len(refused))
assert all(r["reason"].startswith(r["path"] + ": ") for r in refused)
PY

run 1 "$temblor" plugin inspect "$broken_dir/newer_minor.so"
expect "$err" "^temblor: $broken_dir/newer_minor\.so: built for a newer ABI: built for ABI 1\.3, this runtime provides ABI 1\.2" "inspect refused file"
run 0 "$temblor" plugin inspect "$broken_dir/probe.so"
expect "$out" '^  net-connect +127\.0\.0\.1:\*  talks to a local peer$' "inspect shows permissions"
expect "$out" '^  fs-read +from option path  reads the configured path$' "inspect shows option permissions"
expect "$out" '^  target +string +\(required\) ' "inspect shows required options"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
