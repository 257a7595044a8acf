#!/usr/bin/env python3
"""A Twilio-compatible SMS API stand-in for tests and the local stack (stdlib only).

Usage: sms_provider.py PORT [LOG_FILE] [--callbacks]

Listens on 127.0.0.1:PORT (0 picks a free port; the chosen one is printed as
"listening on 127.0.0.1:N" on stdout) and answers
POST /2010-04-01/Accounts/{SID}/Messages.json like Twilio: HTTP basic auth
SID:token is checked (default credentials ACtest / test-token), the form
needs To, From and Body, and the answer is 201
{"sid": "SM<32 hex>", "status": "queued", "to", "from", "body", ...}.
Errors look like Twilio's: {"code": 21211, "message": "...", "more_info": "...",
"status": 400}. Built in: a bad login is 401 code 20003; To +15005550001 is
400 code 21211 (invalid number), +15005550004 is 400 code 21610 (unsubscribed).

Every request other than the control routes is stored, and appended to
LOG_FILE as one JSON line when given: {"method", "path", "headers" (lower-case
names), "body", "form" (field: value), "auth_user", "auth_ok", "sid" (the one
returned, or null), "status", "time"}.

With --callbacks, an accepted message with a StatusCallback gets a signed
(X-Twilio-Signature) "delivered" status callback about a second later.

Control routes:
  POST /_control  {"to": "+15550001", "responses": [500, {"status": 429, "code": 20429,
                   "message": "Too Many Requests", "retry_after": 2}, ...]}
      the next requests for that To number get these answers in order (an
      integer is that HTTP status with code 20000 + status; an object is sent
      as it says; "retry_after" becomes a Retry-After header; a 2xx object
      may name the "sid" to return), then the default.
      "to": "*" applies to any number without its own rule.
                  {"credentials": {"sid": "AC...", "token": "..."}}
  GET  /_requests   the stored requests, a JSON array
  POST /_reset      forgets requests and rules (credentials stay)
  GET  /_health     200
"""

import base64
import hashlib
import hmac
import os
import secrets
import sys
import threading
import time
import urllib.request
from urllib.parse import parse_qsl, urlencode

# this folder, also when tests/chaos/standin.py loads this file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin_http as stub  # noqa: E402
from standin_http import LOCK  # noqa: E402

RULES = {}
CREDS = {"sid": "ACtest", "token": "test-token"}
CALLBACKS = False
BUILTIN = {
    "+15005550001": (400, 21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (400, 21610, "Attempt to send to unsubscribed recipient"),
}


def next_rule(to):
    return stub.next_answer(RULES, to)


def reset():
    """POST /_reset: forgets the rules (LOCK held)."""
    RULES.clear()


def control(rule):
    """POST /_control: applies rule (LOCK held)."""
    if "to" in rule:
        RULES[rule["to"]] = list(rule.get("responses", []))
    if "credentials" in rule:
        CREDS.update(rule["credentials"])


def twilio_signature(token, url, form):
    data = url + "".join(k + v for k, v in sorted(form.items()))
    mac = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def send_callback(url, form, token):
    time.sleep(1.0)
    data = urlencode(form).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("X-Twilio-Signature", twilio_signature(token, url, form))
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except OSError as e:
        print("callback to %s failed: %s" % (url, e), file=sys.stderr, flush=True)


class Handler(stub.Handler):
    _reset = staticmethod(reset)
    _control = staticmethod(control)
    REQUESTS_BY_PATH = False

    def _auth(self):
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None, False
        try:
            user, _, password = base64.b64decode(h[6:]).decode().partition(":")
        except ValueError:
            return None, False
        with LOCK:
            ok = user == CREDS["sid"] and password == CREDS["token"]
        return user, ok

    def _messages(self, url, raw):
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        user, ok = self._auth()
        parts = url.path.split("/")
        entry = stub.entry(self, raw, form=form, auth_user=user, auth_ok=ok, sid=None)
        status, answer, headers = self._answer(parts, form, user, ok)
        entry["status"] = status
        if status == 201:
            entry["sid"] = answer["sid"]
        stub.record(entry)
        self._send(status, answer, headers)
        if status == 201 and CALLBACKS and form.get("StatusCallback"):
            cb = {"MessageSid": answer["sid"], "MessageStatus": "delivered",
                  "AccountSid": CREDS["sid"], "To": form.get("To", ""),
                  "From": form.get("From", "")}
            threading.Thread(target=send_callback,
                             args=(form["StatusCallback"], cb, CREDS["token"]),
                             daemon=True).start()

    def _answer(self, parts, form, user, ok):
        def error(status, code, message, headers=None):
            return status, {"code": code, "message": message,
                            "more_info": "https://www.twilio.com/docs/errors/%d" % code,
                            "status": status}, headers or {}

        if not ok or len(parts) < 5 or parts[3] != user:
            return error(401, 20003, "Authenticate")
        for field in ("To", "From", "Body"):
            if not form.get(field):
                return error(400, 21602 if field == "Body" else 21604,
                             "A '%s' parameter is required." % field)
        # Twilio's ValidityPeriod: whole seconds, 1 to 36000 (a deadline's time left)
        vp = form.get("ValidityPeriod")
        if vp is not None and not (vp.isdigit() and 1 <= int(vp) <= 36000):
            return error(400, 21616, "ValidityPeriod must be an integer from 1 to 36000")
        rule = next_rule(form["To"])
        if rule is not None:
            if isinstance(rule, int):
                rule = {"status": rule, "code": 20000 + rule, "message": "HTTP %d" % rule}
            headers = {}
            if rule.get("retry_after") is not None:
                headers["Retry-After"] = str(rule["retry_after"])
            if not 200 <= int(rule["status"]) < 300:
                return error(int(rule["status"]), int(rule.get("code", 0)),
                             rule.get("message", ""), headers)
        elif form["To"] in BUILTIN:
            return error(*BUILTIN[form["To"]])
        sid = (rule or {}).get("sid") or "SM" + secrets.token_hex(16)
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return 201, {"sid": sid, "status": "queued", "to": form["To"], "from": form["From"],
                     "body": form["Body"], "account_sid": user, "num_segments": "1",
                     "date_created": now, "date_updated": now, "date_sent": None,
                     "error_code": None, "error_message": None,
                     "uri": "/2010-04-01/Accounts/%s/Messages/%s.json" % (user, sid)}, {}

    def _route(self, url, raw):
        if url.path.endswith("/Messages.json") and self.command == "POST":
            self._messages(url, raw)
        else:
            self._send(404, {"code": 20404, "message": "The requested resource was not found",
                             "status": 404})


def main():
    global CALLBACKS
    CALLBACKS = "--callbacks" in sys.argv[1:]
    stub.serve(Handler, __doc__, [a for a in sys.argv[1:] if a != "--callbacks"])


if __name__ == "__main__":
    main()
