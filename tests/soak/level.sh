#!/usr/bin/env bash
# level.sh: the data-lifecycle soak. Submits webhooks at a steady high rate for
# SECONDS with a short retention window, and samples PostgreSQL's table sizes
# and Redis's memory every SAMPLE seconds; with retention purging in small
# batches they must level off instead of growing. Run by hand (a few minutes);
# all servers on 127.0.0.1 under tests/soak/out, stopped on exit. The verdict
# only means something while ingest stays below delivery capacity: the load
# generator submits as fast as it is accepted, and pending rows are never
# purged, so a receiver slower than the API shows a growing backlog.
#
# Usage: tests/soak/level.sh [SECONDS (default 240)] [RETENTION_MS (default 30000)]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
DURATION=${1:-240}
RETENTION_MS=${2:-30000}
SAMPLE=10
OUT=$ROOT/tests/soak/out
BUILD=$ROOT/build-release
mkdir -p "$OUT"
scripts/deps.sh >/dev/null
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target herald-api herald-worker heraldctl >/dev/null
cc -O2 -o "$OUT/submit" bench/submit.c $(pkg-config --cflags --libs libcurl) 2>/dev/null ||
    cc -O2 -o "$OUT/submit" bench/submit.c -lcurl

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    scripts/stack.sh stop "$OUT/stack" >/dev/null 2>&1 || true
}
trap cleanup EXIT

scripts/stack.sh start "$OUT/stack" >/dev/null
# shellcheck source=/dev/null
source "$OUT/stack/env"
export HERALD_DATABASE_URL HERALD_REDIS_URL
"$BUILD/heraldctl" migrate >/dev/null
"$BUILD/heraldctl" tenants create "soak$$" >/dev/null
KEY=$("$BUILD/heraldctl" keys create --tenant "soak$$")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port)
HOOK_PORT=$(free_port)
python3 tests/receivers/webhook_receiver.py "$HOOK_PORT" >"$OUT/receiver.log" 2>&1 &
pids+=($!)
export HERALD_LISTEN=127.0.0.1:$API_PORT HERALD_WEBHOOK_ALLOW_PRIVATE=true
export HERALD_RETENTION_MS=$RETENTION_MS HERALD_RETENTION_INTERVAL_MS=1000
export HERALD_RATE_LIMIT_PER_SEC=10000000 HERALD_RATE_LIMIT_BURST=10000000
"$BUILD/herald-api" 2>"$OUT/api.log" &
pids+=($!)
"$BUILD/herald-worker" --channel webhook 2>"$OUT/worker.log" &
pids+=($!)
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

sample() {
    psql -qAt "$HERALD_DATABASE_URL" -c "select pg_total_relation_size('notifications'),
        pg_total_relation_size('delivery_attempts'), (select count(*) from notifications),
        (select count(*) from notifications where status = 'sent')" | tr '|' ' '
}
redis_mem() { redis-cli -p "$REDIS_PORT_HERALD" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }

echo "soak: ${DURATION}s of webhooks, retention ${RETENTION_MS} ms; a sample every ${SAMPLE}s"
printf '%6s %14s %14s %10s %10s %12s\n' t notif_bytes attempt_bytes rows sent redis_bytes
"$OUT/submit" "$API_PORT" "$KEY" "http://127.0.0.1:$HOOK_PORT/soak" 100000000 100 4 \
    "$DURATION" >"$OUT/submit.log" 2>&1 &
SUB=$!
pids+=("$SUB")
samples=()
for ((t = SAMPLE; t <= DURATION; t += SAMPLE)); do
    sleep "$SAMPLE"
    read -r nb ab rows sent < <(sample)
    rm=$(redis_mem)
    printf '%6s %14s %14s %10s %10s %12s\n' "$t" "$nb" "$ab" "$rows" "$sent" "$rm"
    samples+=("$((nb + ab)) $rm")
done
kill -TERM "$SUB" 2>/dev/null || true

# level: the largest size in the last quarter is within 25 % of the largest
# in the second quarter (growth without bound would keep climbing)
n=${#samples[@]}
q=$((n / 4))
((q >= 1)) || { echo "soak: too short to judge"; exit 2; }
max_of() { local from=$1 to=$2 col=$3 m=0 v; for ((i = from; i < to; i++)); do
    v=$(echo "${samples[$i]}" | cut -d' ' -f"$col"); ((v > m)) && m=$v; done; echo "$m"; }
pg2=$(max_of "$q" $((2 * q)) 1); pg4=$(max_of $((3 * q)) "$n" 1)
rd2=$(max_of "$q" $((2 * q)) 2); rd4=$(max_of $((3 * q)) "$n" 2)
passed=0 failed=0
if ((pg4 * 100 <= pg2 * 125)); then passed=$((passed + 1)); echo "ok   PostgreSQL tables level off: $pg2 -> $pg4 bytes";
else failed=$((failed + 1)); echo "FAIL PostgreSQL tables keep growing: $pg2 -> $pg4 bytes"; fi
if ((rd4 * 100 <= rd2 * 125)); then passed=$((passed + 1)); echo "ok   Redis memory levels off: $rd2 -> $rd4 bytes";
else failed=$((failed + 1)); echo "FAIL Redis memory keeps growing: $rd2 -> $rd4 bytes"; fi
echo "$passed passed, $failed failed"
((failed == 0))
