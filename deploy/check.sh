#!/usr/bin/env bash
# deploy/check.sh: offline validation of the shell scripts, the Dockerfile,
# docker-compose.yml, the Kubernetes manifests, and the monitoring files
# (Prometheus configuration and alert rules, the Grafana dashboard). No Docker
# engine, cluster, Prometheus or Grafana server is needed; what it checks and
# what it cannot is in deploy/README.md.
#
# Usage: deploy/check.sh
# Installs what is missing: shellcheck, yamllint, docker-compose (v1, for
# `config`), promtool (Debian's prometheus package) and Node.js with apt-get;
# the pinned npm packages of
# deploy/check/package-lock.json with `npm ci` into deploy/check/node_modules
# (skipped when they are already installed from the same lock file, so a
# second run needs no network). Then runs every check, prints one line per
# check and a last line "N passed, M failed", and exits 1 if any failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
CHECK_DIR=$ROOT/deploy/check
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/herald-deploy-check.XXXXXX")
trap 'rm -rf "$LOG_DIR"' EXIT

# One run at a time per checkout: npm ci replaces node_modules. The lock is
# this script's own file, so nothing is left behind.
exec 8<"$ROOT/deploy/check.sh"
if ! flock -n 8; then
    echo "deploy/check: another run holds the lock; waiting"
    flock 8
fi

PASSED=0
FAILED=0
pass() {
    PASSED=$((PASSED + 1))
    echo "ok   $*"
}
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $*"
}

# show FILE: a command's output, indented, under its FAIL line.
show() {
    sed 's/^/     | /' "$1"
}

# run_check NAME COMMAND...: one check, passed when COMMAND exits 0.
run_check() {
    local name=$1 log
    shift
    log=$LOG_DIR/check.$((PASSED + FAILED)).log
    if "$@" >"$log" 2>&1; then
        pass "$name"
    else
        fail "$name (exit $?)"
        show "$log"
    fi
}

# ---- tools -------------------------------------------------------------------

apt_missing=()
command -v shellcheck >/dev/null 2>&1 || apt_missing+=(shellcheck)
command -v yamllint >/dev/null 2>&1 || apt_missing+=(yamllint)
command -v docker-compose >/dev/null 2>&1 || apt_missing+=(docker-compose)
command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)
command -v node >/dev/null 2>&1 || apt_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_missing+=(npm)

if ((${#apt_missing[@]})); then
    echo "deploy/check: installing ${apt_missing[*]}"
    SUDO=()
    if ((EUID != 0)) && command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    fi
    if ! {
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update &&
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y --no-install-recommends "${apt_missing[@]}"
    } >"$LOG_DIR/apt.log" 2>&1; then
        fail "install ${apt_missing[*]} with apt-get"
        show "$LOG_DIR/apt.log"
    fi
fi

# npm ci, unless node_modules already holds this exact lock file's packages.
npm_ready=0
stamp_file=$CHECK_DIR/node_modules/.herald-check-stamp
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    want_stamp="$(sha256sum "$CHECK_DIR/package-lock.json" | cut -d' ' -f1) node-$(node -p 'process.versions.node.split(".")[0]')"
    if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$want_stamp" ]]; then
        npm_ready=1
    else
        echo "deploy/check: npm ci in deploy/check"
        if (cd "$CHECK_DIR" && npm ci --ignore-scripts --no-audit --no-fund) >"$LOG_DIR/npm.log" 2>&1; then
            echo "$want_stamp" >"$stamp_file"
            npm_ready=1
        else
            fail "npm ci in deploy/check"
            show "$LOG_DIR/npm.log"
        fi
    fi
else
    fail "node and npm are needed for the schema checks"
fi

# ---- shell scripts -----------------------------------------------------------

scripts=()
while IFS= read -r -d '' f; do
    scripts+=("$f")
done < <(find scripts deploy -name '*.sh' -not -path '*/node_modules/*' -print0 2>/dev/null | sort -z)
for f in tests/run .ci/run scripts/herald; do
    [[ -f "$f" ]] && scripts+=("$f")
done

if command -v shellcheck >/dev/null 2>&1; then
    for f in "${scripts[@]}"; do
        run_check "shellcheck $f" shellcheck -x "$f"
    done
else
    fail "shellcheck is not installed"
fi

# ---- YAML --------------------------------------------------------------------

yaml_files=(docker-compose.yml)
while IFS= read -r -d '' f; do
    yaml_files+=("$f")
done < <(find deploy/k8s deploy/prometheus -name '*.y*ml' -print0 | sort -z)

if command -v yamllint >/dev/null 2>&1; then
    for f in "${yaml_files[@]}"; do
        run_check "yamllint $f" yamllint --strict -c .yamllint "$f"
    done
else
    fail "yamllint is not installed"
fi

# ---- Docker Compose ----------------------------------------------------------

if command -v docker-compose >/dev/null 2>&1; then
    run_check "docker-compose -f docker-compose.yml config -q" \
        docker-compose -f docker-compose.yml config -q
else
    fail "docker-compose is not installed"
fi

# ---- Prometheus: configuration, alert rules and their unit tests ---------------

if command -v promtool >/dev/null 2>&1; then
    # promtool resolves rule_files next to the configuration
    run_check "promtool check config deploy/prometheus/prometheus.yml" \
        promtool check config deploy/prometheus/prometheus.yml
    run_check "promtool check rules deploy/prometheus/alerts.yml" \
        promtool check rules deploy/prometheus/alerts.yml
    run_check "promtool test rules deploy/prometheus/alerts_test.yml" \
        promtool test rules deploy/prometheus/alerts_test.yml
else
    fail "promtool is not installed"
fi

# ---- Dockerfile, compose and Kubernetes facts (Node) ---------------------------

# run_node NAME SCRIPT...: a Node checker whose "ok"/"FAIL" lines count as
# checks of their own.
run_node() {
    local name=$1 log rc=0 n_ok n_fail
    shift
    log=$LOG_DIR/node.$((PASSED + FAILED)).log
    node "$@" >"$log" 2>&1 || rc=$?
    n_ok=$(grep -c '^ok ' "$log" || true)
    n_fail=$(grep -c '^FAIL ' "$log" || true)
    grep -E '^(ok |FAIL |     )' "$log" || true
    PASSED=$((PASSED + n_ok))
    FAILED=$((FAILED + n_fail))
    if ((rc != 0 && n_fail == 0)); then
        fail "$name (exit $rc)"
        show "$log"
    fi
}

if ((npm_ready)); then
    run_check "dockerfilelint Dockerfile" "$CHECK_DIR/node_modules/.bin/dockerfilelint" Dockerfile
    run_node "validate-container.mjs" "$CHECK_DIR/validate-container.mjs" "$ROOT"
    run_node "validate-k8s.mjs" "$CHECK_DIR/validate-k8s.mjs" "$ROOT/deploy/k8s"
    run_node "validate-monitoring.mjs" "$CHECK_DIR/validate-monitoring.mjs" "$ROOT"
else
    fail "dockerfilelint, validate-container.mjs, validate-k8s.mjs and validate-monitoring.mjs:" \
        "npm packages are missing"
fi

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
