#!/usr/bin/env bash
# stack.sh: throwaway PostgreSQL and Redis servers for tests and local runs,
# listening on 127.0.0.1 only, with all data and logs under one directory.
#
# Usage: scripts/stack.sh COMMAND DIR
#   start DIR        init (first time) and start both servers; a no-op apart from
#                    rewriting DIR/env when they already run. Free ports are
#                    picked unless PGPORT_HERALD / REDIS_PORT_HERALD are set;
#                    a restarted stack keeps its previous ports when still free.
#   stop DIR         stop both servers (data is kept)
#   status DIR       print the state of both; exit 0 only if both run
#   destroy DIR      stop both and delete DIR with all its data
#   redis-stop DIR   stop Redis (SIGTERM: the AOF is flushed)
#   redis-start DIR  start Redis again on the same port with the same data
#   redis-flush DIR  FLUSHALL
#   pg-stop DIR      stop PostgreSQL with a fast shutdown
#   pg-start DIR     start PostgreSQL again on the same port with the same data
#
# DIR/env, after start, can be sourced:
#   export HERALD_DATABASE_URL=postgresql://herald@127.0.0.1:PORT/herald
#   export HERALD_REDIS_URL=redis://127.0.0.1:PORT/0
#   PGPORT_HERALD=PORT
#   REDIS_PORT_HERALD=PORT
#
# Layout: DIR/pg/{data,run,postgres.log} belongs to the postgres user when run
# as root (PostgreSQL refuses to run as root); when that user cannot reach DIR,
# DIR/pg is a symlink to a directory under /tmp. DIR/redis holds Redis data and
# pidfile, DIR/logs the Redis log and the logs of processes tests start.
set -euo pipefail

die() {
    echo "stack: $*" >&2
    exit 1
}
note() { echo "stack: $*"; }

