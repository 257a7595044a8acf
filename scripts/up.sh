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
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
STACK=$ROOT/.stack/local
LOGS=$STACK/logs
RUN=$STACK/run
BUILD=$ROOT/build
API_PORT=${HERALD_API_PORT:-8080}
WEBHOOK_PORT=${HERALD_WEBHOOK_RECEIVER_PORT:-9101}

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

step "stand-in receivers"
if [[ -f tests/receivers/webhook_receiver.py ]]; then
    start webhook-receiver python3 tests/receivers/webhook_receiver.py "$WEBHOOK_PORT" \
        "$STACK/webhooks.jsonl"
fi

step "herald-api on 127.0.0.1:$API_PORT"
export HERALD_LISTEN=127.0.0.1:$API_PORT
export HERALD_WEBHOOK_ALLOW_PRIVATE=true # the local receiver is on loopback
start herald-api "$BUILD/herald-api"
if [[ -x "$BUILD/herald-worker" ]]; then
    step "one herald-worker per channel"
    for ch in email sms push webhook; do
        start "worker-$ch" "$BUILD/herald-worker" --channel "$ch"
    done
fi

for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null || {
    echo "herald-api is not ready; see $LOGS/herald-api.log" >&2
    exit 1
}

cat <<MSG

Herald is running on http://127.0.0.1:$API_PORT (logs in $LOGS).
Your demo API key (admin): $KEY

Create a notification (a webhook to the local receiver):

  curl -s -X POST http://127.0.0.1:$API_PORT/v1/notifications \\
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
    -d '{"channel":"webhook","recipient":"http://127.0.0.1:$WEBHOOK_PORT/hooks/demo","body":"Hello {{name}}","metadata":{"name":"Ada"}}'

Then read it back (put the id from the answer in place of ID):

  curl -s http://127.0.0.1:$API_PORT/v1/notifications/ID -H "Authorization: Bearer $KEY"

Delivered webhooks are kept in $STACK/webhooks.jsonl.
Stop everything with: scripts/up.sh down
MSG
