#!/usr/bin/env python3
"""An FCM HTTP v1 stand-in, with an OAuth token endpoint, for tests and the local stack (stdlib only).

Usage: fcm_provider.py PORT [LOG_FILE]

Listens on 127.0.0.1:PORT (0 picks a free port; the chosen one is printed as
"listening on 127.0.0.1:N" on stdout).

  POST /v1/projects/{project}/messages:send
      needs "Authorization: Bearer T" where T was issued by /token and not
      revoked, or is a fixed token (default "test-access-token"); else 401
      UNAUTHENTICATED. The body must be {"message": {"token": ...}}. Answers
      200 {"name": "projects/{project}/messages/<n>"}, or errors shaped like
      FCM's: {"error": {"code", "message", "status", "details": [{"@type":
      "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode"}]}}.
      Built in: a device token containing "unregistered" is 404 UNREGISTERED,
      one containing "invalid" is 400 INVALID_ARGUMENT.
  POST /token
      an OAuth 2.0 JWT-bearer grant (form grant_type, assertion): answers
      {"access_token": "ya29.<random>", "expires_in": N, "token_type": "Bearer"}.
      The assertion is stored with the request; checking it is the test's job.

Every request other than the control routes is stored, and appended to
LOG_FILE as one JSON line when given: {"method", "path", "headers" (lower-case
names), "body", "form" (token requests), "status", "time"}.

Control routes:
  POST /_control  any of
      {"device": "tok" or "*", "responses": [404, 500, 401, {"status": 429,
       "retry_after": 2}, ...]}  the next sends to that device get these answers
          in order (an integer picks FCM's usual error for it: 400
          INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 SENDER_ID_MISMATCH, 404
          UNREGISTERED, 429 QUOTA_EXCEEDED, 500 INTERNAL, 503 UNAVAILABLE; an
          object may set "status", "errorCode", "message", "retry_after")
      {"expires_in": 3600}            lifetime of the tokens issued from now on
      {"token_responses": [400, 500]} the next token requests fail so
      {"revoke": true}                every token issued so far stops working
      {"fixed_tokens": ["t1"]}        fixed tokens accepted besides issued ones
  GET  /_requests[?path=/token]   the stored requests, a JSON array
  POST /_reset    forgets requests, rules and issued tokens
  GET  /_health   200
"""

import json
import re
import os
import secrets
import sys
from urllib.parse import parse_qsl

# this folder, also when tests/chaos/standin.py loads this file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin_http as stub  # noqa: E402
from standin_http import LOCK  # noqa: E402

RULES = {}
ISSUED = set()
STATE = {"expires_in": 3600, "token_responses": [], "fixed": {"test-access-token"}, "count": 0}
FCM_ERRORS = {
    400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    401: ("UNAUTHENTICATED", None, "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    404: ("NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded."),
    500: ("INTERNAL", "INTERNAL", "Internal error encountered."),
    503: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
}


def fcm_error(status, error_code=None, message=None):
    gstatus, default_code, default_msg = FCM_ERRORS.get(status, ("UNKNOWN", None, "error"))
    code = error_code if error_code is not None else default_code
    err = {"code": status, "message": message or default_msg, "status": gstatus}
    if code:
        err["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                           "errorCode": code}]
    return {"error": err}


def next_rule(device):
    return stub.next_answer(RULES, device)


def reset():
    """POST /_reset: forgets the rules and the tokens issued (LOCK held)."""
    RULES.clear()
    ISSUED.clear()
    STATE.update({"expires_in": 3600, "token_responses": []})


def control(rule):
    """POST /_control: applies rule (LOCK held)."""
    if "device" in rule:
        RULES[rule["device"]] = list(rule.get("responses", []))
    if "expires_in" in rule:
        STATE["expires_in"] = int(rule["expires_in"])
    if "token_responses" in rule:
        STATE["token_responses"] = list(rule["token_responses"])
    if rule.get("revoke"):
        ISSUED.clear()
    if "fixed_tokens" in rule:
        STATE["fixed"] = set(rule["fixed_tokens"])


class Handler(stub.Handler):
    _reset = staticmethod(reset)
    _control = staticmethod(control)

    def _send(self, status, obj=None, headers=None):
        self._write(status, json.dumps(obj).encode() if obj is not None else b"", headers,
                    "application/json; charset=UTF-8")

    def _record(self, raw, status, form=None):
        entry = stub.entry(self, raw, status=status)
        if form is not None:
            entry["form"] = form
        stub.record(entry)

    def _token(self, raw):
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        with LOCK:
            scripted = STATE["token_responses"].pop(0) if STATE["token_responses"] else None
            expires = STATE["expires_in"]
        if scripted is not None:
            status, answer = int(scripted), {"error": "invalid_grant",
                                             "error_description": "Invalid JWT Signature."}
            if status >= 500:
                answer = {"error": "internal_failure", "error_description": "Backend error"}
        elif form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" \
                or not form.get("assertion"):
            status, answer = 400, {"error": "unsupported_grant_type",
                                   "error_description": "Invalid grant_type"}
        else:
            token = "ya29." + secrets.token_urlsafe(48)
            with LOCK:
                ISSUED.add(token)
            status, answer = 200, {"access_token": token, "expires_in": expires,
                                   "token_type": "Bearer"}
        self._record(raw, status, form)
        self._send(status, answer)

    def _send_message(self, url, raw):
        project = url.path.split("/")[3]
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        with LOCK:
            authorized = token is not None and (token in ISSUED or token in STATE["fixed"])
        try:
            message = json.loads(raw)["message"]
            device = message["token"]
            # a deadline's time left: android.ttl "<seconds>s", apns-expiration Unix seconds
            ttl = message.get("android", {}).get("ttl")
            if ttl is not None and not re.fullmatch(r"[0-9]+s", ttl):
                device = None
            exp = message.get("apns", {}).get("headers", {}).get("apns-expiration")
            if exp is not None and not re.fullmatch(r"[0-9]+", exp):
                device = None
        except (ValueError, KeyError, TypeError, AttributeError):
            device = None
        headers = {}
        if not authorized:
            status, answer = 401, fcm_error(401)
        elif device is None:
            status, answer = 400, fcm_error(400, None, "Invalid JSON payload received.")
        else:
            rule = next_rule(device)
            if rule is None and "unregistered" in device:
                rule = 404
            elif rule is None and "invalid" in device:
                rule = 400
            if rule is None or (isinstance(rule, dict) and 200 <= rule.get("status", 200) < 300):
                with LOCK:
                    STATE["count"] += 1
                    n = STATE["count"]
                status, answer = 200, {"name": "projects/%s/messages/0:%d%%%s" % (
                    project, n, secrets.token_hex(8))}
            else:
                if isinstance(rule, int):
                    rule = {"status": rule}
                status = int(rule["status"])
                answer = fcm_error(status, rule.get("errorCode"), rule.get("message"))
                if rule.get("retry_after") is not None:
                    headers["Retry-After"] = str(rule["retry_after"])
        self._record(raw, status)
        self._send(status, answer, headers)

    def _route(self, url, raw):
        if url.path == "/token" and self.command == "POST":
            self._token(raw)
        elif url.path.startswith("/v1/projects/") and url.path.endswith("/messages:send") \
                and self.command == "POST":
            self._send_message(url, raw)
        else:
            self._send(404, fcm_error(404, "", "Not found"))


def main():
    stub.serve(Handler, __doc__, sys.argv[1:])


if __name__ == "__main__":
    main()
