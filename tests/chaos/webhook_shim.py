#!/usr/bin/env python3
"""Runs tests/receivers/webhook_receiver.py unchanged, and also records what it
answered: for every request other than the control routes, one JSON line
{"id": the webhook-id header, "path", "status", "time"} is appended to
STATUS_FILE. The receiver's own log has every request but not its answer; the
soak needs the answer to tell a delivery (2xx) from a refused attempt.

Usage: webhook_shim.py RECEIVER_PY STATUS_FILE PORT [LOG_FILE]
"""

import importlib.util
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    receiver, status_file = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("webhook_receiver", receiver)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = open(status_file, "a", encoding="utf-8")
    lock = threading.Lock()
    handler = getattr(mod, "Handler", None)
    send = getattr(handler, "_send", None)
    if send is None:
        # The receiver changed shape: run it as is; the soak sees no status file
        # lines and falls back to counting every request as a delivery.
        print("webhook_shim: %s has no Handler._send; answers are not recorded" % receiver,
              file=sys.stderr, flush=True)
    else:
        def recording_send(self, status, *args, **kwargs):
            path = urlsplit(self.path).path
            if not path.startswith("/_"):
                line = json.dumps({"id": self.headers.get("webhook-id"), "path": path,
                                   "status": int(status), "time": time.time()})
                with lock:
                    out.write(line + "\n")
                    out.flush()
            return send(self, status, *args, **kwargs)

        handler._send = recording_send
    sys.argv = [receiver] + sys.argv[3:]
    mod.main()


if __name__ == "__main__":
    main()
