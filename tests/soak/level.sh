#!/usr/bin/env bash
# level.sh: the data-lifecycle soak. Submits webhooks at a steady RATE for
# SECONDS with a short retention window and short partitions into WORKERS
# herald-worker replicas (default 2, Herald's default settings otherwise)
# delivering to nginx (answers 204),
# and samples every SAMPLE seconds what must stay flat once the first retention
# window has passed, because retention drops whole partitions:
#   bytes     tables and indexes of every partition, and the small tables
#   wal       WAL on disk (pg_ls_waldir); it grows until the first checkpoints
#             (checkpoint_timeout, 5 min by default), then PostgreSQL recycles
#             segments: it passes while under max_wal_size
#   redis     Redis used_memory
#   dwell99   p99 of sent_at - due_at of the notifications created in the
#             10 s before the previous sample (from PostgreSQL), in ms
#   dead      dead tuples of every table (autovacuum keeping up)
#   xid_age   the oldest range partition's relfrozenxid age (no freezing debt
#             piling up: partitions are dropped before they need freezing; the
#             default partitions, empty, are left out: freezing an empty table at
#             autovacuum_freeze_max_age costs nothing)
# and, for the record, pending rows, stream length, partitions, the database's
# datfrozenxid age (grows with the xids used; the small static tables are frozen
# by autovacuum at autovacuum_freeze_max_age, cheaply). RATE must stay below
# what the workers deliver with room to drain a backlog left by a pause (a
# checkpoint, a partition's autovacuum): pending rows keep their partition, so a
# backlog would grow whatever retention does; the pending check says whether
# it did. Channels scale by worker replicas; one replica delivered about
# 2,000-2,100/s here while the worker planned every statement execution, too
# little room to drain a pause's backlog at 2,000/s, so the hour runs two.
# Run by hand; its own build (build-soak/) and servers, all on 127.0.0.1 under
# tests/soak/out, stopped on exit; the databases are deleted after a pass and
# kept (stopped) after a failure.
#
# Usage: tests/soak/level.sh [SECONDS (default 240)] [RETENTION_MS (default 30000)]
#                            [RATE (notifications/s, default 1000)]
#                            [PARTITION_MS (default RETENTION_MS / 5, at least 1000)]
#   the hour at full rate: tests/soak/level.sh 3600 600000 2000
# Environment (optional): WORKERS=N herald-worker replicas (default 2);
# SOAK_SOURCE=HEAD (or another revision) builds that
# commit (a copy in tests/soak/out/src) instead of the working tree, e.g.
# while others edit it.
# Exit status: 0 when everything levels off, 1 when not, 2 on bad usage or a
# run too short to judge.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
DURATION=${1:-240}
RETENTION_MS=${2:-30000}
RATE=${3:-1000}
PARTITION_MS=${4:-$((RETENTION_MS / 5 > 1000 ? RETENTION_MS / 5 : 1000))}
for v in DURATION RETENTION_MS RATE PARTITION_MS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || {
        echo "level.sh: $v must be a positive integer" >&2
        exit 2
    }
done
SAMPLE=10
WORKERS=${WORKERS:-2}
[[ $WORKERS =~ ^[1-9][0-9]?$ ]] || {
    echo "level.sh: WORKERS must be 1 to 99" >&2
    exit 2
}
PER_CALL=100
CONNS=4
OUT=$ROOT/tests/soak/out
STACK=$OUT/stack
NGX=$OUT/nginx
BUILD=$ROOT/build-soak
# the webhook channel's streams: every lane of every priority, and the version 1 stream
STREAMS='herald:stream:*webhook*'
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -n 9 || {
    echo "level.sh: another soak is using $OUT" >&2
    exit 2
}

scripts/deps.sh nginx-light >"$OUT/deps.log" 2>&1 || {
    cat "$OUT/deps.log" >&2
    exit 1
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$NGINX" ]] || {
    echo "level.sh: nginx is missing although nginx-light was installed" >&2
    exit 1
}
SRC=$ROOT
if [[ "${SOAK_SOURCE:-worktree}" != worktree ]]; then
    git -C "$ROOT" rev-parse -q --verify "$SOAK_SOURCE^{commit}" >/dev/null || {
        echo "level.sh: SOAK_SOURCE must be worktree or a revision" >&2
        exit 2
    }
    SRC=$OUT/src
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git -C "$ROOT" archive "$SOAK_SOURCE" | tar -x -C "$SRC"
fi
# a build directory configured for another source tree is started afresh
if [[ -f "$BUILD/CMakeCache.txt" ]] &&
    ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$SRC" "$BUILD/CMakeCache.txt"; then
    rm -rf "$BUILD"
fi
{
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF &&
        cmake --build "$BUILD" -j "$(nproc)" --target herald-api herald-worker heraldctl
} >"$OUT/build.log" 2>&1 || {
    tail -n 40 "$OUT/build.log" >&2
    exit 1
}
cc -O2 -Wall -Wextra -Werror -pthread -o "$OUT/submit" "$SRC/bench/submit.c"

