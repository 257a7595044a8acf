#!/usr/bin/env python3
"""soak.py: Herald's chaos soak (python3, stdlib only). Run it through
tests/chaos/run, which builds Herald and passes --build and --out.

Usage: soak.py --build DIR --out DIR [--short|--long] [--seconds N] [--count N] [--seed N]

What it does, in order:
  1. a fresh PostgreSQL and Redis under OUT/stack (scripts/stack.sh), migrations,
     four tenants (TENANTS), each with an admin key, requests spread over them
     and priorities mixed (lanes and priority in the mix);
  2. the stand-in receivers of every channel that has one in tests/receivers
     and whose herald-worker --channel is available (webhook always), and a
     second webhook stand-in, the failing destination (503 during submission);
  3. two herald-api replicas and two herald-worker replicas per channel, with
     fast timers; one notification per channel must get through (preflight);
  4. submission: client threads with keep-alive connections to both replicas
     send single and batch POSTs (every request with its own Idempotency-Key,
     every notification with its own marker in metadata, rendered into the
     body), paced to spread COUNT notifications over SECONDS; meanwhile faults
     are injected on a schedule: SIGKILL of a random worker every few seconds
     (and a replacement), SIGKILL and restart of API replica a, a Redis restart,
     a PostgreSQL restart, the webhook receiver answering 500 for a while; the
     failing destination's circuit is polled (GET /v1/admin/destinations);
  5. every answer is sorted: 201 accepted, a 4xx or 503 a definite rejection,
     no answer (reset, timeout) and the 503 that says the commit's outcome is
     unknown ("retry with the same Idempotency-Key") unknown; an unknown is
     retried with the same key (and body) on the other replica until it
     resolves or a deadline;
  6. waits until no notification is pending, then checks PostgreSQL, the dead
     letters (heraldctl dlq list) and the receivers' own records; prints the
     figures and "N passed, M failed"; exit 0 only when every check passed.
"""

import argparse
import email
import email.policy
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECEIVERS = os.path.join(ROOT, "tests", "receivers")
STANDIN = os.path.join(ROOT, "tests", "chaos", "standin.py")
STACK_SH = os.path.join(ROOT, "scripts", "stack.sh")
CHANNELS = ["webhook", "email", "sms", "push"]
HOOK_PATHS = ["/hooks/%d" % i for i in range(4)]
# tenants submitting at once (a request's tenant is its number modulo their count)
TENANTS = ["chaos", "chaos-b", "chaos-c", "chaos-d"]
SMS_SID, SMS_TOKEN, SMS_FROM = "ACtest", "test-token", "+15550000000"
# The failing destination: a second webhook stand-in (its own port, so its own
# destination and circuit) answering 503 on DOWN_PATH until submission ends. The
# last tenant sends this share of its webhooks there (one customer's broken
# endpoint).
DOWN_PATH = "/down"
DOWN_SHARE = 0.3
# Fast circuit breakers: open after 5 consecutive failures, 200 ms doubling to 2 s.
BREAKER_FAILURES, BREAKER_OPEN_MS, BREAKER_MAX_OPEN_MS = 5, 200, 2000
MAX_ATTEMPTS = 8
# Deliveries in flight per worker: the stand-ins are single Python processes; more
# than this and, on a busy machine, their answers pass the 1 s delivery timeout.
WORKER_CONCURRENCY = 16
FCM_PROJECT, FCM_TOKEN = "chaos-project", "test-access-token"  # fcm_provider.py's fixed token

T0 = time.monotonic()
PRINT_LOCK = threading.Lock()


def say(msg):
    with PRINT_LOCK:
        print("==> chaos [%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


class Fatal(Exception):
    """The soak cannot go on (a set-up step failed)."""


class Stop(BaseException):
    """SIGTERM or SIGINT: clean up and leave."""


# ---------------------------------------------------------------------------
# processes we start


class Proc:
    def __init__(self, name, role, argv, env, out):
        self.name, self.role, self.argv, self.env = name, role, argv, env
        self.log = os.path.join(out, "logs", name + ".log")
        self.pidfile = os.path.join(out, "run", name + ".pid")
        self.expected_exit = False
        self.rc = None
        f = open(self.log, "ab")
        try:
            self.popen = subprocess.Popen(argv, env=env, stdout=f, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=ROOT,
                                          start_new_session=True)
        finally:
            f.close()
        with open(self.pidfile, "w") as p:
            p.write("%d\n" % self.popen.pid)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        try:
            self.rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.forget()
        return self.rc

    def forget(self):
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass

    def tail(self, n=15):
        try:
            with open(self.log, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 8192))
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("    " + x for x in lines[-n:])
        except OSError:
            return "    (no log)"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_line(path, pattern, timeout):
    """The first match of pattern in the file at path, waiting up to timeout s."""
    rx = re.compile(pattern)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                m = rx.search(f.read())
            if m:
                return m
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return None


