"""What the HTTP stand-ins of this folder share (stdlib only): the stored
requests and their LOG_FILE, a quiet HTTP/1.1 handler with the control routes
they all have, and the command line PORT [LOG_FILE] that prints "listening on
127.0.0.1:N".

Each stand-in runs in a process of its own, so the store is module state.
(Not called standin.py: tests/chaos/standin.py runs these scripts, and its
folder comes first on sys.path there.)
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

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


def next_answer(rules, key):
    """Pops the next answer queued in rules (key: a list) for key, else for
    "*"; None when neither has one."""
    with LOCK:
        for k in (key, "*"):
            queue = rules.get(k)
            if queue:
                return queue.pop(0)
    return None


class Handler(BaseHTTPRequestHandler):
    """The base of each stand-in's Handler. Every answer goes through _send,
    which tests/chaos/standin.py wraps to record the answers."""

    protocol_version = "HTTP/1.1"
    REQUESTS_BY_PATH = True  # GET /_requests?path=P lists only P's requests

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

    def _send(self, status, obj=None, headers=None):
        """Answers status with obj as JSON (None: no body)."""
        self._write(status, json.dumps(obj).encode() if obj is not None else b"", headers)

    def _reset(self):
        """POST /_reset, after the stored requests are forgotten: forgets the
        stand-in's own state (LOCK held). Subclasses with rules override it."""

    def _control(self, rule):
        """POST /_control: applies rule, the JSON body (LOCK held); raises
        ValueError, KeyError, TypeError or AttributeError for a bad one."""
        raise KeyError("this stand-in takes no rules")

    def _route(self, url, raw):
        """Answers a request other than the control routes; raw is its body."""
        self._send(404)

    def _handle(self):
        url = urlsplit(self.path)
        raw = self._body()
        if not self._control_routes(url, raw):
            self._route(url, raw)

    do_GET = _handle
    do_POST = _handle

    def _control_routes(self, url, raw):
        """Answers the routes every stand-in has and returns True; returns False
        for any other url. GET /_health; GET /_requests, the stored requests
        (?path=P: only P's, when REQUESTS_BY_PATH); POST /_reset forgets them
        and calls _reset; POST /_control calls _control with the JSON body,
        400 when it raises ValueError, KeyError, TypeError or AttributeError."""
        if url.path == "/_health":
            self._send(200, {"ok": True})
        elif url.path == "/_requests" and self.command == "GET":
            want = parse_qs(url.query).get("path", [None])[0] if self.REQUESTS_BY_PATH else None
            self._send(200, stored(want))
        elif url.path == "/_reset" and self.command == "POST":
            with LOCK:
                REQUESTS.clear()
                self._reset()
            self._send(204)
        elif url.path == "/_control" and self.command == "POST":
            try:
                rule = json.loads(raw or b"{}")
                with LOCK:
                    self._control(rule)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                self._send(400, {"error": str(e)})
                return True
            self._send(204)
        else:
            return False
        return True


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
