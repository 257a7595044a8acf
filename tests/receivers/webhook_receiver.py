#!/usr/bin/env python3
"""A webhook receiver stand-in for tests and the local stack (stdlib only).

Usage: webhook_receiver.py [HOST:]PORT [LOG_FILE]

Listens on 127.0.0.1:PORT, or HOST:PORT (e.g. 127.0.0.2:9101, another loopback
address) (0 picks a free port; the chosen one is printed as "listening on
127.0.0.1:N" on stdout). Every request other than the control
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

import os
import sys
import time

# this folder, also when tests/chaos/standin.py loads this file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin_http as stub  # noqa: E402
from standin_http import LOCK  # noqa: E402

RULES = {}


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


def reset():
    """POST /_reset: forgets the rules (LOCK held)."""
    RULES.clear()


def control(rule):
    """POST /_control: rule replaces the one for its path (LOCK held)."""
    path = rule["path"]
    rule["responses"] = list(rule.get("responses", []))
    RULES[path] = rule


class Handler(stub.Handler):
    _reset = staticmethod(reset)
    _control = staticmethod(control)

    def _route(self, url, body):
        stub.record(stub.entry(self, body))
        status, headers, delay = rule_for(url.path)
        if delay > 0:
            time.sleep(delay)
        try:
            self._send(status, None if status == 204 else {}, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_PUT = stub.Handler._handle
    do_DELETE = stub.Handler._handle
    do_PATCH = stub.Handler._handle


def main():
    stub.serve(Handler, __doc__, sys.argv[1:])


if __name__ == "__main__":
    main()
