#!/usr/bin/env bash
# e2e_http_server.sh - end-to-end tests of the http_server connector with the real `temblor run`,
# driven by curl and by http_peer (a plain C client over raw sockets):
#  - a routing flow: the answer from the pipeline (its body, status and headers from
#    $http_server.response), the request's meta (method, path, query, headers, peer), a body
#    of several lines answered as one, a request filtered out (answered on acknowledgement), a
#    request without a body (a GET: the event is null), a malformed body sent by the err port
#    back as a 400, an event sent nowhere (acknowledged);
#  - 40 clients at once with 5 keep-alive requests each, and 20 pipelined requests, every
#    answer carrying its own request's body;
#  - bad peers: garbage, a body cut short, a body over max_body (with and without
#    Content-Length), many idle connections held open: the server answers the others;
#  - a sink that cannot deliver (/dev/full): the request is answered fail_status; a sink that
#    never connects: 504 after response_timeout_ms;
#  - HTTPS with a certificate made here, a 10 MiB body echoed whole; a bad url and a port in use are refused with the reason.
# usage: e2e_http_server.sh TEMBLOR_BINARY HTTP_PEER SOURCE_DIR
set -u
temblor=$1
peer=$2
src=$3
# shellcheck source=../../engine/checks.sh
source "$src/tests/engine/checks.sh"
in_scratch_dir

# the port flow FLOW's http_server logged it listens on, from FILE
logged_port() { sed -n "s/.*\[connector http_server\/$2::[a-z]*\] listening on https\?:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p" "$1" 2>/dev/null | head -1; }
has_port() { [ -n "$(logged_port "$1" "$2")" ]; }
# start NAME FILE.troy: runs temblor on the file, logging to NAME.err
start() {
    "$temblor" run "$2" 2>"$1.err" &
    pids+=($!)
}
# answer ARGS...: curl's status line and body, one line each ("201" then the body)
answer() {
    rm -f body.out
    curl -s -o body.out -w '%{http_code}' --max-time 30 "$@"
}
# expect WHAT WANT_STATUS WANT_BODY_REGEX CURL_ARGS...: the answer's status and body; the regex
# EMPTY wants no body at all
expect() {
    local what=$1 want=$2 re=$3
    shift 3
    local got body_ok
    got=$(answer "$@")
    if [ "$re" = EMPTY ]; then [ ! -s body.out ] && body_ok=1; else grep -Eq -- "$re" body.out && body_ok=1; fi
    if [ "$got" = "$want" ] && [ -n "${body_ok:-}" ]; then ok; else
        bad "$what: wanted $want and /$re/, got $got: $(head -c 300 body.out)"
    fi
}

# --- the routing flow ------------------------------------------------------------------------
cat >route.troy <<'TROY'
define flow main
flow
  define connector api from http_server
  with
    config = {"url": "127.0.0.1:0", "content_type": "application/json",
              "max_body": 1048576, "max_connections": 300},
    preprocessors = ["separate"],
    codec = "json",
    postprocessors = ["separate"]
  end;
  define pipeline route
  pipeline
    define script answer
    script
      match $http_server.request.path of
        case "/created" =>
          let $http_server.response = {"status": 201, "headers": {"x-made-by": "temblor", "location": ["/a", "/b"]}};
          emit {"created": event}
        case "/filtered" => drop
        case "/meta" => emit $http_server.request
        case "/nowhere" => emit event => "nowhere"
        default => event
      end
    end;
    create script answer;
    select event from in into answer;
    select event from answer into out;
  end;
  define pipeline bad
  pipeline
    select {"error": event.error} from in into out;
  end;
  define pipeline status_400
  pipeline
    define script mark
    script
      let $http_server.response = {"status": 400};
      event
    end;
    create script mark;
    select event from in into mark;
    select event from mark into out;
  end;
  create connector api;
  create pipeline route;
  create pipeline bad;
  create pipeline status_400;
  connect /connector/api to /pipeline/route;
  connect /connector/api/err to /pipeline/bad;
  connect /pipeline/route to /connector/api;
  connect /pipeline/bad to /pipeline/status_400;
  connect /pipeline/status_400 to /connector/api;
