#!/usr/bin/env bash
# setup.sh: installs what the OpenAPI and admin-page tests need: the pinned npm
# packages (npm ci into tests/openapi/node_modules, skipped when package.json
# and package-lock.json have not changed since the last install) and Debian's
# chromium (apt is only touched when /usr/bin/chromium is missing).
# Idempotent; safe to run often.
#
# Usage: tests/openapi/setup.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
cd "$HERE"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "openapi setup: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi

# npm ci wipes node_modules first, so only run it when the manifest or the
# lock changed since the last successful install.
STAMP=node_modules/.herald-lock.sha256
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
    echo "openapi setup: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$STAMP"
else
    echo "openapi setup: node_modules up to date"
fi

if [[ ! -x /usr/bin/chromium ]]; then
    echo "openapi setup: installing chromium"
    SUDO=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo)
        else
            echo "openapi setup: chromium is missing and we are not root (and no sudo)" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
    echo "openapi setup: chromium present"
fi
