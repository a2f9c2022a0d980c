"""http_peer.py - the HTTP server the http_client tests talk to (stdlib only).

usage: http_peer.py PORT_FILE LOG_FILE [--flaky-every N]

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and logs every
request it answers as one JSON line to LOG_FILE:
  {"method", "path", "headers": {lower-case name: [values]}, "body": text (latin-1), "status"}
What it answers depends on the path:
  /status/N          status N, body "status N" (204/304: no body)
  /flaky/KEY/N       500 for the first N requests of KEY, then 200 "ok after N"
  /slow/MS           waits MS milliseconds, then 200 "slow"
  /headers           200 "headers", with X-Test: a and two Set-Cookie headers
  /empty             200 with an empty body
  /retry-after/KEY   429 with Retry-After: 1 for the first request of KEY, then 200
  anything else      200 with the request's body echoed back
With --flaky-every N, every Nth request to a path not listed above (counted over the whole
run) is answered 503 and not logged as accepted ("status": 503); the e2e test uses it.

Thread contract: one thread per connection (ThreadingHTTPServer); the log and the counters
are guarded by one lock. Ownership: the files belong to the caller.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_file = sys.argv[1], sys.argv[2]
flaky_every = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--flaky-every" else 0
lock = threading.Lock()
counts = {}
total = [0]
log = open(log_file, "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: curl reuses connections

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path
        status, out, extra = 200, body, []
        parts = path.strip("/").split("/")
        with lock:
            total[0] += 1
            seq = total[0]
            if parts[0] == "flaky" and len(parts) == 3:
                counts[parts[1]] = counts.get(parts[1], 0) + 1
                if counts[parts[1]] <= int(parts[2]):
                    status, out = 500, b"not yet"
                else:
                    out = ("ok after %s" % parts[2]).encode()
            elif parts[0] == "retry-after" and len(parts) == 2:
                counts[path] = counts.get(path, 0) + 1
                if counts[path] == 1:
                    status, out, extra = 429, b"later", [("Retry-After", "1")]
            elif parts[0] == "status" and len(parts) == 2:
                status = int(parts[1])
                out = b"" if status in (204, 304) else ("status %d" % status).encode()
            elif parts[0] == "headers":
                out, extra = b"headers", [("X-Test", "a"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
            elif parts[0] == "empty":
                out = b""
            elif parts[0] == "slow":
                pass
            elif flaky_every and seq % flaky_every == 0:
                status, out = 503, b"busy"
            hdrs = {}
            for k in self.headers.keys():
                hdrs.setdefault(k.lower(), self.headers.get_all(k))
            rec = {"method": self.command, "path": path, "headers": hdrs, "body": body.decode("latin-1"), "status": status}
            log.write(json.dumps(rec, sort_keys=True) + "\n")
        if parts[0] == "slow" and len(parts) == 2:
            time.sleep(int(parts[1]) / 1000.0)
            out = b"slow"
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = answer


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that gave up (a timeout test)
        pass


server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
