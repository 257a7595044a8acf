#!/usr/bin/env bash
# up.sh: runs Herald locally on loopback: installs what is missing, builds,
# starts PostgreSQL and Redis under .stack/local, applies migrations, creates a
# demo tenant and key, starts local stand-in receivers, herald-api and one
# herald-worker per channel, then prints a curl to try. Safe to run again: it
# restarts Herald's processes and keeps the data.
#
# Usage: scripts/up.sh            start (or restart) everything
#        scripts/up.sh down       stop everything (data is kept)
# Logs: .stack/local/logs/*.log
#
# Webhooks may reach public addresses and, of the private ones, only the
# local webhook receiver (HERALD_WEBHOOK_ALLOW=127.0.0.1:9101 by default);
# link-local addresses (cloud metadata) never. Each worker serves /metrics
# on its own port (HERALD_METRICS_LISTEN, from 9201). Any other HERALD_*
# setting in the caller's environment reaches every process, e.g.
#   HERALD_MAX_ATTEMPTS=3 HERALD_RETRY_BASE_MS=500 HERALD_RETRY_MAX_MS=2000 scripts/up.sh
# Operator commands: scripts/herald (heraldctl with this stack's settings).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
STACK=$ROOT/.stack/local
LOGS=$STACK/logs
RUN=$STACK/run
BUILD=$ROOT/build
API_PORT=${HERALD_API_PORT:-8080}
WEBHOOK_PORT=${HERALD_WEBHOOK_RECEIVER_PORT:-9101}
SMTP_PORT=${HERALD_SMTP_STANDIN_PORT:-1025}
SMTP_CONTROL_PORT=${HERALD_SMTP_CONTROL_PORT:-9102}
SMS_PORT=${HERALD_SMS_STANDIN_PORT:-9103}
FCM_PORT=${HERALD_FCM_STANDIN_PORT:-9104}
METRICS_PORT=${HERALD_WORKER_METRICS_PORT:-9201} # the first worker's; one more per worker
CHANNELS=(email sms push webhook)

step() { echo "==> $*"; }

