"""What the HTTP stand-ins of this folder share (stdlib only): the stored
requests and their LOG_FILE, a quiet HTTP/1.1 handler, and the command line
PORT [LOG_FILE] that prints "listening on 127.0.0.1:N".

Each stand-in runs in a process of its own, so the store is module state.
(Not called standin.py: tests/chaos/standin.py runs these scripts, and its
folder comes first on sys.path there.)
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ThreadingHTTPServer.request_queue_size = 1024  # Python's default backlog is 5

LOCK = threading.Lock()  # guards REQUESTS, LOG and the stand-in's own rules
REQUESTS = []
LOG = None


def entry(handler, raw, **fields):
    """A request as stored: method, path, headers (lower-case names), body,
    then fields in order, then "time" (Unix seconds, now)."""
    e = {
        "method": handler.command,
        "path": urlsplit(handler.path).path,
        "headers": {k.lower(): v for k, v in handler.headers.items()},
        "body": raw.decode("utf-8", "replace"),
    }
    e.update(fields)
    e["time"] = time.time()
    return e


def record(e):
    """Stores e, and appends it to LOG_FILE as one JSON line when there is one."""
    with LOCK:
        REQUESTS.append(e)
        if LOG:
            LOG.write(json.dumps(e) + "\n")
            LOG.flush()


def stored(path=None):
    """The stored requests (a copy), only those for path when given."""
    with LOCK:
        return [r for r in REQUESTS if path is None or r["path"] == path]


class Handler(BaseHTTPRequestHandler):
    """The base of each stand-in's Handler. Subclasses answer through their own
    _send, which tests/chaos/standin.py wraps to record the answers."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: requests go to LOG_FILE
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _write(self, status, body=b"", headers=None, ctype="application/json"):
        """Sends one answer; Content-Type only with a body."""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def serve(handler, doc, args):
    """Runs a stand-in for args [HOST:]PORT [LOG_FILE]: handler on HOST:PORT
    (HOST 127.0.0.1 unless given, e.g. 127.0.0.2, another loopback address;
    PORT 0 picks a free port) until interrupted. Without PORT, prints doc's
    usage line (its third) and exits 2."""
    global LOG
    if not args:
        print(doc.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    if len(args) > 1:
        LOG = open(args[1], "a", encoding="utf-8")
    host, _, port = args[0].rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), handler)
    server.daemon_threads = True
    print("listening on %s:%d" % server.server_address[:2], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
