#!/usr/bin/env python3
"""A webhook receiver stand-in for tests and the local stack (stdlib only).

Usage: webhook_receiver.py PORT [LOG_FILE]

Listens on 127.0.0.1:PORT (0 picks a free port; the chosen one is printed as
"listening on 127.0.0.1:N" on stdout). Every request other than the control
routes is stored, and appended to LOG_FILE as one JSON line when given:
{"method", "path", "headers": {lower-case name: value}, "body", "time"}
("time" is Unix seconds when the request arrived, a float).

Control routes:
  POST /_control  {"path": "/x", "responses": [500, 500, 200], "retry_after": 1,
                   "redirect": "http://...", "delay_ms": 0, "default": 200}
      Requests to "path" are answered with the statuses of "responses" in
      order, then "default" (200 unless given). Non-2xx answers carry
      Retry-After when "retry_after" is given (a number of seconds, or a
      string sent as is); 3xx answers carry Location: "redirect".
      "delay_ms" delays every answer on that path (the request is stored when
      it arrives). A new rule for a path replaces the old one.
  GET  /_requests[?path=/x]  the stored requests, as a JSON array
  POST /_reset    forgets every request and rule
  GET  /_health   200
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ThreadingHTTPServer.request_queue_size = 1024  # Python's default backlog is 5
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
REQUESTS = []
RULES = {}
LOG = None


def rule_for(path):
    """Returns (status, extra headers, delay seconds) for the next request on path."""
    with LOCK:
        rule = RULES.get(path)
        if rule is None:
            return 200, {}, 0.0
        if rule["responses"]:
            status = int(rule["responses"].pop(0))
        else:
            status = int(rule.get("default", 200))
        headers = {}
        if not 200 <= status < 300 and rule.get("retry_after") is not None:
            headers["Retry-After"] = str(rule["retry_after"])
        if 300 <= status < 400 and rule.get("redirect"):
            headers["Location"] = rule["redirect"]
        return status, headers, float(rule.get("delay_ms", 0)) / 1000.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: requests go to LOG_FILE
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body=b"", headers=None, ctype="application/json"):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _record(self, body):
        entry = {
            "method": self.command,
            "path": urlsplit(self.path).path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "time": time.time(),
        }
        with LOCK:
            REQUESTS.append(entry)
            if LOG:
                LOG.write(json.dumps(entry) + "\n")
                LOG.flush()

    def _handle(self):
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/_health":
            self._send(200, b'{"ok":true}')
            return
        if url.path == "/_requests" and self.command == "GET":
            want = parse_qs(url.query).get("path", [None])[0]
            with LOCK:
                out = [r for r in REQUESTS if want is None or r["path"] == want]
                data = json.dumps(out).encode()
            self._send(200, data)
            return
        if url.path == "/_reset" and self.command == "POST":
            with LOCK:
                REQUESTS.clear()
                RULES.clear()
            self._send(204)
            return
        if url.path == "/_control" and self.command == "POST":
            try:
                rule = json.loads(body or b"{}")
                path = rule["path"]
                rule["responses"] = list(rule.get("responses", []))
            except (ValueError, KeyError, TypeError) as e:
                self._send(400, json.dumps({"error": str(e)}).encode())
                return
            with LOCK:
                RULES[path] = rule
            self._send(204)
            return
        self._record(body)
        status, headers, delay = rule_for(url.path)
        if delay > 0:
            time.sleep(delay)
        try:
            self._send(status, b"" if status == 204 else b"{}", headers)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_DELETE = _handle
    do_PATCH = _handle


def main():
    global LOG
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        LOG = open(sys.argv[2], "a", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