end;
deploy flow main;
TROY
start route route.troy
if ! wait_for 30 has_port route.err main; then
    bad "route: the server never said where it listens"
    show route.err
    echo "http_server e2e: $passed passed, $failed failed"
    exit 1
fi
port=$(logged_port route.err main)
url=http://127.0.0.1:$port

expect "echo" 200 '^\{"a":1\}$' -d '{"a":1}' "$url/echo"
expect "status and body from the pipeline" 201 '"created":\{"x":2\}' -d '{"x":2}' "$url/created"
curl -s -D head.out -o /dev/null -d '{"x":2}' "$url/created"
check "headers from \$http_server.response" grep -qi '^x-made-by: temblor' head.out
check "a header with two values" test "$(grep -ci '^location: /[ab]' head.out)" = 2
check "content_type applies to answers made from events" grep -qi '^content-type: application/json' head.out
expect "meta: method, path, query, headers, peer" 200 \
    '"method":"PUT","path":"/meta","query":\{"k":\["v","w"\],"z":""\}.*"x-two":\["a","b"\].*"peer":\{"host":"127.0.0.1","port":[0-9]+\},"tls":false' \
    -X PUT -H 'X-Two: a' -H 'X-Two: b' -d '{}' "$url/meta?k=v&k=w&z"
printf '{"n":1}\n{"n":2}\n{"n":3}' >lines.json
expect "a body of three lines is one answer of three lines" 200 '^\{"n":1\}$' --data-binary @lines.json "$url/lines"
check "the three lines" test "$(tr '\n' ' ' <body.out)" = '{"n":1} {"n":2} {"n":3} '
expect "filtered out: answered on acknowledgement" 200 EMPTY -d '{"y":1}' "$url/filtered"
expect "a GET has no body: the event is null" 200 '^null$' "$url/get"
expect "a malformed body goes to err, answered 400 from there" 400 'json codec' -d 'not json' "$url/echo"
expect "sent to a port nothing is connected to: acknowledged" 200 EMPTY -d '{"w":1}' "$url/nowhere"
expect "after all that, the server still answers" 200 '"after":1' -d '{"after":1}' "$url/echo"

# --- many clients ----------------------------------------------------------------------------
"$peer" concurrent "$port" 40 5 >peer.out 2>&1
check "40 clients at once, 5 keep-alive requests each, each answered with its own body" grep -q '40 of 40' peer.out || show peer.out
"$peer" pipelined "$port" 20 >peer.out 2>&1
check "20 pipelined requests answered in order" grep -q '20 of 20' peer.out || show peer.out

# --- bad peers -------------------------------------------------------------------------------
"$peer" garbage "$port" >peer.out 2>&1
check "garbage is answered 400 or closed" grep -Eq 'garbage: (answered 400|closed)' peer.out || show peer.out
"$peer" cut "$port" >peer.out 2>&1
check "a body cut short" grep -q 'closed' peer.out
head -c 2000000 /dev/zero | tr '\0' 'x' >big.txt
expect "a body over max_body with Content-Length: 413" 413 'too large' --data-binary @big.txt "$url/echo"
expect "a chunked body over max_body: 413" 413 'too large' -H 'Transfer-Encoding: chunked' --data-binary @big.txt "$url/echo"
"$peer" hold "$port" 200 >peer.out 2>&1
check "200 idle connections held: another client is still answered" grep -q 'answered' peer.out || show peer.out
expect "after the bad peers, the server still answers" 200 '"still":1' -d '{"still":1}' "$url/echo"
check "the server is running" kill -0 "${pids[0]}"

# --- a sink that cannot deliver ---------------------------------------------------------------
cat >full.troy <<'TROY'
define flow full
flow
  define connector api from http_server
  with
    config = {"url": "127.0.0.1:0", "fail_status": 502},
    codec = "json"
  end;
  define connector disk from file
  with
    config = {"path": "/dev/full", "mode": "append"},
    codec = "json",
    postprocessors = ["separate"]
  end;
  define pipeline pass
  pipeline
    select event from in into out;
  end;
  create connector api;
  create connector disk;
  create pipeline pass;
  connect /connector/api to /pipeline/pass;
  connect /pipeline/pass to /connector/disk;