# ---- processes we start, stopped in reverse order on exit -------------------

pids=()
alive() { # PID: running and not a zombie
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}
stop_pid() { # PID: SIGTERM, SIGKILL after 15 s
    local i
    alive "$1" || return 0
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        alive "$1" || break
        sleep 0.1
    done
    if alive "$1"; then kill -KILL "$1" 2>/dev/null || true; fi
    wait "$1" 2>/dev/null || true
}
nginx_stop() {
    local pid
    pid=$(cat "$NGX/nginx.pid" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == nginx ]] || return 0
    stop_pid "$pid"
    rm -f "$NGX/nginx.pid"
}
PASSED=0
cleanup() {
    local i
    trap - EXIT INT TERM
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[$i]}"; done
    nginx_stop
    if ((PASSED)); then
        scripts/stack.sh destroy "$STACK" 9>&- >/dev/null 2>&1 || true
    else
        scripts/stack.sh stop "$STACK" 9>&- >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- a fresh stack, nginx, herald-api, WORKERS herald-workers ----------------

nginx_stop # a run killed before its trap ran
scripts/stack.sh destroy "$STACK" 9>&- >/dev/null 2>&1 || true
rm -rf "$NGX"
rm -f "$OUT"/*.log
scripts/stack.sh start "$STACK" 9>&- >"$OUT/stack.log" 2>&1 || {
    cat "$OUT/stack.log" >&2
    exit 1
}
# shellcheck source=/dev/null
source "$STACK/env"
export HERALD_DATABASE_URL HERALD_REDIS_URL
PSQL=(psql -X -q -A -t -v ON_ERROR_STOP=1 "$HERALD_DATABASE_URL")
REDIS_CLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT_HERALD")
export HERALD_PARTITION_MS=$PARTITION_MS
"$BUILD/heraldctl" migrate >"$OUT/migrate.log" 2>&1
"$BUILD/heraldctl" tenants create soak >/dev/null 2>>"$OUT/migrate.log"
KEY=$("$BUILD/heraldctl" keys create --tenant soak 2>>"$OUT/migrate.log")

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}
API_PORT=$(free_port)
HOOK_PORT=$(free_port)

mkdir -p "$NGX/tmp"
cat >"$NGX/nginx.conf" <<EOF
# tests/soak/level.sh's webhook receiver: 204 to everything, nothing logged per request
worker_processes 1;
daemon on;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events {
    worker_connections 4096;
}
http {
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_buffer_size 64k;
    server {
        listen 127.0.0.1:$HOOK_PORT backlog=4096;
        location / {
            return 204;
        }
    }
}
EOF
"$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" 9>&- || {
    echo "level.sh: nginx did not start (log: $NGX/error.log)" >&2
    exit 1
}

export HERALD_LISTEN=127.0.0.1:$API_PORT HERALD_WEBHOOK_ALLOW_PRIVATE=true
export HERALD_RETENTION_MS=$RETENTION_MS HERALD_RETENTION_INTERVAL_MS=1000
export HERALD_RATE_LIMIT_PER_SEC=10000000 HERALD_RATE_LIMIT_BURST=10000000
export HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-warn} # info logs every retry and purge
"$BUILD/herald-api" >"$OUT/api.log" 2>&1 9>&- &
pids+=($!)
for ((w = 1; w <= WORKERS; w++)); do
    "$BUILD/herald-worker" --channel webhook >"$OUT/worker$w.log" 2>&1 9>&- &
    pids+=($!)
done
ready=0
for ((i = 0; i < 300; i++)); do
    if curl -fsS -o /dev/null "http://$HERALD_LISTEN/readyz" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
((ready)) || {
    tail -n 20 "$OUT/api.log" >&2
    echo "level.sh: herald-api did not become ready" >&2
    exit 1
}

# ---- load and samples --------------------------------------------------------

# sample: bytes wal dead xid_age db_xid_age pending partitions dwell99_ms rows
sample() {
    "${PSQL[@]}" -F ' ' -c "
    WITH parts AS (SELECT relid FROM pg_partition_tree('notifications')
                   UNION ALL SELECT relid FROM pg_partition_tree('delivery_attempts')),
    win AS (SELECT herald_uuid7_floor((extract(epoch FROM now()) * 1000)::bigint - $((SAMPLE * 1000 + 10000))) AS lo,
                   herald_uuid7_floor((extract(epoch FROM now()) * 1000)::bigint - $((SAMPLE * 1000))) AS hi)
    SELECT (SELECT sum(pg_total_relation_size(relid)) FROM parts)
             + pg_total_relation_size('idempotency_keys') + pg_total_relation_size('sms_receipts'),
           (SELECT sum(size) FROM pg_ls_waldir()),
           (SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables),
           (SELECT coalesce(max(age(c.relfrozenxid)), 0) FROM parts p JOIN pg_class c ON c.oid = p.relid
             WHERE c.relkind = 'r' AND c.relname NOT LIKE '%\\_default'),
           (SELECT age(datfrozenxid) FROM pg_database WHERE datname = current_database()),
           (SELECT count(*) FROM notifications WHERE status = 'pending' AND in_stream)
             + (SELECT count(*) FROM notifications WHERE status = 'pending' AND NOT in_stream),
           (SELECT count(*) FROM herald_partitions WHERE parent = 'notifications'),
           (SELECT coalesce(round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
             (ORDER BY sent_at - due_at))), 0) FROM notifications, win
             WHERE id >= win.lo AND id < win.hi AND status = 'sent'),
           (SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables
             WHERE relname LIKE 'notifications_p%' OR relname = 'notifications_default')"
}
redis_mem() { "${REDIS_CLI[@]}" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
xlen() { # entries over all of the channel's streams
    local n=0 k
    for k in $("${REDIS_CLI[@]}" --scan --pattern "$STREAMS"); do
        n=$((n + $("${REDIS_CLI[@]}" xlen "$k")))
    done
    echo "$n"
}

echo "soak: ${DURATION}s of webhooks at ${RATE}/s, retention ${RETENTION_MS} ms, partitions of" \
    "${PARTITION_MS} ms, $WORKERS herald-worker(s), nginx receiver; a sample every ${SAMPLE}s"
printf '%6s %12s %11s %10s %8s %9s %9s %11s %8s %6s %8s %9s\n' \
    t bytes wal redis dwell99 dead xid_age db_xid_age pending parts xlen rows
# the last calls may land a little after DURATION: SAMPLE seconds of slack
"$OUT/submit" "$API_PORT" "$KEY" "http://127.0.0.1:$HOOK_PORT/soak" $((RATE * DURATION)) \
    "$PER_CALL" "$CONNS" $((DURATION + SAMPLE)) "$RATE" >"$OUT/submit.log" 2>&1 9>&- &
SUB=$!
pids+=("$SUB")
samples=()
T0=$SECONDS
for ((t = SAMPLE; t <= DURATION; t += SAMPLE)); do
    sleep $((T0 + t - SECONDS > 0 ? T0 + t - SECONDS : 0))
    read -r by wal dead xa dxa pend parts dw rows < <(sample)
    rm=$(redis_mem)
    xl=$(xlen)
    printf '%6s %12s %11s %10s %8s %9s %9s %11s %8s %6s %8s %9s\n' "$t" "$by" "$wal" "$rm" "$dw" \
        "$dead" "$xa" "$dxa" "$pend" "$parts" "$xl" "$rows"
    # the columns check() reads, in this order
    samples+=("$by $wal $rm $dw $dead $xa $pend")
done
for ((i = 0; i < (SAMPLE + 5) * 10; i++)); do # its last calls, then its counts
    alive "$SUB" || break
    sleep 0.1
done
stop_pid "$SUB"
accepted=$(sed -n 's/^accepted=//p' "$OUT/submit.log")
echo "submitted: ${accepted:-?} of $((RATE * DURATION)) accepted ($(sed -n 's/^first_error=//p' "$OUT/submit.log"))"

# level: the largest value in the last quarter is within 25 % of the largest
# in the second quarter (growth without bound would keep climbing); the
# backlog also passes while it stays under one second's worth of RATE
n=${#samples[@]}
q=$((n / 4))
((q >= 1)) || {
    echo "soak: too short to judge"
    exit 2
}
max_of() {
    local from=$1 to=$2 col=$3 m=0 v i
    for ((i = from; i < to; i++)); do
        v=$(echo "${samples[$i]}" | cut -d' ' -f"$col")
        ((v > m)) && m=$v
    done
    echo "$m"
}
passed=0 failed=0
check() { # COLUMN FLOOR WHAT
    local a b
    a=$(max_of "$q" $((2 * q)) "$1")
    b=$(max_of $((3 * q)) "$n" "$1")
    if ((b * 100 <= a * 125 || b <= $2)); then
        passed=$((passed + 1))
        echo "ok   $3 levels off: $a -> $b"
    else
        failed=$((failed + 1))
        echo "FAIL $3 keeps growing: $a -> $b"
    fi
}
check 1 0 "PostgreSQL tables and indexes (bytes)"
MAX_WAL=$("${PSQL[@]}" -c "SELECT pg_size_bytes(current_setting('max_wal_size'))")
check 2 "$MAX_WAL" "WAL on disk (bytes; passes under max_wal_size)"
check 3 0 "Redis memory (bytes)"
check 4 1000 "dwell p99 (ms; passes under 1 s)"
check 5 "$((RATE * 10))" "dead tuples (passes under 10 s of RATE)"
check 6 0 "oldest partition's xid age"
check 7 "$RATE" "pending backlog (rows)"
if [[ "${accepted:-0}" == $((RATE * DURATION)) ]]; then
    passed=$((passed + 1))
    echo "ok   every notification accepted"
else
    failed=$((failed + 1))
    echo "FAIL ${accepted:-0} of $((RATE * DURATION)) notifications accepted"
fi
echo "$passed passed, $failed failed"
((failed == 0)) || exit 1
PASSED=1
