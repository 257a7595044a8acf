#!/usr/bin/env python3
"""An SMTP server stand-in for tests and the local stack (stdlib only).

Usage: smtp_server.py SMTP_PORT CONTROL_PORT [MAIL_DIR]

Speaks SMTP on 127.0.0.1:SMTP_PORT (RFC 5321: EHLO/HELO, AUTH PLAIN and
LOGIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT; EHLO offers
PIPELINING, 8BITMIME, SIZE and AUTH) and HTTP on 127.0.0.1:CONTROL_PORT.
Port 0 picks a free one; the chosen ports are printed on stdout as
"smtp on 127.0.0.1:N" and "control on 127.0.0.1:M".

Every accepted message is kept with its envelope:
  {"mail_from", "rcpt_to": [...], "auth_user" (or null), "mail_params",
   "raw": the DATA bytes exactly as they came on the wire, dot-stuffing and
          the final "." line included (Latin-1, so every byte is one char),
   "message": the message after dot-unstuffing, without the final "." line,
   "time": Unix seconds}
With MAIL_DIR, each message is also written as MAIL_DIR/NNNNNN.eml (the
unstuffed bytes) and appended to MAIL_DIR/messages.jsonl.

Answers (defaults, then what /_control sets):
  RCPT to an address containing "tempfail" -> 451, containing "reject" -> 550.
  AUTH accepts any user and password unless "users" is set.

Control routes (HTTP):
  POST /_control  one of
      {"recipient": "a@b", "rcpt": ["451 4.7.1 Greylisted"], "data": ["554 5.6.0 No"]}
          the listed replies answer that recipient's next RCPTs / ends of
          DATA, in order, then the defaults
      {"mail": ["421 4.3.2 Busy"]}  the next MAIL FROMs, in order, then 250
      {"auth": "535 5.7.8 Authentication credentials invalid"} (null: accept)
      {"users": {"name": "password"}} (null: anyone)
  GET  /_requests    the accepted messages, a JSON array
  GET  /_sessions    every session's dialogue: [[command, reply], ...] per
                     session (AUTH arguments are never recorded)
  POST /_reset       forgets messages, sessions and rules
  GET  /_health      200
"""

import base64
import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ThreadingHTTPServer.request_queue_size = 1024  # Python's default backlog is 5
from urllib.parse import urlsplit

LOCK = threading.Lock()
MESSAGES = []
SESSIONS = []
RULES = {"recipients": {}, "auth": None, "users": None, "mail": []}
MAIL_DIR = None
MAX_SIZE = 10 * 1024 * 1024


def scripted(kind, recipient):
    """The next scripted reply of kind for recipient, or None."""
    with LOCK:
        r = RULES["recipients"].get(recipient.lower())
        if r and r.get(kind):
            return r[kind].pop(0)
    return None