usage() {
    sed -n '5,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

(($# == 2)) || usage
CMD=$1
DIR_ARG=$2

# ---- locating tools -------------------------------------------------------

pg_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        echo "$PG_BINDIR"
        return
    fi
    if [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then
        echo /usr/lib/postgresql/15/bin
        return
    fi
    local d best=""
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/postgres" ]] && best=$d
    done
    if [[ -n "$best" ]]; then
        echo "$best"
        return
    fi
    if command -v pg_config >/dev/null 2>&1; then
        pg_config --bindir
        return
    fi
    die "PostgreSQL server binaries not found (run scripts/deps.sh or set PG_BINDIR)"
}

# as_pg: runs a command as the postgres user when we are root, else as us.
as_pg() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# ---- paths and state ------------------------------------------------------

resolve_dir() {
    if [[ "$CMD" == start ]]; then
        mkdir -p "$DIR_ARG"
    fi
    if [[ ! -d "$DIR_ARG" ]]; then
        DIR=""
        return
    fi
    DIR=$(cd "$DIR_ARG" && pwd -P)
}

set_paths() {
    ENV_FILE=$DIR/env
    MARKER=$DIR/.herald-stack
    PGROOT=$DIR/pg
    LOGDIR=$DIR/logs
    RDIR=$DIR/redis
    RPID=$RDIR/redis.pid
    RLOG=$LOGDIR/redis.log
    if [[ -e "$PGROOT" ]]; then
        PGROOT=$(readlink -f "$PGROOT")
    fi
    PGDATA_DIR=$PGROOT/data
    PGRUN=$PGROOT/run
    PGLOG=$PGROOT/postgres.log
}

# stored_port KEY: the port recorded in DIR/env by an earlier start, or "".
stored_port() {
    [[ -f "$ENV_FILE" ]] || return 0
    sed -n "s/^$1=\([0-9][0-9]*\)$/\1/p" "$ENV_FILE" | tail -n 1
}

write_env() {
    local tmp=$ENV_FILE.tmp
    {
        echo "export HERALD_DATABASE_URL=postgresql://herald@127.0.0.1:$PG_PORT/herald"
        echo "export HERALD_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
        echo "PGPORT_HERALD=$PG_PORT"
        echo "REDIS_PORT_HERALD=$REDIS_PORT"
    } >"$tmp"
    mv -f "$tmp" "$ENV_FILE"
}

# ---- ports ----------------------------------------------------------------

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_port NAME: prints "EXPLICIT PORT" for a server about to start: the
# port the environment variable NAME asks for (EXPLICIT 1), else the one
# DIR/env stored unless something else listens there now (EXPLICIT 0; PORT
# empty: pick a free one).
start_port() {
    local name=$1 want
    if [[ -n "${!name:-}" ]]; then
        echo "1 ${!name}"
        return
    fi
    want=$(stored_port "$name")
    if [[ -n "$want" ]] && port_in_use "$want"; then
        want=""
    fi
    echo "0 $want"
}

# start_on NAME TRY UNDO LOG PREFERRED EXPLICIT: starts the server NAME with
# `TRY PORT` on PREFERRED if given, else on a free port, and sets STARTED_PORT.
# After a failed try it runs UNDO; when the port was not explicitly requested
# it retries on fresh ports (another process may have grabbed it), up to five
# tries. Dies showing the end of LOG when the server does not start.
start_on() {
    local name=$1 try=$2 undo=$3 log=$4 port=$5 explicit=$6 i
    for ((i = 0; i < 5; i++)); do
        if [[ -z "$port" ]]; then
            port=$(free_port)
        fi
        if "$try" "$port"; then
            STARTED_PORT=$port
            return 0
        fi
        "$undo"
        if [[ "$explicit" == 1 ]]; then
            break
        fi
        note "$name failed to start on port $port, trying another"
        port=""
    done
    tail -n 20 "$log" >&2 || true
    die "$name did not start (log: $log)"
}

# free_port: a loopback port nobody listens on right now. The kernel picks it
# (bind to port 0); without python3 we probe random high ports instead. Either
# way another process may take it before we bind, so starts retry.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! port_in_use "$p"; then
            echo "$p"
            return
        fi
    done
    die "could not find a free port"
}

# ---- PostgreSQL -----------------------------------------------------------

pg_running() {
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] || return 1
    as_pg "$PGBIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

pg_prepare_root() {
    if [[ -e "$DIR/pg" ]]; then
        return
    fi
    local root=$DIR/pg
    if ((EUID == 0)) && ! runuser -u postgres -- test -x "$DIR"; then
        # The postgres user cannot traverse DIR's parents (e.g. a clone under
        # /root): keep the cluster in a directory of its own under /tmp.
        root=$(mktemp -d /tmp/herald-stack-pg.XXXXXX)
        ln -s "$root" "$DIR/pg"
    else
        mkdir -p "$root"
    fi
    mkdir -p "$root/run"
    if ((EUID == 0)); then
        chown -R postgres: "$root"
    fi
    chmod 700 "$root"
    set_paths
}

pg_init() {
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] && return 0
    note "initdb in $PGDATA_DIR"
    as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U herald -A trust -E UTF8 --no-locale \
        >"$PGROOT/initdb.log" 2>&1 || {
        cat "$PGROOT/initdb.log" >&2
        die "initdb failed"
    }
    # Only local and 127.0.0.1 connections exist, both trusted.
    as_pg sh -c "printf '%s\n' 'local all all trust' 'host all all 127.0.0.1/32 trust' \
        >'$PGDATA_DIR/pg_hba.conf'"
    as_pg sh -c "echo \"include_if_exists = 'herald.conf'\" >>'$PGDATA_DIR/postgresql.conf'"
}

# pg_write_conf PORT: the settings stack.sh owns, rewritten on every start.
# Durability settings stay at their defaults (fsync, synchronous_commit,
# full_page_writes on) so crash tests see real behaviour.
pg_write_conf() {
    local run=${PGRUN//\'/\'\'}
    as_pg sh -c "cat >'$PGDATA_DIR/herald.conf'" <<EOF
# Written by scripts/stack.sh on each start.
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$run'
fsync = on
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

pg_try_start() {
    pg_write_conf "$1"
    as_pg "$PGBIN/pg_ctl" start -D "$PGDATA_DIR" -l "$PGLOG" -w -t 60 >/dev/null 2>&1
}

# pg_start_on PREFERRED EXPLICIT: start_on for PostgreSQL; sets PG_PORT.
pg_start_on() {
    start_on PostgreSQL pg_try_start : "$PGLOG" "$1" "$2"
    PG_PORT=$STARTED_PORT
}

pg_running_port() {
    sed -n 's/^port = \([0-9]*\)$/\1/p' "$PGDATA_DIR/herald.conf" 2>/dev/null | tail -n 1
}

pg_ensure_db() {
    local psql=("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U herald -d postgres -v ON_ERROR_STOP=1)
    local exists
    exists=$("${psql[@]}" -Atc "select 1 from pg_database where datname = 'herald'")
    if [[ "$exists" != 1 ]]; then
        "${psql[@]}" -c "create database herald"
    fi
}

pg_stop() {
    if pg_running; then
        as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 >/dev/null
        note "PostgreSQL stopped"
    fi
}

# ---- Redis ----------------------------------------------------------------

# alive PID: true while PID runs. A zombie counts as gone: in containers
# whose PID 1 does not reap, a daemon that exited stays a zombie forever.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

redis_pid() {
    local pid
    [[ -f "$RPID" ]] || return 1
    pid=$(cat "$RPID" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    # A stale pidfile may name a reused pid: make sure it is our server.
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* ]] || return 1
    echo "$pid"
}

redis_running() { redis_pid >/dev/null; }

redis_ping() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

redis_try_start() {
    local port=$1 i
    rm -f "$RPID"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$RDIR" \
        --appendonly yes --appendfsync everysec --save '' \
        --daemonize yes --pidfile "$RPID" --logfile "$RLOG" || return 1
    # Ready once it answers PONG (not LOADING); gone if it could not bind.
    for ((i = 0; i < 300; i++)); do
        if redis_ping "$port"; then
            return 0
        fi
        if ((i > 10)) && ! redis_running; then
            return 1
        fi
        sleep 0.05
    done
    return 1
}

# redis_start_on PREFERRED EXPLICIT: start_on for Redis; sets REDIS_PORT.
redis_start_on() {
    command -v redis-server >/dev/null || die "redis-server not found (run scripts/deps.sh)"
    mkdir -p "$RDIR" "$LOGDIR"
    start_on Redis redis_try_start redis_kill "$RLOG" "$1" "$2"
    REDIS_PORT=$STARTED_PORT
}

# redis_kill: SIGTERM (Redis flushes the AOF and exits), SIGKILL after 10 s.
redis_kill() {
    local pid i
    pid=$(redis_pid) || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.1
    fi
    rm -f "$RPID"
}

redis_stop() {
    if redis_running; then
        redis_kill
        note "Redis stopped"
    fi
}

# ---- commands -------------------------------------------------------------

need_stack() {
    [[ -n "$DIR" && -f "$MARKER" ]] || die "$DIR_ARG is not a stack directory (run: stack.sh start $DIR_ARG)"
}

cmd_start() {
    touch "$MARKER"
    mkdir -p "$LOGDIR" "$RDIR"
    pg_prepare_root
    pg_init

    local want explicit
    if pg_running; then
        PG_PORT=$(pg_running_port)
        if [[ -n "${PGPORT_HERALD:-}" && "$PGPORT_HERALD" != "$PG_PORT" ]]; then
            note "PostgreSQL already runs on port $PG_PORT; ignoring PGPORT_HERALD=$PGPORT_HERALD"
        fi
    else
        read -r explicit want <<<"$(start_port PGPORT_HERALD)"
        pg_start_on "$want" "$explicit"
    fi
    pg_ensure_db

    if redis_running; then
        REDIS_PORT=$(stored_port REDIS_PORT_HERALD)
        [[ -n "$REDIS_PORT" ]] || die "Redis runs but DIR/env lost its port; run stop first"
    else
        read -r explicit want <<<"$(start_port REDIS_PORT_HERALD)"
        redis_start_on "$want" "$explicit"
    fi

    write_env
    note "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (env: $ENV_FILE)"
}

cmd_stop() {
    [[ -n "$DIR" && -f "$MARKER" ]] || return 0
    pg_stop
    redis_stop
}

cmd_status() {
    need_stack
    local ok=0 pgp rp
    pgp=$(stored_port PGPORT_HERALD)
    rp=$(stored_port REDIS_PORT_HERALD)
    if pg_running; then
        echo "postgres: running on 127.0.0.1:${pgp:-?} (data $PGDATA_DIR)"
    else
        echo "postgres: stopped (port ${pgp:-?})"
        ok=1
    fi
    if redis_running; then
        echo "redis: running on 127.0.0.1:${rp:-?} (pid $(redis_pid))"
    else
        echo "redis: stopped (port ${rp:-?})"
        ok=1
    fi
    return "$ok"
}

cmd_destroy() {
    [[ -n "$DIR" ]] || return 0
    [[ -f "$MARKER" ]] || die "refusing to delete $DIR: no $MARKER marker"
    pg_stop
    redis_stop
    if [[ -L "$DIR/pg" ]]; then
        local target
        target=$(readlink -f "$DIR/pg")
        [[ "$target" == /tmp/herald-stack-pg.* ]] && rm -rf "$target"
    fi
    rm -rf "$DIR"
    note "removed $DIR"
}

# start_again NAME VAR START_ON: starts the server NAME (for messages) with
# START_ON on the port DIR/env recorded in VAR.
start_again() {
    local name=$1 var=$2 start_on=$3 port
    port=$(stored_port "$var")
    [[ -n "$port" ]] || die "no $name port recorded in $ENV_FILE"
    "$start_on" "$port" 1
    note "$name started on 127.0.0.1:$port"
}

cmd_redis_start() {
    need_stack
    redis_running || start_again Redis REDIS_PORT_HERALD redis_start_on
}

cmd_redis_flush() {
    need_stack
    local port
    port=$(stored_port REDIS_PORT_HERALD)
    [[ "$(redis-cli -h 127.0.0.1 -p "$port" flushall)" == OK ]] || die "FLUSHALL failed"
}

cmd_pg_start() {
    need_stack
    pg_running || start_again PostgreSQL PGPORT_HERALD pg_start_on
}

resolve_dir
if [[ -n "$DIR" ]]; then
    set_paths
fi
PGBIN=$(pg_bindir)

case "$CMD" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
destroy) cmd_destroy ;;
redis-stop) need_stack && redis_stop ;;
redis-start) cmd_redis_start ;;
redis-flush) cmd_redis_flush ;;
pg-stop) need_stack && pg_stop ;;
pg-start) cmd_pg_start ;;
*) usage ;;
esac