def json_lines(path):
    """The JSON values of the file path, one a line (UTF-8); lines that are no
    JSON are skipped, and a missing file has none."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def http_get(url, timeout=2.0, key=None):
    """(status, body bytes) or (None, error text); with a bearer key when given."""
    headers = {} if key is None else {"Authorization": "Bearer " + key}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, http.client.HTTPException) as e:
        return None, str(e)


def http_post_json(url, obj, timeout=5.0):
    data = json.dumps(obj).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, http.client.HTTPException):
        return None


def wait_http(url, timeout, want=200):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st, _ = http_get(url, timeout=1.0)
        if st == want:
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------
# the soak


class Soak:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.out = os.path.abspath(args.out)
        self.stack = os.path.join(self.out, "stack")
        self.recv_dir = os.path.join(self.out, "receivers")
        self.rng = random.Random(args.seed)
        self.runid = "%06x" % self.rng.getrandbits(24)
        self.procs = {}  # name -> Proc, every process we started
        self.procs_lock = threading.RLock()
        self.worker_seq = Counter()
        self.stats = Counter()
        self.stats_lock = threading.Lock()
        self.faults = Counter()
        self.fault_log = []
        self.unexpected = []  # (name, rc, log tail)
        self.findings = []  # free-form notes for the report
        self.stop_faults = threading.Event()
        self.hook_500_on = False
        self.pg_down = False
        self.redis_down = False
        self.api_ports = {}
        self.stack_started = False
        self.inflight = Counter()  # replica -> requests sent and not yet answered
        self.outages = []  # threads running an outage (API kill, Redis or PostgreSQL restart)
        self.other_open = set()  # other destinations seen with an open circuit

    # ---- helpers -------------------------------------------------------------

    def count(self, key, n=1):
        with self.stats_lock:
            self.stats[key] += n

    def fault(self, kind, detail=""):
        self.faults[kind] += 1
        self.fault_log.append((round(time.monotonic() - self.t_submit, 1), kind, detail))
        say("fault: %s%s" % (kind, " (%s)" % detail if detail else ""))

    def fault_note(self, what):
        self.fault_log.append((round(time.monotonic() - self.t_submit, 1), what, ""))
        say(what)

    def bin(self, name):
        return os.path.join(self.build, name)

    def stack_cmd(self, cmd, timeout=120):
        r = subprocess.run([STACK_SH, cmd, self.stack], capture_output=True, text=True,
                           timeout=timeout)
        with open(os.path.join(self.out, "logs", "stack.log"), "a") as f:
            f.write("$ stack.sh %s\n%s%s" % (cmd, r.stdout, r.stderr))
        if r.returncode != 0:
            raise Fatal("stack.sh %s failed: %s" % (cmd, (r.stderr or r.stdout).strip()[-500:]))

    def ctl(self, *argv, timeout=60, check=True):
        r = subprocess.run([self.bin("heraldctl")] + list(argv), env=self.herald_env(),
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Fatal("heraldctl %s failed (exit %d): %s" % (" ".join(argv), r.returncode,
                                                               r.stderr.strip()[-500:]))
        return r

    def sql(self, query, timeout=120):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.db_url, "-c", query],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise Fatal("psql failed: %s" % r.stderr.strip()[-500:])
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def herald_env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env.update({
            "HERALD_DATABASE_URL": self.db_url,
            "HERALD_REDIS_URL": self.redis_url,
            "HERALD_RETRY_BASE_MS": "100",
            "HERALD_RETRY_MAX_MS": "1000",
            "HERALD_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "HERALD_VISIBILITY_TIMEOUT_MS": "2000",
            "HERALD_DELIVERY_TIMEOUT_MS": "1000",
            "HERALD_SWEEP_INTERVAL_MS": "200",
            "HERALD_SWEEP_GRACE_MS": "1000",
            "HERALD_DB_TIMEOUT_MS": "2000",
            "HERALD_SHUTDOWN_GRACE_MS": "3000",
            "HERALD_WEBHOOK_ALLOW_PRIVATE": "true",
            "HERALD_RATE_LIMIT_PER_SEC": "1000000",
            "HERALD_RATE_LIMIT_BURST": "1000000",
            # keep-alive connections idle between paced requests stay open
            "HERALD_HTTP_READ_TIMEOUT_MS": "120000",
            "HERALD_LOG_LEVEL": "info",
            "HERALD_BREAKER_FAILURES": str(BREAKER_FAILURES),
            "HERALD_BREAKER_OPEN_MS": str(BREAKER_OPEN_MS),
            "HERALD_BREAKER_MAX_OPEN_MS": str(BREAKER_MAX_OPEN_MS),
        })
        if getattr(self, "smtp_port", None):
            env["HERALD_SMTP_URL"] = "smtp://127.0.0.1:%d" % self.smtp_port
        if getattr(self, "sms_port", None):
            env.update({"HERALD_SMS_BASE_URL": "http://127.0.0.1:%d" % self.sms_port,
                        "HERALD_SMS_ACCOUNT_SID": SMS_SID, "HERALD_SMS_AUTH_TOKEN": SMS_TOKEN,
                        "HERALD_SMS_FROM": SMS_FROM})
        if getattr(self, "fcm_port", None):
            env.update({"HERALD_FCM_BASE_URL": "http://127.0.0.1:%d" % self.fcm_port,
                        "HERALD_FCM_PROJECT_ID": FCM_PROJECT,
                        "HERALD_FCM_ACCESS_TOKEN": FCM_TOKEN})
        if self.api_ports.get("api-b") and getattr(self, "sms_port", None):
            # SMS status callbacks go to replica b (replica a is the one killed)
            env["HERALD_PUBLIC_URL"] = "http://127.0.0.1:%d" % self.api_ports["api-b"]
        if extra:
            env.update(extra)
        return env

    def start(self, name, role, argv, env=None):
        p = Proc(name, role, argv, env if env is not None else os.environ.copy(), self.out)
        with self.procs_lock:
            self.procs[name] = p
        return p

    # ---- set-up --------------------------------------------------------------

    def setup_stack(self):
        if os.path.exists(os.path.join(self.stack, ".herald-stack")):
            self.stack_cmd("destroy")
        self.stack_started = True
        self.stack_cmd("start")
        env = {}
        with open(os.path.join(self.stack, "env")) as f:
            for line in f:
                m = re.match(r"(?:export )?(\w+)=(.*)$", line.strip())
                if m:
                    env[m.group(1)] = m.group(2)
        self.db_url = env["HERALD_DATABASE_URL"]
        self.redis_url = env["HERALD_REDIS_URL"]
        say("stack: %s, %s" % (self.db_url, self.redis_url))
        self.ctl("migrate")
        # several tenants, so the lanes (fair turns between tenants) are in the mix
        self.keys = []
        for name in TENANTS:
            self.ctl("tenants", "create", name)
            key = self.ctl("keys", "create", "--tenant", name, "--admin").stdout.strip()
            if not re.match(r"^hk_\S+$", key):
                raise Fatal("heraldctl keys create printed no key")
            self.keys.append(key)
        self.key = self.keys[0]

    def worker_supports(self, channel):
        """True when herald-worker --channel knows the channel (probed with a bad
        setting, so it stops at configuration: exit 2 'not available' when not)."""
        env = self.herald_env({"HERALD_LOG_LEVEL": "chaos-probe"})
        try:
            r = subprocess.run([self.bin("herald-worker"), "--channel", channel], env=env,
                               capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return True
        return not (r.returncode == 2 and "not available" in r.stderr)

    def setup_receivers(self):
        os.makedirs(self.recv_dir, exist_ok=True)
        self.channels = []
        self.skipped = {}
        have = {c: self.worker_supports(c) for c in CHANNELS}
        script = {"webhook": "webhook_receiver.py", "email": "smtp_server.py",
                  "sms": "sms_provider.py", "push": "fcm_provider.py"}
        for ch in CHANNELS:
            path = os.path.join(RECEIVERS, script[ch])
            if not os.path.exists(path):
                self.skipped[ch] = "no tests/receivers/%s" % script[ch]
            elif not have[ch]:
                self.skipped[ch] = "herald-worker --channel %s is not available" % ch
        if "webhook" in self.skipped:
            raise Fatal("the webhook channel is required: %s" % self.skipped["webhook"])

        # each stand-in runs through standin.py (a deeper listen backlog; for the
        # webhook receiver, a record of its answers)
        self.hook_log, self.hook_status, self.hook_port = self.start_webhook_receiver(
            "recv-webhook", "the webhook receiver", "webhook")
        self.channels.append("webhook")

        # the failing destination: another webhook stand-in, 503 on DOWN_PATH
        self.down_log, self.down_status, self.down_port = self.start_webhook_receiver(
            "recv-webhook-down", "the failing webhook receiver", "webhook-down")
        self.down_dest = "http://127.0.0.1:%d" % self.down_port
        self.down_on = False
        self.down_seen = []  # (seconds after submission began, state) of its circuit

        if "email" not in self.skipped:
            self.mail_dir = os.path.join(self.recv_dir, "mail")
            p = self.start("recv-email", "receiver",
                           [sys.executable or "python3", STANDIN,
                            os.path.join(RECEIVERS, "smtp_server.py"), "0", "0", self.mail_dir])
            m1 = wait_line(p.log, r"smtp on 127\.0\.0\.1:(\d+)", 15)
            m2 = wait_line(p.log, r"control on 127\.0\.0\.1:(\d+)", 15)
            if not (m1 and m2):
                raise Fatal("the SMTP stand-in did not start:\n" + p.tail())
            self.smtp_port, self.smtp_control = int(m1.group(1)), int(m2.group(1))
            self.channels.append("email")

        if "sms" not in self.skipped:
            self.sms_log = os.path.join(self.recv_dir, "sms.jsonl")
            self.sms_port = self.start_standin("recv-sms", "the SMS stand-in",
                                               [os.path.join(RECEIVERS, "sms_provider.py"), "0",
                                                self.sms_log, "--callbacks"])
            self.channels.append("sms")

        if "push" not in self.skipped:
            self.fcm_log = os.path.join(self.recv_dir, "push.jsonl")
            self.fcm_port = self.start_standin("recv-push", "the FCM stand-in",
                                               [os.path.join(RECEIVERS, "fcm_provider.py"), "0",
                                                self.fcm_log])
            self.channels.append("push")

        for ch, why in self.skipped.items():
            say("channel %s skipped: %s" % (ch, why))
        say("channels: %s" % ", ".join(self.channels))

    def start_standin(self, name, what, args):
        """Starts a stand-in that prints "listening on 127.0.0.1:PORT" through
        standin.py with args (its options, the script, the script's
        arguments); returns PORT. what names it when it does not start."""
        p = self.start(name, "receiver", [sys.executable or "python3", STANDIN] + args)
        m = wait_line(p.log, r"listening on 127\.0\.0\.1:(\d+)", 15)
        if not m:
            raise Fatal("%s did not start:\n%s" % (what, p.tail()))
        return int(m.group(1))

    def start_webhook_receiver(self, name, what, stem):
        """start_standin for a webhook receiver that logs its requests to
        STEM.jsonl and standin.py its answers to STEM-status.jsonl, in the
        receivers' folder; returns (requests file, answers file, port)."""
        log = os.path.join(self.recv_dir, stem + ".jsonl")
        status = os.path.join(self.recv_dir, stem + "-status.jsonl")
        port = self.start_standin(name, what, ["--answers", status,
                                               os.path.join(RECEIVERS, "webhook_receiver.py"),
                                               "0", log])
        return log, status, port

    def start_api(self, name):
        for _ in range(5):
            port = self.api_ports.get(name) or free_port()
            self.api_ports[name] = port
            p = self.start(name, "api", [self.bin("herald-api")],
                           self.herald_env({"HERALD_LISTEN": "127.0.0.1:%d" % port}))
            if wait_http("http://127.0.0.1:%d/healthz" % port, 15):
                return p
            if p.alive():
                raise Fatal("%s does not answer /healthz:\n%s" % (name, p.tail()))
            p.expected_exit = True
            p.forget()
            say("%s did not start on port %d (exit %s); trying again" % (name, port,
                                                                        p.popen.returncode))
            time.sleep(0.5)
        raise Fatal("%s would not start:\n%s" % (name, p.tail()))

    def start_worker(self, channel):
        self.worker_seq[channel] += 1
        name = "worker-%s-%d" % (channel, self.worker_seq[channel])
        return self.start(name, "worker:" + channel,
                          [self.bin("herald-worker"), "--channel", channel, "--concurrency",
                           str(WORKER_CONCURRENCY)],
                          self.herald_env())

    def setup_herald(self):
        # both ports first: every process's HERALD_PUBLIC_URL names replica b
        self.api_ports = {"api-a": free_port(), "api-b": free_port()}
        for name in ("api-a", "api-b"):
            self.start_api(name)
        for name, port in self.api_ports.items():
            if not wait_http("http://127.0.0.1:%d/readyz" % port, 30):
                raise Fatal("%s is not ready:\n%s" % (name, self.procs[name].tail()))
        for ch in self.channels:
            for _ in range(2):
                self.start_worker(ch)
        time.sleep(1.0)
        for p in self.live_procs("worker:"):
            if not p.alive():
                raise Fatal("%s exited at start (%s):\n%s" % (p.name, p.popen.returncode,
                                                             p.tail()))
        say("herald-api on ports %s; %d workers" % (
            ", ".join("%s %d" % kv for kv in sorted(self.api_ports.items())),
            len(self.live_procs("worker:"))))

    def live_procs(self, role_prefix):
        with self.procs_lock:
            return [p for p in self.procs.values()
                    if p.role.startswith(role_prefix) and not p.expected_exit]

    # ---- the notifications ---------------------------------------------------

    def notification(self, channel, marker, n, down=False):
        meta = {"marker": marker, "n": n}
        n_prio = self.rng.random()
        prio = "high" if n_prio < 0.1 else "low" if n_prio > 0.8 else "normal"
        return dict(self.notification_fields(channel, marker, n, meta, down), priority=prio)

    def notification_fields(self, channel, marker, n, meta, down=False):
        if channel == "webhook" and down:
            return {"channel": "webhook", "recipient": self.down_dest + DOWN_PATH,
                    "subject": "chaos {{marker}}", "body": "chaos soak {{marker}} #{{n}}",
                    "metadata": meta}
        if channel == "webhook":
            return {"channel": "webhook",
                    "recipient": "http://127.0.0.1:%d%s" % (self.hook_port,
                                                            HOOK_PATHS[n % len(HOOK_PATHS)]),
                    "subject": "chaos {{marker}}", "body": "chaos soak {{marker}} #{{n}}",
                    "metadata": meta}
        if channel == "email":
            return {"channel": "email", "recipient": "soak%d@example.com" % (n % 50),
                    "subject": "chaos {{marker}}", "body": "chaos soak {{marker}} #{{n}}",
                    "metadata": meta}
        if channel == "sms":
            return {"channel": "sms", "recipient": "+1555%07d" % (n % 10000000),
                    "body": "chaos soak {{marker}}", "metadata": meta}
        return {"channel": "push", "recipient": "chaos-device-%d" % (n % 100),
                "subject": "chaos", "body": "chaos soak {{marker}}", "metadata": meta}

    def make_plan(self, count):
        """The requests: about 30% of the notifications as single POSTs, the rest
        in batches of 2..50 (a few of 200..500), channels mixed; each request
        from one tenant, the last tenant sending DOWN_SHARE of its webhooks to
        the failing destination."""
        plan = []
        n = 0
        chans = self.channels
        while n < count:
            r = self.rng.random()
            if r < 0.918 or count - n == 1:
                size = 1
            elif r < 0.998:
                size = self.rng.randint(2, 50)
            else:
                size = self.rng.randint(200, 500)
            size = min(size, count - n)
            tenant = TENANTS[len(plan) % len(TENANTS)]  # as attempt() picks its key
            items = []
            for _ in range(size):
                marker = "c%s-%d" % (self.runid, n)
                ch = chans[self.rng.randrange(len(chans))]
                down = ch == "webhook" and tenant == TENANTS[-1] and \
                    self.rng.random() < DOWN_SHARE
                items.append((marker, self.notification(ch, marker, n, down)))
                n += 1
            req = Req(len(plan), self.runid, items, n)
            plan.append(req)
        return plan

    # ---- submission ----------------------------------------------------------

    def replicas(self):
        return ["api-a", "api-b"]

    def submit_all(self, plan, seconds, threads):
        self.next_req = 0
        self.next_lock = threading.Lock()
        total = plan[-1].cum if plan else 0
        self.t_submit = time.monotonic()
        for r in plan:  # when each request may start: evenly by notification count
            r.at = self.t_submit + seconds * (r.cum - len(r.items)) / max(1, total)
        ts = [threading.Thread(target=self.client, args=(plan, i), daemon=True,
                               name="client-%d" % i) for i in range(threads)]
        for t in ts:
            t.start()
        return ts

    def client(self, plan, idx):
        conns = {}
        try:
            while True:
                with self.next_lock:
                    if self.next_req >= len(plan) or self.abort_submit:
                        return
                    req = plan[self.next_req]
                    self.next_req += 1
                delay = req.at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.submit(req, conns)
        except Exception as e:  # a bug here must not look like a hang
            self.findings.append("client thread %d crashed: %r" % (idx, e))
            say("client thread %d crashed: %r" % (idx, e))
        finally:
            for c in conns.values():
                if c:
                    c.close()

    def attempt(self, conns, replica, req, rid):
        """One POST of req to replica: ("answer", status, body, headers) or
        ("refused"|"reset"|"timeout", None, error text, None)."""
        conn = conns.get(replica)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.api_ports[replica], timeout=15)
            conns[replica] = conn
        # a request's tenant by its number: a retry goes to the same tenant
        headers = {"Authorization": "Bearer " + self.keys[req.seq % len(self.keys)],
                   "Content-Type": "application/json",
                   "Idempotency-Key": req.key, "X-Request-Id": rid}
        sent = False
        try:
            if conn.sock is None:
                conn.connect()
            sent = True
            with self.stats_lock:
                self.inflight[replica] += 1
            try:
                conn.request("POST", req.path, body=req.body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                with self.stats_lock:
                    self.inflight[replica] -= 1
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            if hdrs.get("connection", "").lower() == "close":
                conn.close()
                conns[replica] = None
            return ("answer", resp.status, data, hdrs)
        except ConnectionRefusedError as e:
            kind = "reset" if sent else "refused"
            err = str(e)
        except (socket.timeout, TimeoutError) as e:
            kind, err = "timeout", "timeout: %s" % e
        except (http.client.HTTPException, OSError) as e:
            kind, err = "reset", "%s: %s" % (type(e).__name__, e)
        conn.close()
        conns[replica] = None
        return (kind, None, err, None)

    def submit(self, req, conns):
        reps = self.replicas()
        first = reps[req.seq % 2]
        order = [first, reps[1 - req.seq % 2]]
        req.t = time.monotonic() - self.t_submit
        # Connection refused: nothing was sent; send it to the other replica.
        deadline = time.monotonic() + 60
        i = 0
        while True:
            rep = order[i % 2]
            res = self.attempt(conns, rep, req, "%s-%d" % (req.key, i))
            i += 1
            if res[0] != "refused":
                break
            self.count("refused_resent")
            if time.monotonic() > deadline:
                req.outcome = "unsent"
                req.err = res[2]
                self.count("unsent")
                return
            if i % 2 == 0:
                time.sleep(0.2)
        req.replica = rep
        if res[0] == "answer" and not self.commit_unknown(res):
            self.classify(req, res, first_try=True)
            return
        # No answer, or a 503 saying the commit's outcome is unknown: the
        # request may or may not have been stored.
        req.outcome = "unknown"
        req.unknown_kind = res[0] if res[0] != "answer" else "commit_unknown"
        req.err = res[2] if res[0] != "answer" else res[2][:300].decode("utf-8", "replace")
        self.count("unknown")
        self.count("unknown_" + req.unknown_kind)
        other = order[1] if rep == order[0] else order[0]
        seq = [other, rep]
        deadline = time.monotonic() + 120
        k = 0
        delay = 0.2
        while time.monotonic() < deadline:
            r2 = self.attempt(conns, seq[k % 2], req, "%s-r%d" % (req.key, k))
            k += 1
            req.retries = k
            if r2[0] == "answer":
                st = r2[1]
                if st == 409 or st == 503 or st == 429:
                    # 409: the first is still being processed; 503/429: no
                    # answer about the first either. Ask again.
                    time.sleep(delay)
                    delay = min(delay * 1.5, 2.0)
                    continue
                self.classify(req, r2, first_try=False)
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        req.resolution = "unresolved"
        self.count("unknown_unresolved")

    @staticmethod
    def commit_unknown(res):
        """A 503 of a request whose commit was in flight when the API had to
        give up on it (the connection broke, and the grace to look it up ran
        out): not a rejection; the answer says to retry with the same key."""
        return res[1] == 503 and b"retry with the same Idempotency-Key" in (res[2] or b"")

    def classify(self, req, res, first_try):
        _, st, data, hdrs = res
        req.status = st
        req.t_done = time.monotonic() - self.t_submit
        if st == 201:
            try:
                doc = json.loads(data)
                rows = doc["data"] if req.batch else [doc]
                if len(rows) != len(req.items):
                    raise ValueError("%d resources for %d notifications" % (len(rows),
                                                                           len(req.items)))
                ids = []
                for (marker, _), row in zip(req.items, rows):
                    if (row.get("metadata") or {}).get("marker") != marker:
                        raise ValueError("resource %s has another marker" % row.get("id"))
                    ids.append(row["id"])
                req.ids = ids
            except (ValueError, KeyError, TypeError) as e:
                self.findings.append("request %s: unreadable 201 body (%s)" % (req.key, e))
                req.ids = []
            replayed = hdrs.get("idempotent-replayed") == "true"
            if first_try:
                req.outcome = "accepted"
                self.count("accepted_requests")
                self.count("accepted", len(req.items))
                if replayed:  # a first try never has a stored twin
                    self.findings.append("request %s: first try answered Idempotent-Replayed"
                                         % req.key)
            else:
                req.resolution = "accepted-replayed" if replayed else "accepted-fresh"
                self.count("unknown_" + req.resolution)
            return
        if 400 <= st < 500 or st == 503:
            kind = "rejected"
        else:
            kind = "error"  # 500 and other 5xx: a bug
            self.findings.append("request %s: HTTP %d %s" % (req.key, st, data[:300]))
        req.err = data[:300].decode("utf-8", "replace")
        if first_try:
            req.outcome = kind
            self.count(kind + "_requests")
            self.count(kind, len(req.items))
            self.count("status_%d" % st)
        else:
            req.resolution = kind
            self.count("unknown_" + kind)
            self.count("unknown_status_%d" % st)

    # ---- faults --------------------------------------------------------------

    def schedule(self, seconds):
        ev = []
        every = 3.0 if seconds <= 120 else 5.0
        t = every * 0.5
        while t < seconds * 0.95:
            ev.append((t, "worker-kill"))
            t += every * self.rng.uniform(0.7, 1.3)
        w = min(8.0, max(4.0, seconds * 0.1))
        ev.append((seconds * 0.10, "webhook-500-on"))
        ev.append((seconds * 0.10 + w, "webhook-500-off"))
        ev.append((seconds * 0.30, "api-kill"))
        ev.append((seconds * 0.50, "redis-restart"))
        ev.append((seconds * 0.70, "pg-restart"))
        ev.sort()
        self.hook_500_window = w
        return ev

    def fault_loop(self, events):
        try:
            i = 0
            while not self.stop_faults.is_set():
                now = time.monotonic() - self.t_submit
                while i < len(events) and events[i][0] <= now and not self.stop_faults.is_set():
                    kind = events[i][1]
                    if kind in ("api-kill", "redis-restart", "pg-restart"):
                        # outages run beside the schedule: worker kills go on
                        t = threading.Thread(target=self.inject_safe, args=(kind,), daemon=True,
                                             name=kind)
                        t.start()
                        self.outages.append(t)
                    else:
                        self.inject(kind)
                    i += 1
                self.watch()
                self.poll_circuits()
                time.sleep(0.1)
        except Exception as e:
            self.findings.append("fault thread crashed: %r" % e)
            say("fault thread crashed: %r" % e)

    def inject_safe(self, kind):
        try:
            self.inject(kind)
        except Exception as e:
            self.findings.append("fault %s failed: %r" % (kind, e))
            say("fault %s failed: %r" % (kind, e))

    def inject(self, kind):
        if kind == "worker-kill":
            ws = [p for p in self.live_procs("worker:") if p.alive()]
            if not ws:
                return
            p = self.rng.choice(ws)
            p.expected_exit = True
            p.signal(signal.SIGKILL)
            p.wait(5)
            self.start_worker(p.role.split(":", 1)[1])
            self.fault("worker SIGKILL", p.name)
        elif kind == "api-kill":
            # mid-request: wait (up to 3 s) for a moment api-a has requests in flight
            end = time.monotonic() + 3.0
            while self.inflight["api-a"] == 0 and time.monotonic() < end:
                time.sleep(0.0005)
            n = self.inflight["api-a"]
            p = self.procs["api-a"]
            p.expected_exit = True
            p.signal(signal.SIGKILL)
            p.wait(5)
            self.fault("api SIGKILL", "api-a with %d request%s in flight, restarted after 2 s"
                       % (n, "" if n == 1 else "s"))
            time.sleep(2.0)
            self.start_api("api-a")
            self.fault_note("api-a back")
        elif kind == "redis-restart":
            self.restart_server("redis", "redis", "stop (SIGTERM)")
        elif kind == "pg-restart":
            self.restart_server("pg", "postgres", "fast shutdown")
        elif kind == "webhook-500-on":
            for path in HOOK_PATHS:
                st = http_post_json("http://127.0.0.1:%d/_control" % self.hook_port,
                                    {"path": path, "responses": [], "default": 500})
                if st != 204:
                    raise Fatal("webhook receiver /_control answered %s" % st)
            self.hook_500_on = True
            self.fault("webhook 500", "every path for %.0f s" % self.hook_500_window)
        elif kind == "webhook-500-off":
            self.hook_500_off()

    def restart_server(self, cmd, name, how):
        """Restarts the stack's server cmd ("redis" or "pg"; name in the
        report): stops it (how), leaves it down 3 s and starts it again, with
        self.<cmd>_down true meanwhile."""
        setattr(self, cmd + "_down", True)
        self.fault(name + " restart", how + ", 3 s down, start")
        self.stack_cmd(cmd + "-stop")
        self.fault_note(name + " stopped")
        time.sleep(3.0)
        self.stack_cmd(cmd + "-start")
        setattr(self, cmd + "_down", False)
        self.fault_note(name + " back")

    def down_start(self):
        """The failing destination answers 503 from now until down_stop."""
        st = http_post_json("http://127.0.0.1:%d/_control" % self.down_port,
                            {"path": DOWN_PATH, "responses": [], "default": 503})
        if st != 204:
            raise Fatal("failing webhook receiver /_control answered %s" % st)
        self.down_on = True
        self.down_t0 = time.monotonic()
        self.down_t0_wall = time.time()

    def down_stop(self):
        if not self.down_on:
            return
        http_post_json("http://127.0.0.1:%d/_control" % self.down_port,
                       {"path": DOWN_PATH, "responses": [], "default": 200})
        self.down_on = False
        self.down_t1 = time.monotonic()
        self.down_t1_wall = time.time()
        self.fault_note("the failing destination answers 200 again")

    def poll_circuits(self):
        """Once a second: the state of the failing destination's circuit as
        GET /v1/admin/destinations shows it (api-b, the replica never killed)."""
        now = time.monotonic()
        if now - getattr(self, "circuits_polled", 0) < 1.0 or "api-b" not in self.api_ports:
            return
        self.circuits_polled = now
        st, body = http_get("http://127.0.0.1:%d/v1/admin/destinations?channel=webhook"
                            % self.api_ports["api-b"], timeout=2.0, key=self.key)
        if st != 200:
            return
        try:
            rows = json.loads(body).get("data") or []
        except (ValueError, AttributeError):
            self.findings.append("GET /v1/admin/destinations: unreadable body")
            return
        state = "closed"
        for r in rows:
            if str(r.get("destination", "")).endswith(":%d" % self.down_port):
                state = r.get("state") or "?"
            elif r.get("destination"):
                self.other_open.add(r["destination"])
        self.down_seen.append((round(now - self.t_submit, 1), state, self.down_on))

    def hook_500_off(self):
        if not self.hook_500_on:
            return
        for path in HOOK_PATHS:
            http_post_json("http://127.0.0.1:%d/_control" % self.hook_port,
                           {"path": path, "responses": [], "default": 200})
        self.hook_500_on = False
        self.fault_note("webhook receiver answers 200 again")

    def watch(self):
        """Restarts a Herald process that exited without being killed by us
        (a finding); a dead receiver is fatal."""
        with self.procs_lock:
            procs = list(self.procs.values())
        for p in procs:
            if p.expected_exit or p.alive():
                continue
            rc = p.popen.returncode
            p.expected_exit = True
            p.forget()
            self.unexpected.append((p.name, rc, p.tail()))
            say("UNEXPECTED: %s exited with %s; log tail:\n%s" % (p.name, rc, p.tail()))
            if p.role == "receiver":
                raise Fatal("receiver %s died" % p.name)
            if p.role == "api":
                self.start_api(p.name)
            else:
                self.start_worker(p.role.split(":", 1)[1])

    def restore(self):
        """After submission: every fault undone."""
        self.hook_500_off()
        self.down_stop()
        if self.redis_down:
            self.stack_cmd("redis-start")
            self.redis_down = False
        if self.pg_down:
            self.stack_cmd("pg-start")
            self.pg_down = False
        if "api-a" in self.procs and not self.procs["api-a"].alive():
            self.start_api("api-a")

    # ---- after submission ----------------------------------------------------

    def drain(self, timeout):
        end = time.monotonic() + timeout
        last = 0
        while True:
            self.watch()
            rows = dict((s, int(n)) for s, n in self.sql(
                "SELECT status, count(*) FROM notifications GROUP BY status"))
            pending = rows.get("pending", 0)
            if pending == 0:
                say("drained: %s" % ", ".join("%s %d" % kv for kv in sorted(rows.items())))
                return True
            if time.monotonic() > end:
                say("still pending after %d s: %d" % (timeout, pending))
                return False
            if time.monotonic() - last > 5:
                say("waiting: %s" % ", ".join("%s %d" % kv for kv in sorted(rows.items())))
                last = time.monotonic()
            time.sleep(1.0)

    def dead_letters(self):
        ids = {}
        for ch in self.channels:
            cursor = None
            for _ in range(1000):  # 1000 pages of 1000
                argv = ["dlq", "list", "--channel", ch, "--limit", "1000", "--json"]
                if cursor:
                    argv += ["--cursor", cursor]
                doc = json.loads(self.ctl(*argv).stdout)
                for row in doc.get("data", []):
                    ids[row["id"]] = ch
                cursor = doc.get("next_cursor")
                if not cursor:
                    break
        return ids

    def receipts(self):
        """Every request the receivers recorded, as dicts {channel, id, marker,
        ok (the receiver accepted it), time}."""
        out = []
        mrx = re.compile(r"[cp]%s-\w+" % self.runid)

        def marker_in(text):
            m = mrx.search(text or "")
            return m.group(0) if m else None

        # webhook: each receiver's log (the healthy one, and the failing
        # destination's), and standin.py's record of its answers
        self.hook_status_known = os.path.exists(self.hook_status) and \
            os.path.getsize(self.hook_status) > 0
        for log, status, port in ((self.hook_log, self.hook_status, self.hook_port),
                                  (self.down_log, self.down_status, self.down_port)):
            answers = defaultdict(list)  # webhook-id -> [status...]
            for a in json_lines(status):
                answers[a.get("id")].append(a.get("status"))
            oks = {k: sum(1 for s in v if 200 <= (s or 0) < 300) for k, v in answers.items()}
            seen = Counter()
            if not os.path.exists(log):
                continue
            with open(log) as f:
                for line in f:
                    try:
                        e = json.loads(line)
                        body = json.loads(e["body"])
                    except (ValueError, KeyError):
                        self.findings.append("webhook receiver: unreadable record")
                        continue
                    nid = e["headers"].get("webhook-id") or body.get("id")
                    marker = (body.get("metadata") or {}).get("marker") or marker_in(e["body"])
                    seen[nid] += 1
                    # the first oks[nid] requests of an id count as its 2xx answers
                    ok = (seen[nid] <= oks.get(nid, 0)) if self.hook_status_known else True
                    out.append({"channel": "webhook", "id": nid, "marker": marker, "ok": ok,
                                "to": "127.0.0.1:%d%s" % (port, e.get("path")),
                                "time": e.get("time")})
        if "email" in self.channels:
            for e in json_lines(os.path.join(self.mail_dir, "messages.jsonl")):
                raw = e.get("message", "")
                m = re.search(r"^Message-ID:\s*<([^@>]+)@", raw, re.M | re.I)
                marker = marker_in(raw)
                if not marker:
                    try:
                        msg = email.message_from_string(raw, policy=email.policy.default)
                        marker = marker_in(str(msg.get("subject", "")) + " " + msg.get_content())
                    except Exception:
                        marker = None
                out.append({"channel": "email", "id": m.group(1) if m else None,
                            "marker": marker, "ok": True,
                            "to": ",".join(e.get("rcpt_to") or []),
                            "time": e.get("time")})
        if "sms" in self.channels:
            for e in json_lines(self.sms_log):
                form = e.get("form") or {}
                out.append({"channel": "sms", "id": None, "marker": marker_in(form.get("Body")),
                            "ok": 200 <= int(e.get("status") or 0) < 300,
                            "to": form.get("To"), "time": e.get("time")})
        if "push" in self.channels:
            for e in json_lines(self.fcm_log):
                if not str(e.get("path", "")).endswith("messages:send"):
                    continue  # token requests
                try:
                    token = json.loads(e.get("body") or "{}")["message"]["token"]
                except (ValueError, KeyError, TypeError):
                    token = None
                out.append({"channel": "push", "id": None,
                            "marker": marker_in(e.get("body")),
                            "ok": 200 <= int(e.get("status") or 0) < 300,
                            "to": token, "time": e.get("time")})
        return out

    def save_smtp_sessions(self):
        """The SMTP stand-in's dialogues, kept for digging (they live only in
        its memory)."""
        if "email" not in self.channels:
            return
        st, body = http_get("http://127.0.0.1:%d/_sessions" % self.smtp_control, timeout=60)
        if st == 200:
            with open(os.path.join(self.recv_dir, "smtp-sessions.json"), "wb") as f:
                f.write(body)

    def stop_herald(self):
        """SIGTERM to every Herald process still running; returns {name: rc}."""
        with self.procs_lock:
            ps = [p for p in self.procs.values()
                  if p.role != "receiver" and not p.expected_exit and p.alive()]
        for p in ps:
            p.expected_exit = True
            p.signal(signal.SIGTERM)
        rcs = {}
        end = time.monotonic() + 20
        for p in ps:
            rc = p.wait(max(0.1, end - time.monotonic()))
            if rc is None:
                p.signal(signal.SIGKILL)
                p.wait(5)
                rc = "hung (SIGKILL after 20 s)"
            rcs[p.name] = rc
        return rcs

    def cleanup(self):
        with self.procs_lock:
            ps = list(self.procs.values())
        for p in ps:
            if p.alive():
                p.expected_exit = True
                p.signal(signal.SIGTERM)
        end = time.monotonic() + 10
        for p in ps:
            if p.wait(max(0.1, end - time.monotonic())) is None:
                p.signal(signal.SIGKILL)
                p.wait(5)
            p.forget()
        if self.stack_started:
            try:
                subprocess.run([STACK_SH, "stop", self.stack], capture_output=True, timeout=120)
            except subprocess.TimeoutExpired:
                pass


class Req:
    __slots__ = ("seq", "key", "items", "cum", "batch", "path", "body", "at", "t", "outcome",
                 "status", "resolution", "ids", "replica", "err", "unknown_kind", "retries",
                 "t_done")

    def __init__(self, seq, runid, items, cum):
        self.seq, self.items, self.cum = seq, items, cum
        self.key = "ck-%s-%d" % (runid, seq)
        self.batch = len(items) > 1
        if self.batch:
            self.path = "/v1/notifications/batch"
            self.body = json.dumps({"notifications": [n for _, n in items]},
                                   separators=(",", ":")).encode()
        else:
            self.path = "/v1/notifications"
            self.body = json.dumps(items[0][1], separators=(",", ":")).encode()
        self.at = self.t = 0.0
        self.t_done = None
        self.outcome = self.status = self.resolution = self.replica = None
        self.err = self.unknown_kind = None
        self.ids = None
        self.retries = 0


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="Herald chaos soak (see tests/chaos/run)")
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--short", action="store_true")
    mode.add_argument("--long", action="store_true")
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--count", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    seconds = args.seconds or (300 if args.long else 45)
    count = args.count or (60000 if args.long else 5000)
    # a bound for the wait at the end: deliveries go at a few hundred a second
    drain_timeout = 90 + count // 200

    def on_signal(signum, _frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    s = Soak(args)
    for d in ("logs", "run", "receivers"):
        os.makedirs(os.path.join(s.out, d), exist_ok=True)
    for name in os.listdir(os.path.join(s.out, "logs")):
        os.unlink(os.path.join(s.out, "logs", name))
    if os.path.isdir(s.recv_dir):
        import shutil
        shutil.rmtree(s.recv_dir)
    os.makedirs(s.recv_dir)
    with open(os.path.join(s.out, "run", "soak.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    say("mode %s: %d notifications over %d s, %d client threads, seed %d, run id %s"
        % ("long" if args.long else "short", count, seconds, args.threads, args.seed, s.runid))
    rc = 1
    try:
        rc = run(s, seconds, count, drain_timeout)
    except Fatal as e:
        say("FATAL: %s" % e)
        print("0 passed, 1 failed")
    except Stop:
        say("interrupted")
        rc = 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        s.stop_faults.set()
        s.cleanup()
        try:
            os.unlink(os.path.join(s.out, "run", "soak.pid"))
        except FileNotFoundError:
            pass
    return rc


def run(s, seconds, count, drain_timeout):
    t_start = time.monotonic()
    s.load_start = os.getloadavg()[0]
    s.setup_stack()
    s.setup_receivers()
    s.setup_herald()
    s.t_submit = time.monotonic()

    # preflight: one notification per channel through replica a
    pre = []
    for ch in s.channels:
        marker = "p%s-%s" % (s.runid, ch)
        body = json.dumps(s.notification(ch, marker, 0)).encode()
        c = http.client.HTTPConnection("127.0.0.1", s.api_ports["api-a"], timeout=10)
        c.request("POST", "/v1/notifications", body=body,
                  headers={"Authorization": "Bearer " + s.key,
                           "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status != 201:
            raise Fatal("preflight %s: HTTP %d %s" % (ch, r.status, data[:300]))
        pre.append((ch, json.loads(data)["id"]))
    end = time.monotonic() + 30
    while True:
        ids = ",".join("'%s'" % i for _, i in pre)
        st = dict(s.sql("SELECT id, status FROM notifications WHERE id IN (%s)" % ids))
        if all(st.get(i) in ("sent", "delivered") for _, i in pre):
            break
        if time.monotonic() > end:
            raise Fatal("preflight: not every channel delivers: %s" % ", ".join(
                "%s %s" % (ch, st.get(i)) for ch, i in pre))
        time.sleep(0.2)
    say("preflight: one notification per channel delivered")

    plan = s.make_plan(count)
    say("plan: %d requests (%d single, %d batches)" % (
        len(plan), sum(1 for r in plan if not r.batch), sum(1 for r in plan if r.batch)))
    s.abort_submit = False
    events = s.schedule(seconds)
    s.down_start()
    threads = s.submit_all(plan, seconds, s.args.threads)
    s.fault("failing destination", "%s answers 503 until submission ends" % s.down_dest)
    ft = threading.Thread(target=s.fault_loop, args=(events,), daemon=True, name="faults")
    ft.start()
    # bounded: clients stop taking requests once past twice the time plus 2 min
    join_end = s.t_submit + 2 * seconds + 120
    last = 0
    for t in threads:
        while t.is_alive() and time.monotonic() < join_end:
            t.join(1.0)
            if time.monotonic() - last > 10:
                with s.next_lock:
                    done = s.next_req
                say("submitting: %d/%d requests started; %s" % (
                    done, len(plan), ", ".join("%s %d" % (k, v) for k, v in sorted(
                        s.stats.items()) if k in ("accepted", "rejected", "unknown"))))
                last = time.monotonic()
    if any(t.is_alive() for t in threads):
        s.abort_submit = True
        s.stop_faults.set()
        s.findings.append("submission did not finish within %d s" % (2 * seconds + 120))
        for t in threads:
            t.join(30)
    t_submitted = time.monotonic()
    submit_secs = t_submitted - s.t_submit
    # faults run to the end of the schedule even if submission was faster
    while ft.is_alive() and time.monotonic() < s.t_submit + seconds + 5:
        ft.join(0.5)
    s.stop_faults.set()
    ft.join(60)
    for t in s.outages:
        t.join(180)
    s.restore()
    say("submission over after %.1f s; faults: %s" % (submit_secs, dict(s.faults)))

    drained = s.drain(drain_timeout)
    t_drained = time.monotonic()
    return check(s, plan, pre, drained, submit_secs, t_drained, t_start)


def check(s, plan, pre, drained, submit_secs, t_drained, t_start):
    checks = []

    def ck(name, ok, detail=""):
        checks.append((name, bool(ok), detail))

    s.save_smtp_sessions()

    # PostgreSQL's view
    rows = s.sql("SELECT id, channel, status, attempts,"
                 " coalesce(metadata::json->>'marker', ''),"
                 " left(translate(coalesce(last_error, ''), E'\\t\\n\\r', '   '), 120),"
                 " in_stream, coalesce(lease_owner, ''), due_at,"
                 " translate(recipient, E'\\t\\n\\r', '   ')"
                 " FROM notifications WHERE kind = 'notification'")
    db = {}
    by_marker = defaultdict(list)
    for r in rows:
        db[r[0]] = {"channel": r[1], "status": r[2], "attempts": int(r[3]), "marker": r[4],
                    "last_error": r[5], "in_stream": r[6], "lease": r[7], "due": r[8],
                    "recipient": r[9]}
        by_marker[r[4]].append(r[0])
    dlq = s.dead_letters()
    rec = s.receipts()
    ok_by_marker = defaultdict(int)   # 2xx receipts
    any_by_marker = defaultdict(int)  # every receipt
    ok_by_id = Counter()
    unknown_receipts = 0
    preset = {"p%s-%s" % (s.runid, ch) for ch in s.channels}
    for e in rec:
        m = e["marker"]
        if m is None:
            unknown_receipts += 1
            continue
        any_by_marker[m] += 1
        if e["ok"]:
            ok_by_marker[m] += 1
        if e["ok"] and m not in preset:
            nid = e["id"]
            if nid is None:
                ids = by_marker.get(m) or [None]
                nid = ids[0]
            ok_by_id[(e["channel"], nid or m)] += 1

    # what the clients were told
    accepted = {}   # marker -> (id from the 201, channel)
    rejected = set()
    unresolved = set()
    res_count = Counter()
    for r in plan:
        ok = r.outcome == "accepted" or (r.outcome == "unknown" and r.resolution and
                                         r.resolution.startswith("accepted"))
        if r.outcome == "unknown":
            res_count[r.resolution or "unresolved"] += 1
        for j, (m, n) in enumerate(r.items):
            if ok:
                accepted[m] = ((r.ids or [None] * len(r.items))[j] if r.ids else None,
                               n["channel"])
            elif r.outcome in ("rejected", "error") or (r.outcome == "unknown" and
                                                       r.resolution in ("rejected", "error")):
                rejected.add(m)
            else:  # unknown, unresolved; or unsent
                unresolved.add(m)
    unsent = [r for r in plan if r.outcome == "unsent"]
    submitted_n = sum(len(r.items) for r in plan if r.outcome is not None)

    # 1. every request got an answer or was followed up
    ck("every request was sent", not unsent and submitted_n == sum(len(r.items) for r in plan),
       "%d requests never sent (refused by both replicas for 60 s)" % len(unsent)
       if unsent else "")
    # 2. each accepted notification is stored once, under the id it was given
    bad_store = [m for m, (nid, _) in accepted.items()
                 if by_marker.get(m) != [nid] or nid is None]
    ck("every 201 is stored once under the id it answered", not bad_store,
       "%d wrong, e.g. %s" % (len(bad_store), "; ".join(
           "%s: answered %s, stored %s" % (m, accepted[m][0], by_marker.get(m))
           for m in bad_store[:5])) if bad_store else "")
    # 3. no marker is stored twice (idempotency across replicas and retries)
    twice = {m: ids for m, ids in by_marker.items() if len(ids) > 1}
    ck("no request stored twice (Idempotency-Key held)", not twice,
       "; ".join("%s -> %s" % (m, ids) for m, ids in list(twice.items())[:5]))
    # 4. everything final
    acc_ids = [nid for nid, _ in accepted.values() if nid in db]
    states = Counter(db[i]["status"] for i in acc_ids)
    not_final = [i for i in acc_ids if db[i]["status"] not in ("sent", "delivered", "failed")]
    ck("every accepted notification reached a final state" +
       ("" if drained else " (drain timed out)"), not not_final and drained,
       "%d not final, e.g. %s" % (len(not_final), "; ".join(
           "%s %s %s attempts=%d in_stream=%s lease=%s due=%s err=%s" % (
               i, db[i]["channel"], db[i]["status"], db[i]["attempts"], db[i]["in_stream"],
               db[i]["lease"] or "-", db[i]["due"], db[i]["last_error"] or "-")
           for i in not_final[:5])) if not_final else "")
    # 4b. status events (schema/009): every final notification has exactly one event of its
    # final status, and no status change was recorded twice (kills and restarts included)
    if s.sql("SELECT to_regclass('events') IS NOT NULL")[0][0] == "t":
        ev = s.sql("SELECT n.id, n.status, count(e.id) FILTER (WHERE e.type = 'notification.' ||"
                   " n.status), count(e.id) - count(DISTINCT e.type) FROM notifications n"
                   " LEFT JOIN events e ON e.notification_id = n.id"
                   " WHERE n.kind = 'notification' AND n.status <> 'pending' GROUP BY n.id, n.status")
        bad_ev = [r for r in ev if r[2] != "1" or r[3] != "0"]
        ck("every final notification has exactly one final status event", not bad_ev,
           "%d of %d wrong, e.g. %s" % (len(bad_ev), len(ev), "; ".join(
               "%s %s final events=%s repeats=%s" % tuple(r) for r in bad_ev[:5]))
           if bad_ev else "")
    # 5. failed ones are dead letters
    failed = [i for i in acc_ids if db[i]["status"] == "failed"]
    not_dl = [i for i in failed if i not in dlq]
    ck("every failed notification is listed by heraldctl dlq list", not not_dl,
       "%d missing, e.g. %s" % (len(not_dl), ", ".join(not_dl[:5])) if not_dl else "")
    # 6. none lost: every sent/delivered one reached its receiver
    lost = [m for m, (nid, ch) in accepted.items()
            if nid in db and db[nid]["status"] in ("sent", "delivered") and
            ok_by_marker.get(m, 0) == 0]
    ck("none lost: every sent notification was received by its receiver", not lost,
       "%d lost, e.g. %s" % (len(lost), "; ".join(
           "%s %s %s" % (m, accepted[m][1], accepted[m][0]) for m in lost[:8])) if lost else "")
    # 7. failed ones were refused by the receiver (by its rules) at least once
    failed_markers = {db[i]["marker"]: i for i in failed}
    never_tried = [m for m in failed_markers if any_by_marker.get(m, 0) == 0]
    ck("every failed notification was refused by its receiver (never just dropped)",
       not never_tried,
       "%d failed without reaching the receiver, e.g. %s" % (len(never_tried), "; ".join(
           "%s %s" % (failed_markers[m], db[failed_markers[m]]["last_error"])
           for m in never_tried[:5])) if never_tried else "")
    failed_but_ok = [m for m in failed_markers if ok_by_marker.get(m, 0) > 0]
    # 8. nothing definitely rejected was stored or delivered
    rej_stored = [m for m in rejected if m in by_marker]
    rej_recv = [m for m in rejected if any_by_marker.get(m, 0) > 0]
    ck("nothing definitely rejected was stored or delivered", not rej_stored and not rej_recv,
       "%d stored, %d received, e.g. %s" % (len(rej_stored), len(rej_recv),
                                            ", ".join((rej_stored + rej_recv)[:5]))
       if rej_stored or rej_recv else "")
    # 9. unresolved unknowns: stored at most once, and if stored, delivered
    unres_bad = [m for m in unresolved if len(by_marker.get(m, [])) > 1 or
                 (by_marker.get(m) and db[by_marker[m][0]]["status"] not in
                  ("sent", "delivered", "failed"))]
    ck("unresolved unknowns: stored at most once, and delivered if stored", not unres_bad,
       ", ".join(unres_bad[:5]))
    # 10. every receipt belongs to a notification of this run
    planned = set(m for r in plan for m, _ in r.items) | preset
    strays = [e for e in rec if e["marker"] and e["marker"] not in planned]
    ck("every receipt belongs to a submitted notification", not strays and not unknown_receipts,
       "%d unknown markers, %d receipts without a marker" % (len(strays), unknown_receipts)
       if strays or unknown_receipts else "")
    # 10b. every receipt went to its notification's recipient, under its id
    misdelivered = []
    for e in rec:
        ids = by_marker.get(e["marker"]) if e["marker"] else None
        if not ids:
            continue
        row = db[ids[0]]
        want = row["recipient"]
        if e["channel"] == "webhook":
            u = urllib.parse.urlsplit(want)
            want = u.netloc + u.path
        if e["channel"] != row["channel"] or e["to"] != want or \
                (e["id"] is not None and e["id"] not in ids):
            misdelivered.append("%s: %s %s to %r (id %s), notification %s %s to %r" % (
                e["marker"], e["channel"], "received", e["to"], e["id"], ids[0], row["channel"],
                want))
    ck("every receipt reached its notification's recipient under its id", not misdelivered,
       "%d, e.g. %s" % (len(misdelivered), "; ".join(misdelivered[:3])) if misdelivered else "")
    # 10c. tenants: each notification stored under the tenant that sent it,
    # none of any tenant lost (6) or left pending (4)
    tenant_of = {m: TENANTS[r.seq % len(TENANTS)] for r in plan for m, _ in r.items}
    stored_tenant = dict(s.sql("SELECT n.id, t.name FROM notifications n"
                               " JOIN tenants t ON t.id = n.tenant_id"))
    wrong_tenant = [m for m, (nid, _) in accepted.items()
                    if nid in stored_tenant and stored_tenant[nid] != tenant_of.get(m)]
    ck("every accepted notification is stored under the tenant that sent it", not wrong_tenant,
       "%d, e.g. %s" % (len(wrong_tenant), ", ".join(wrong_tenant[:5])) if wrong_tenant else "")
    # 10d. the failing destination: its circuit opened while it failed; its
    # notifications ended delivered after it recovered or failed after every
    # attempt (dead letters, checked above); none got a 2xx while it failed
    down_ids = [nid for m, (nid, ch) in accepted.items()
                if nid in db and db[nid]["recipient"].startswith(s.down_dest + "/")]
    down_states = Counter(db[i]["status"] for i in down_ids)
    down_bad = [i for i in down_ids if db[i]["status"] not in ("sent", "delivered", "failed") or
                (db[i]["status"] == "failed" and db[i]["attempts"] < MAX_ATTEMPTS)]
    ck("the failing destination's notifications were delivered after it recovered or failed"
       " after %d attempts" % MAX_ATTEMPTS, down_ids and not down_bad,
       "none sent there" if not down_ids else "%d, e.g. %s" % (len(down_bad), "; ".join(
           "%s %s attempts=%d" % (i, db[i]["status"], db[i]["attempts"])
           for i in down_bad[:5])))
    down_answers = list(json_lines(s.down_status))
    t0w, t1w = getattr(s, "down_t0_wall", 0), getattr(s, "down_t1_wall", 0)
    down_window = [a for a in down_answers if t0w <= (a.get("time") or 0) <= t1w]
    down_ok_early = [a for a in down_window if 200 <= (a.get("status") or 0) < 300]
    ck("the failing destination answered no 2xx while it failed", not down_ok_early,
       "%d 2xx answers" % len(down_ok_early))
    seen_open = [t for t, state, on in s.down_seen if on and state in ("open", "half-open")]
    ck("the failing destination's circuit opened (GET /v1/admin/destinations)", seen_open,
       "never seen open in %d polls" % sum(1 for _, _, on in s.down_seen if on))
    st_d, body_d = http_get("http://127.0.0.1:%d/v1/admin/destinations?channel=webhook"
                            % s.api_ports["api-b"], timeout=10.0, key=s.key)
    still_open = st_d != 200 or (":%d" % s.down_port).encode() in (body_d or b"")
    ck("its circuit closed again once it recovered", not still_open,
       "HTTP %s %s" % (st_d, (body_d or b"")[:200]))
    # healthy destinations kept being delivered while it failed
    healthy_ok = sorted(e["time"] for e in rec if e["ok"] and e["time"] and
                        t0w <= e["time"] <= t1w and
                        not (e["channel"] == "webhook" and
                             e["to"].startswith("127.0.0.1:%d/" % s.down_port)))
    ck("healthy destinations kept being delivered while it failed", healthy_ok,
       "no 2xx receipt at a healthy receiver in %.0f s" % (t1w - t0w))
    gaps = [b - a for a, b in zip([t0w] + healthy_ok, healthy_ok + [t1w])]

    # 11. no 500 answers, no crashes
    errors = [r for r in plan if r.outcome == "error" or r.resolution == "error"]
    ck("no 5xx answer other than 503", not errors,
       "; ".join("%s HTTP %s %s" % (r.key, r.status, r.err) for r in errors[:5]))
    ck("no Herald process exited on its own", not s.unexpected,
       "; ".join("%s exit %s" % (n, rc) for n, rc, _ in s.unexpected))
    want = {"worker SIGKILL", "api SIGKILL", "redis restart", "postgres restart", "webhook 500",
            "failing destination"}
    ck("every kind of fault was injected", want <= set(s.faults),
       "missing: %s" % ", ".join(sorted(want - set(s.faults))))
    ck("no problem in the soak itself", not s.findings, "; ".join(s.findings[:5]))

    # clean shutdown of what is still running
    rcs = s.stop_herald()
    bad_rc = {n: rc for n, rc in rcs.items() if rc != 0}
    ck("every Herald process exited 0 on SIGTERM at the end", not bad_rc,
       ", ".join("%s: %s" % kv for kv in sorted(bad_rc.items())))

    # figures
    acc_markers = set(accepted)
    delivered_n = sum(1 for m in acc_markers if ok_by_marker.get(m, 0) > 0)
    dups = {k: n for k, n in ok_by_id.items() if n > 1 and k[1] not in preset}
    dup_by_ch = Counter(k[0] for k in dups)
    extra = sum(n - 1 for n in dups.values())
    by_ch = Counter(ch for _, ch in accepted.values())
    attempts = dict(s.sql("SELECT outcome, count(*) FROM notification_attempts GROUP BY outcome"))
    timed_out = set(r[0] for r in s.sql(
        "SELECT DISTINCT notification_id FROM notification_attempts WHERE error LIKE '%timed out%'"))
    dup_after_timeout = sum(1 for k in dups if k[1] in timed_out)
    attempt_errors = s.sql(
        "SELECT n.channel, regexp_replace(left(translate(coalesce(a.error, '-'),"
        " E'\\t\\n\\r', '   '), 70), '[0-9]+', 'N', 'g') AS e, count(*)"
        " FROM notification_attempts a JOIN notifications n ON n.id = a.notification_id"
        " WHERE a.outcome <> 'success' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10")
    queues = s.ctl("queues", "--json", check=False).stdout.strip()
    st = s.stats
    e2e = t_drained - s.t_submit
    lines = []
    P = lines.append
    P("")
    P("Herald chaos soak: run %s, seed %d, channels %s%s" % (
        s.runid, s.args.seed, ", ".join(s.channels),
        "" if not s.skipped else " (skipped: %s)" % "; ".join(
            "%s: %s" % kv for kv in s.skipped.items())))
    P("  submitted     %6d notifications in %d requests (%d single, %d batches) over %.1f s,"
      " both replicas" % (submitted_n, len(plan), sum(1 for r in plan if not r.batch),
                          sum(1 for r in plan if r.batch), submit_secs))
    P("  accepted      %6d at the first answer (201), %d more after an unknown; by channel: %s"
      % (st["accepted"], len(accepted) - st["accepted"],
         ", ".join("%s %d" % kv for kv in sorted(by_ch.items()))))
    P("  rejected      %6d notifications in %d requests (%s)" % (
        st["rejected"], st["rejected_requests"], ", ".join(
            "HTTP %s: %d" % (k[7:], v) for k, v in sorted(st.items())
            if k.startswith("status_")) or "none"))
    rej_t = [r.t for r in plan if r.outcome == "rejected"]
    if rej_t:
        P("                first rejection sent %.1f s, last %.1f s after submission began"
          " (faults below, in report.txt)" % (min(rej_t), max(rej_t)))
    P("  unknown       %6d requests (%d reset, %d timeout, %d 503 commit unknown): resolved by"
      " a retry with the same key: %d accepted and replayed (the first had been stored), %d"
      " accepted fresh (it had not), %d rejected, %d unresolved"
      % (st["unknown"], st["unknown_reset"], st["unknown_timeout"], st["unknown_commit_unknown"],
         res_count["accepted-replayed"], res_count["accepted-fresh"],
         res_count["rejected"] + res_count["error"], res_count["unresolved"]))
    P("  refused       %6d connection attempts refused (replica down), resent to the other"
      % st["refused_resent"])
    P("  final states  %s" % ", ".join("%s %d" % kv for kv in sorted(states.items())))
    P("  dead letters  %6d (%s); failed although a receiver had answered 2xx once: %d"
      % (len(failed), ", ".join("%s %d" % kv for kv in sorted(
          Counter(db[i]["channel"] for i in failed).items())) or "none", len(failed_but_ok)))
    if failed:
        errs = Counter(re.sub(r"\d+", "N", db[i]["last_error"] or "-")[:60] for i in failed)
        P("                last errors: %s" % "; ".join(
            "%s (%d)" % kv for kv in errs.most_common(4)))
    P("  delivered     %6d of %d accepted notifications received with a 2xx at least once"
      % (delivered_n, len(accepted)))
    P("  duplicates    %6d notifications received (2xx) more than once, %d extra deliveries"
      " (%s)%s" % (len(dups), extra, ", ".join("%s %d" % kv for kv in sorted(dup_by_ch.items()))
                   or "none", "" if s.hook_status_known else
                   " [webhook answers not recorded: every request counted]"))
    P("                %d of them had an attempt time out (the receiver answered after the"
      " worker gave up); the rest follow worker kills and outages" % dup_after_timeout)
    for t in TENANTS:
        ms = [m for m in accepted if tenant_of.get(m) == t]
        P("  tenant %-7s%6d accepted, %d delivered, %d failed, %d received more than once"
          % (t, len(ms), sum(1 for m in ms if ok_by_marker.get(m, 0) > 0),
             sum(1 for m in ms if accepted[m][0] in db and db[accepted[m][0]]["status"] ==
                 "failed"),
             sum(1 for m in ms if ok_by_marker.get(m, 0) > 1)))
    P("  failing dest. %6d notifications of tenant %s to %s (503 for %.1f s): %s; %d requests"
      " while it failed, circuit seen open in %d of %d polls; healthy receivers answered 2xx %d"
      " times meanwhile, longest gap %.1f s"
      % (len(down_ids), TENANTS[-1], s.down_dest, t1w - t0w,
         ", ".join("%s %d" % kv for kv in sorted(down_states.items())) or "none",
         len(down_window), len(seen_open), sum(1 for _, _, on in s.down_seen if on),
         len(healthy_ok), max(gaps) if gaps else 0.0))
    if s.other_open:
        P("                other circuits seen open: %s" % ", ".join(sorted(s.other_open)))
    P("  attempts      %s" % ", ".join("%s %s" % kv for kv in sorted(attempts.items())))
    for ch, err, n in attempt_errors:
        P("                %-8s %6s  %s" % (ch, n, err))
    P("  faults        %d injected: %s" % (sum(s.faults.values()), ", ".join(
        "%s %d" % kv for kv in sorted(s.faults.items()))))
    P("  throughput    submission %.0f notifications/s accepted; end to end %.0f/s"
      " (%d delivered in %.1f s from the first request to the last final state)"
      % (len(accepted) / max(submit_secs, 0.001), delivered_n / max(e2e, 0.001), delivered_n,
         e2e))
    P("  queues        %s" % queues.replace("\n", " ")[:400])
    P("  total time    %.0f s; load average at the start %.1f, now %.1f (%d CPUs)" % (
        time.monotonic() - t_start, s.load_start, os.getloadavg()[0], os.cpu_count() or 0))
    P("")
    for name, ok, detail in checks:
        P("  %s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok or not detail else
                         ": " + detail))
    npass = sum(1 for c in checks if c[1])
    nfail = len(checks) - npass
    P("")
    P("%d passed, %d failed" % (npass, nfail))
    text = "\n".join(lines)
    print(text, flush=True)
    with open(os.path.join(s.out, "report.txt"), "w") as f:
        f.write(text + "\n")
        f.write("\nfaults (seconds after submission began):\n")
        for t, kind, detail in s.fault_log:
            f.write("  %7.1f  %s %s\n" % (t, kind, detail))
        for n, rc, tail in s.unexpected:
            f.write("\n%s exited with %s:\n%s\n" % (n, rc, tail))
    summary = {
        "run": s.runid, "seed": s.args.seed, "channels": s.channels,
        "submitted": submitted_n, "requests": len(plan), "accepted": len(accepted),
        "accepted_first": st["accepted"], "rejected": st["rejected"],
        "unknown_requests": st["unknown"], "unknown_resolution": dict(res_count),
        "refused_resent": st["refused_resent"], "final_states": dict(states),
        "dead_letters": len(failed), "delivered": delivered_n, "duplicates": len(dups),
        "extra_deliveries": extra, "duplicates_after_timeout": dup_after_timeout,
        "faults": dict(s.faults),
        "submit_seconds": round(submit_secs, 1), "end_to_end_seconds": round(e2e, 1),
        "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks],
        "passed": npass, "failed": nfail,
    }
    with open(os.path.join(s.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    # the per-request record, for digging after a failure
    with open(os.path.join(s.out, "requests.jsonl"), "w") as f:
        for r in plan:
            f.write(json.dumps({"key": r.key, "markers": [m for m, _ in r.items],
                                "replica": r.replica, "outcome": r.outcome, "status": r.status,
                                "resolution": r.resolution, "ids": r.ids, "err": r.err,
                                "retries": r.retries, "sent_at_s": round(r.t, 3),
                                "answered_at_s": r.t_done and round(r.t_done, 3)}) + "\n")
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