def store(msg):
    with LOCK:
        MESSAGES.append(msg)
        if MAIL_DIR:
            n = len(MESSAGES)
            path = os.path.join(MAIL_DIR, "%06d.eml" % n)
            with open(path, "wb") as f:
                f.write(msg["message"].encode("latin-1"))
            with open(os.path.join(MAIL_DIR, "messages.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(dict(msg, eml=path)) + "\n")


def angle_addr(arg, prefix):
    """The address in 'FROM:<a@b> PARAMS'; (address, params) or None."""
    if not arg.upper().startswith(prefix):
        return None
    rest = arg[len(prefix):].strip()
    if not rest.startswith("<") or ">" not in rest:
        return None
    addr, _, params = rest[1:].partition(">")
    return addr, params.strip()


class SMTPHandler(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, line):
        self.dialogue[-1][1] = line if self.dialogue else None
        self.wfile.write(line.encode("latin-1") + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise ConnectionError("closed")
        return line.decode("latin-1").rstrip("\r\n")

    def reset(self):
        self.mail_from = None
        self.mail_params = ""
        self.rcpts = []

    def handle(self):
        self.dialogue = []
        with LOCK:
            SESSIONS.append(self.dialogue)
        self.reset()
        self.auth_user = None
        self.dialogue.append(["(connect)", None])
        self.reply("220 herald-test ESMTP ready")
        try:
            while True:
                line = self.readline()
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                self.dialogue.append([line if verb != "AUTH" else "AUTH " + arg.split(" ")[0],
                                      None])
                if not self.command(verb, arg):
                    return
        except (ConnectionError, OSError):
            return

    def command(self, verb, arg):
        if verb == "EHLO":
            self.reset()
            self.reply("250-herald-test greets %s" % (arg or "you"))
            self.reply("250-PIPELINING")
            self.reply("250-8BITMIME")
            self.reply("250-SIZE %d" % MAX_SIZE)
            self.reply("250 AUTH PLAIN LOGIN")
        elif verb == "HELO":
            self.reset()
            self.reply("250 herald-test")
        elif verb == "AUTH":
            self.auth(arg)
        elif verb == "MAIL":
            got = angle_addr(arg, "FROM:")
            if got is None:
                self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            elif self.mail_from is not None:
                self.reply("503 5.5.1 Nested MAIL command")
            else:
                with LOCK:
                    r = RULES["mail"].pop(0) if RULES["mail"] else "250 2.1.0 Ok"
                if r.startswith("2"):
                    self.mail_from, self.mail_params = got
                self.reply(r)
        elif verb == "RCPT":
            got = angle_addr(arg, "TO:")
            if self.mail_from is None:
                self.reply("503 5.5.1 Need MAIL first")
            elif got is None:
                self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
            else:
                addr = got[0]
                r = scripted("rcpt", addr)
                if r is None:
                    if "tempfail" in addr:
                        r = "451 4.3.0 Temporary failure for <%s>" % addr
                    elif "reject" in addr:
                        r = "550 5.1.1 <%s>: Recipient address rejected" % addr
                    else:
                        r = "250 2.1.5 Ok"
                if r.startswith("2"):
                    self.rcpts.append(addr)
                self.reply(r)
        elif verb == "DATA":
            if not self.rcpts:
                self.reply("554 5.5.1 No valid recipients")
            else:
                self.data()
        elif verb == "RSET":
            self.reset()
            self.reply("250 2.0.0 Ok")
        elif verb == "NOOP":
            self.reply("250 2.0.0 Ok")
        elif verb == "VRFY":
            self.reply("252 2.0.0 Cannot VRFY")
        elif verb == "QUIT":
            self.reply("221 2.0.0 Bye")
            return False
        else:
            self.reply("502 5.5.2 Command not recognized")
        return True

    def auth(self, arg):
        parts = arg.split(" ")
        mech = parts[0].upper()
        if mech == "PLAIN":
            if len(parts) > 1:
                blob = parts[1]
            else:
                self.reply("334 ")
                blob = self.readline()
            try:
                _, user, password = base64.b64decode(blob).decode("utf-8").split("\0")
            except ValueError:
                self.reply("501 5.5.2 Cannot decode AUTH PLAIN")
                return
        elif mech == "LOGIN":
            try:
                if len(parts) > 1:
                    user = base64.b64decode(parts[1]).decode("utf-8")
                else:
                    self.reply("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.readline()).decode("utf-8")
                self.reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.readline()).decode("utf-8")
            except ValueError:
                self.reply("501 5.5.2 Cannot decode AUTH LOGIN")
                return
        else:
            self.reply("504 5.5.4 Unrecognized authentication type")
            return
        with LOCK:
            forced = RULES["auth"]
            users = RULES["users"]
        if forced:
            self.reply(forced)
        elif users is not None and users.get(user) != password:
            self.reply("535 5.7.8 Authentication credentials invalid")
        else:
            self.auth_user = user
            self.reply("235 2.7.0 Authentication successful")

    def data(self):
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        raw = bytearray()
        lines = []
        while True:
            chunk = self.rfile.readline(1 << 20)
            if not chunk:
                raise ConnectionError("closed in DATA")
            raw += chunk
            if chunk == b".\r\n":
                break
            # a line ending some other way (bare LF) is kept as it came
            lines.append(chunk[1:] if chunk.startswith(b".") else chunk)
        message = b"".join(lines)
        r = None
        for addr in self.rcpts:
            r = r or scripted("data", addr)
        if r is None:
            r = "250 2.0.0 Ok: queued as %d" % (len(MESSAGES) + 1)
        if r.startswith("2"):
            store({
                "mail_from": self.mail_from,
                "mail_params": self.mail_params,
                "rcpt_to": list(self.rcpts),
                "auth_user": self.auth_user,
                "raw": raw.decode("latin-1"),
                "message": message.decode("latin-1"),
                "time": time.time(),
            })
        self.reply(r)
        self.reset()


class SMTPServer(socketserver.ThreadingTCPServer):
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body=b""):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _handle(self):
        url = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        if url.path == "/_health":
            self._send(200, b'{"ok":true}')
        elif url.path == "/_requests" and self.command == "GET":
            with LOCK:
                data = json.dumps(MESSAGES).encode()
            self._send(200, data)
        elif url.path == "/_sessions" and self.command == "GET":
            with LOCK:
                data = json.dumps(SESSIONS).encode()
            self._send(200, data)
        elif url.path == "/_reset" and self.command == "POST":
            with LOCK:
                MESSAGES.clear()
                SESSIONS.clear()
                RULES.update({"recipients": {}, "auth": None, "users": None, "mail": []})
            self._send(204)
        elif url.path == "/_control" and self.command == "POST":
            try:
                rule = json.loads(body or b"{}")
                with LOCK:
                    if "recipient" in rule:
                        RULES["recipients"][rule["recipient"].lower()] = {
                            k: list(rule.get(k, [])) for k in ("rcpt", "data")
                        }
                    if "auth" in rule:
                        RULES["auth"] = rule["auth"]
                    if "users" in rule:
                        RULES["users"] = rule["users"]
                    if "mail" in rule:
                        RULES["mail"] = list(rule["mail"])
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                self._send(400, json.dumps({"error": str(e)}).encode())
                return
            self._send(204)
        else:
            self._send(404, b'{"error":"no such route"}')

    do_GET = _handle
    do_POST = _handle


def main():
    global MAIL_DIR
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    if len(sys.argv) > 3:
        MAIL_DIR = sys.argv[3]
        os.makedirs(MAIL_DIR, exist_ok=True)
    smtp = SMTPServer(("127.0.0.1", int(sys.argv[1])), SMTPHandler)
    control = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Control)
    control.daemon_threads = True
    print("smtp on 127.0.0.1:%d" % smtp.server_address[1], flush=True)
    print("control on 127.0.0.1:%d" % control.server_address[1], flush=True)
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