stop_procs() {
    [[ -d "$RUN" ]] || return 0
    for pidfile in "$RUN"/*.pid; do
        [[ -e "$pidfile" ]] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

if [[ "${1:-}" == down ]]; then
    stop_procs
    scripts/stack.sh stop "$STACK"
    exit 0
fi

step "dependencies"
scripts/deps.sh

step "build ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null

step "PostgreSQL and Redis under $STACK"
scripts/stack.sh start "$STACK"
# shellcheck source=/dev/null
source "$STACK/env"
export HERALD_DATABASE_URL HERALD_REDIS_URL
mkdir -p "$LOGS" "$RUN"

step "migrations"
"$BUILD/heraldctl" migrate

step "demo tenant and key"
if [[ ! -s "$STACK/demo.key" ]]; then
    if ! "$BUILD/heraldctl" tenants create demo >"$STACK/demo.secret" 2>/dev/null; then
        "$BUILD/heraldctl" tenants rotate-secret demo >"$STACK/demo.secret"
    fi
    "$BUILD/heraldctl" keys create --tenant demo --admin >"$STACK/demo.key"
fi
KEY=$(cat "$STACK/demo.key")

stop_procs

start() { # name, command...
    local name=$1
    shift
    "$@" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
}

# alive NAME: stops up.sh with the end of NAME's log when its process has
# exited (a port taken by another program, a bad setting).
alive() {
    local pid
    pid=$(cat "$RUN/$1.pid")
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "up.sh: $1 stopped; the end of $LOGS/$1.log:" >&2
        tail -n 5 "$LOGS/$1.log" >&2
        exit 1
    fi
}

# free PORT: stops up.sh when something already listens on 127.0.0.1:PORT
# (another stack, or another program): its answers would pass for ours.
free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "up.sh: 127.0.0.1:$1 is already in use; free it or choose other ports" \
            "(HERALD_API_PORT, HERALD_WORKER_METRICS_PORT, ... at the top of scripts/up.sh)" >&2
        exit 1
    fi
}
for port in "$API_PORT" "$WEBHOOK_PORT" "$SMTP_PORT" "$SMTP_CONTROL_PORT" "$SMS_PORT" "$FCM_PORT"; do
    free "$port"
done
for i in "${!CHANNELS[@]}"; do
    free $((METRICS_PORT + i))
done

step "stand-in receivers (webhooks, SMTP, SMS API, FCM)"
start webhook-receiver python3 tests/receivers/webhook_receiver.py "$WEBHOOK_PORT" \
    "$STACK/webhooks.jsonl"
start smtp-server python3 tests/receivers/smtp_server.py "$SMTP_PORT" "$SMTP_CONTROL_PORT" \
    "$STACK/mail"
start sms-provider python3 tests/receivers/sms_provider.py "$SMS_PORT" "$STACK/sms.jsonl" --callbacks
start fcm-provider python3 tests/receivers/fcm_provider.py "$FCM_PORT" "$STACK/push.jsonl"
for url in "http://127.0.0.1:$WEBHOOK_PORT/_health" "http://127.0.0.1:$SMTP_CONTROL_PORT/_health" \
    "http://127.0.0.1:$SMS_PORT/_health" "http://127.0.0.1:$FCM_PORT/_health"; do
    for _ in $(seq 1 100); do
        curl -fsS "$url" >/dev/null 2>&1 && break
        sleep 0.1
    done
done

step "herald-api on 127.0.0.1:$API_PORT"
export HERALD_LISTEN=127.0.0.1:$API_PORT
# Of the private addresses, webhooks may reach the local receiver only.
export HERALD_WEBHOOK_ALLOW_PRIVATE=false HERALD_WEBHOOK_ALLOW=127.0.0.1:$WEBHOOK_PORT
# the stand-ins; the API needs the public URL and SMS token to check receipts
export HERALD_PUBLIC_URL=http://127.0.0.1:$API_PORT
export HERALD_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT HERALD_SMTP_FROM="Herald <herald@localhost>"
export HERALD_SMS_BASE_URL=http://127.0.0.1:$SMS_PORT HERALD_SMS_ACCOUNT_SID=ACtest \
    HERALD_SMS_AUTH_TOKEN=test-token HERALD_SMS_FROM=+15550000000
export HERALD_FCM_BASE_URL=http://127.0.0.1:$FCM_PORT HERALD_FCM_PROJECT_ID=herald-local \
    HERALD_FCM_ACCESS_TOKEN=test-access-token
start herald-api "$BUILD/herald-api"
step "one herald-worker per channel, /metrics on 127.0.0.1:$METRICS_PORT and up"
metrics_list=""
for i in "${!CHANNELS[@]}"; do
    ch=${CHANNELS[$i]}
    port=$((METRICS_PORT + i))
    HERALD_METRICS_LISTEN=127.0.0.1:$port start "worker-$ch" "$BUILD/herald-worker" --channel "$ch"
    metrics_list+=$(printf '\n                 %-8s http://127.0.0.1:%s/metrics' "$ch" "$port")
done

for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null || {
    echo "herald-api is not ready; see $LOGS/herald-api.log" >&2
    exit 1
}

for i in "${!CHANNELS[@]}"; do
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$((METRICS_PORT + i))/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
done
alive herald-api
for ch in "${CHANNELS[@]}"; do
    alive "worker-$ch"
done

cat <<MSG

Herald is running on http://127.0.0.1:$API_PORT (logs in $LOGS).
Your demo API key (admin): $KEY

  on-call page   http://127.0.0.1:$API_PORT/admin (paste the key above)
  reference      http://127.0.0.1:$API_PORT/docs and docs/reference.md
  operator tool  scripts/herald queues, scripts/herald dlq list --channel webhook, ...
                 (heraldctl with this stack's PostgreSQL and Redis; scripts/herald --help)
  metrics        http://127.0.0.1:$API_PORT/metrics (API), and per worker:$metrics_list
  webhooks       may reach public addresses and, of the private ones, only the local
                 receiver 127.0.0.1:$WEBHOOK_PORT (HERALD_WEBHOOK_ALLOW); link-local never

Create a notification (a webhook to the local receiver):

  curl -s -X POST http://127.0.0.1:$API_PORT/v1/notifications \\
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
    -d '{"channel":"webhook","recipient":"http://127.0.0.1:$WEBHOOK_PORT/hooks/demo","body":"Hello {{name}}","metadata":{"name":"Ada"}}'

Then read it back (put the id from the answer in place of ID):

  curl -s http://127.0.0.1:$API_PORT/v1/notifications/ID -H "Authorization: Bearer $KEY"

An email, an SMS and a push go the same way:

  curl -s -X POST http://127.0.0.1:$API_PORT/v1/notifications/batch \\
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
    -d '{"notifications":[
      {"channel":"email","recipient":"ada@example.com","subject":"Hello {{name}}","body":"Hi {{name}}!","metadata":{"name":"Ada"}},
      {"channel":"sms","recipient":"+14155550100","body":"Your code is 1234"},
      {"channel":"push","recipient":"device-token-1","subject":"Hi","body":"You have mail"}]}'

Where the stand-ins keep what they received:
  webhooks  $STACK/webhooks.jsonl
  email     $STACK/mail/*.eml (the raw messages) and $STACK/mail/messages.jsonl
  SMS       $STACK/sms.jsonl (the provider then calls back: the SMS becomes "delivered")
  push      $STACK/push.jsonl
Make the webhook receiver fail, to see retries and a dead letter (README, "Try it"):

  curl -s -X POST http://127.0.0.1:$WEBHOOK_PORT/_control -d '{"path": "/hooks/gone", "responses": [410]}'

Stop everything with: scripts/up.sh down
MSG
