#!/usr/bin/env bash
# setup.sh: installs the pinned verifier (npm ci) once; a second run does nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! command -v npm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if [[ ! -f node_modules/.herald-installed || package-lock.json -nt node_modules/.herald-installed ]]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules/.herald-installed
fi
