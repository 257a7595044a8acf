#!/usr/bin/env python3
"""Runs one of the stand-in receivers of tests/receivers unchanged, with two
additions for the soak:

  - a listen backlog of 1024 instead of socketserver's 5, so bursts of
    connections from several workers are queued like a real provider would
    queue them, instead of dropped SYNs turning into connect timeouts;
  - with --answers FILE, what the receiver answered: for every request other
    than the control routes, one JSON line {"id": the webhook-id header,
    "path", "status", "time"} is appended to FILE. The webhook receiver's own
    log has every request but not its answer; the soak needs the answer to
    tell a delivery (2xx) from a refused attempt.

Usage: standin.py [--answers FILE] RECEIVER_PY [ITS ARGUMENTS...]
"""

import importlib.util
import json
import socketserver
import sys
import threading
import time
from urllib.parse import urlsplit


def record_answers(mod, path):
    handler = getattr(mod, "Handler", None)
    send = getattr(handler, "_send", None)
    if send is None:
        # The receiver changed shape: run it as is; the soak finds no answers
        # and counts every request as a delivery (it says so).
        print("standin: no Handler._send; answers are not recorded", file=sys.stderr, flush=True)
        return
    out = open(path, "a", encoding="utf-8")
    lock = threading.Lock()

    def recording_send(self, status, *args, **kwargs):
        p = urlsplit(self.path).path
        if not p.startswith("/_"):
            line = json.dumps({"id": self.headers.get("webhook-id"), "path": p,
                               "status": int(status), "time": time.time()})
            with lock:
                out.write(line + "\n")
                out.flush()
        return send(self, status, *args, **kwargs)

    handler._send = recording_send


def main():
    args = sys.argv[1:]
    answers = None
    if len(args) >= 2 and args[0] == "--answers":
        answers = args[1]
        args = args[2:]
    if not args:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    socketserver.TCPServer.request_queue_size = 1024
    spec = importlib.util.spec_from_file_location("standin_receiver", args[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if answers:
        record_answers(mod, answers)
    sys.argv = args
    mod.main()


if __name__ == "__main__":
    main()