end;
deploy flow full;
TROY
start full full.troy
if wait_for 30 has_port full.err full; then
    expect "a sink that cannot deliver: fail_status" 502 'could not be delivered' -d '{"f":1}' "http://127.0.0.1:$(logged_port full.err full)/x"
else
    bad "full: the server never said where it listens"
    show full.err
fi

# --- a sink that never connects: no answer, no acknowledgement -------------------------------
sed 's/"url": "127.0.0.1:0", "fail_status": 502/"url": "127.0.0.1:0", "response_timeout_ms": 1500/; s/flow full/flow stuck/' full.troy |
    sed 's/define connector disk from file/define connector disk from tcp_client/; s|"path": "/dev/full", "mode": "append"},|"url": "127.0.0.1:1"}, reconnect = {"retry": {"interval_ms": 100}},|' >stuck.troy
start stuck stuck.troy
if wait_for 30 has_port stuck.err stuck; then
    expect "no answer: 504 after response_timeout_ms" 504 'no answer in time' -d '{"z":1}' "http://127.0.0.1:$(logged_port stuck.err stuck)/x"
    grep -q 'answered 504' stuck.err
    check "the timeout is logged" test $? = 0
else
    bad "stuck: the server never said where it listens"
    show stuck.err
fi

# --- HTTPS -----------------------------------------------------------------------------------
if openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >openssl.out 2>&1; then
    cat >tls.troy <<'TROY'
define flow tls
flow
  define connector api from http_server
  with
    config = {"url": "127.0.0.1:0", "tls": {"cert": "cert.pem", "key": "key.pem"}},
    codec = "json"
  end;
  define pipeline pass
  pipeline
    select event from in into out;
  end;
  create connector api;
  create pipeline pass;
  connect /connector/api to /pipeline/pass;
  connect /pipeline/pass to /connector/api;
end;
deploy flow tls;
TROY
    start tls tls.troy
    if wait_for 30 has_port tls.err tls; then
        expect "https with the certificate" 200 '"secure":true' --cacert cert.pem -d '{"secure":true}' "https://127.0.0.1:$(logged_port tls.err tls)/s"
        python3 -c 'import sys; sys.stdout.write("{\"big\":\"" + "x" * (10 << 20) + "\"}")' >ten.json
        got=$(answer --cacert cert.pem --data-binary @ten.json "https://127.0.0.1:$(logged_port tls.err tls)/big")
        check "a 10 MiB body over https is answered whole ($got)" cmp -s ten.json body.out
        got=$(answer -d '{}' "http://127.0.0.1:$(logged_port tls.err tls)/s")
        check "plain http to the https server fails" test "$got" != 200
    else
        bad "tls: the server never said where it listens"
        show tls.err
    fi
else
    bad "openssl could not make a certificate"
    show openssl.out
fi

# --- refusals --------------------------------------------------------------------------------
sed 's/"url": "127.0.0.1:0", "fail_status": 502/"url": "127.0.0.1:99999"/; s/flow full/flow badurl/' full.troy >badurl.troy
"$temblor" run badurl.troy >/dev/null 2>badurl.err
check "a bad url stops the run" test $? -ne 0
check "with the reason" grep -q 'url must be "host:port"' badurl.err || show badurl.err
sed "s/\"url\": \"127.0.0.1:0\", \"fail_status\": 502/\"url\": \"127.0.0.1:$port\"/; s/flow full/flow inuse/" full.troy >inuse.troy
timeout 20 "$temblor" run inuse.troy >/dev/null 2>inuse.err
grep -q "cannot listen on 127.0.0.1:$port" inuse.err
check "a port in use is reported" test $? = 0 || show inuse.err

# the servers stop on SIGTERM, the routing one cleanly (exit 0: no sanitizer report either)
kill -TERM "${pids[@]}" 2>/dev/null
wait "${pids[0]}"
check "the routing server stops cleanly on SIGTERM" test $? = 0 || show route.err 30
for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null; done
pids=()
echo "http_server e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
