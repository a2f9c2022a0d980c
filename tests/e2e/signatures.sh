#!/usr/bin/env bash
# signatures.sh - plugin signatures end to end with the temblor binary: keygen, sign and verify
# on copies of bundled plugins; a library changed after signing and a key nobody trusts are
# refused with the file and the reason; `temblor run` under --signatures require loads only
# signed plugins from trusted keys (a flow using an unsigned one fails, naming it), under warn
# loads them with a warning, and TEMBLOR_SIGNATURES/TEMBLOR_TRUST do what the options do.
# usage: signatures.sh TEMBLOR_BINARY SOURCE_DIR
set -u
temblor=$1
src=$2
plugins=$(dirname "$temblor")/plugins
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

# shellcheck source=../engine/checks.sh
source "$src/tests/engine/checks.sh"

mkdir trust elsewhere signed
"$temblor" plugin keygen dev --comment "dev key" >keygen.out 2>&1
check "keygen writes a key pair" test -f dev.key -a -f dev.pub
check "the secret key is private" test "$(stat -c %a dev.key)" = 600
cp dev.pub trust/
"$temblor" plugin keygen stranger >/dev/null 2>&1 && cp stranger.pub elsewhere/
cp "$plugins"/tb-connector-stdio.so "$plugins"/tb-codec-string.so signed/
"$temblor" plugin sign --key dev.key signed/tb-connector-stdio.so signed/tb-codec-string.so >sign.out 2>&1
check "sign writes a .sig beside each library" test -f signed/tb-connector-stdio.so.sig -a -f signed/tb-codec-string.so.sig
check "the signature covers the declared metadata" grep -q '^metadata: {"name":"stdio",' signed/tb-connector-stdio.so.sig

"$temblor" plugin verify --trust trust signed/tb-connector-stdio.so >verify.out 2>&1
check "verify: good signature, naming the key" grep -q 'tb-connector-stdio.so: good signature by [0-9a-f]\{16\} (dev key)' verify.out || show verify.out
"$temblor" plugin verify --trust elsewhere signed/tb-connector-stdio.so >verify.out 2>&1
check "verify: a key not in the trust store exits 1" test $? -eq 1
check "verify: ... naming the file and the reason" \
    grep -q 'signed/tb-connector-stdio.so: .*signed by key [0-9a-f]*, which is not in the trust store elsewhere' verify.out ||
    show verify.out
cp signed/tb-codec-string.so tampered.so
cp signed/tb-codec-string.so.sig tampered.so.sig
printf 'Z' | dd of=tampered.so bs=1 seek=3000 conv=notrunc 2>/dev/null
"$temblor" plugin verify --trust trust tampered.so >verify.out 2>&1
check "verify: a changed library exits 1" test $? -eq 1
check "verify: ... because its bytes are not those signed" grep -q "tampered.so: .*the library's bytes are not those signed" verify.out ||
    show verify.out
"$temblor" plugin verify --trust trust "$plugins"/tb-codec-json.so >verify.out 2>&1
check "verify: an unsigned library: no signature file" grep -q 'tb-codec-json.so: .*no signature file (looked for .*tb-codec-json.so.sig)' verify.out

cat >echo.troy <<'TROY'
define flow main
flow
  define connector input from stdio with codec = "string" end;
  define connector output from stdio with codec = "string" end;
  define pipeline p pipeline select event from in into out; end;
  create connector input;
  create connector output;
  create pipeline p;
  connect /connector/input to /pipeline/p;
  connect /pipeline/p to /connector/output;
end;
deploy flow main;
TROY
# the bundled plugins beside the binary are unsigned: under require only those in signed/ load
echo hello | "$temblor" run --signatures require --trust trust --plugin-path signed echo.troy >run.out 2>run.err
check "require: a flow of signed plugins runs" test "$(cat run.out)" = hello || show run.err
check "require: the unsigned ones are refused, by name" \
    grep -q 'tb-codec-json.so: refused by the signature policy (require): no signature file' run.err
echo hello | TEMBLOR_SIGNATURES=require TEMBLOR_TRUST=elsewhere "$temblor" run --plugin-path signed echo.troy >run.out 2>run.err
check "require, with the environment and a trust store without the key: the run fails" test $? -eq 1
check "... saying why" grep -q "signed by key [0-9a-f]*, which is not in the trust store elsewhere" run.err || show run.err
check "... and what is missing" grep -q "unknown connector 'stdio'" run.err || show run.err
echo hello | "$temblor" run --signatures warn --trust elsewhere --plugin-path signed echo.troy >run.out 2>run.err
check "warn: the flow runs" test "$(cat run.out)" = hello
check "warn: with a warning" grep -q 'signature: .*(loaded anyway: the signature policy is warn)' run.err
# a plugin loaded at run time through the admin interface is checked the same way
"$temblor" run --signatures require --trust trust --plugin-path signed --admin admin.sock 2>admin.err &
server=$!
wait_for 30 test -S admin.sock
cp "$plugins"/tb-codec-json.so unsigned-json.so
"$temblor" plugin load "$work/unsigned-json.so" --admin admin.sock >load.out 2>&1
check "admin load under require: an unsigned library is refused" test $? -ne 0
check "... naming the file and the reason" grep -q 'unsigned-json.so: refused by the signature policy (require): no signature file' load.out ||
    show load.out
cp signed/tb-codec-string.so resigned.so
# (a bare file name is the file in this directory)
"$temblor" plugin sign --key dev.key resigned.so >sign.out 2>&1
check "sign takes a bare file name" test -f resigned.so.sig || show sign.out
# the same plugin (string) is loaded already: a signed copy passes the signature check and is
# refused only as a duplicate
"$temblor" plugin load "$work/resigned.so" --admin admin.sock >load.out 2>&1
check "admin load under require: a signed library passes the signature check (refused only as a duplicate)" \
    grep -q "resigned.so: duplicate plugin name 'string'" load.out || show load.out
cp resigned.so tampered-admin.so
cp resigned.so.sig tampered-admin.so.sig
printf 'Z' | dd of=tampered-admin.so bs=1 seek=3000 conv=notrunc 2>/dev/null
"$temblor" plugin load "$work/tampered-admin.so" --admin admin.sock >load.out 2>&1
check "admin load under require: a tampered library is refused, because its bytes are not those signed" \
    grep -q "tampered-admin.so: refused by the signature policy (require): the library's bytes are not those signed" load.out ||
    show load.out
kill -TERM $server
wait $server 2>/dev/null

"$temblor" run --signatures sometimes echo.troy >/dev/null 2>run.err
check "a bad policy is a usage error" grep -q -- '--signatures must be require, warn or off' run.err

echo "signatures e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
