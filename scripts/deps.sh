#!/usr/bin/env bash
# deps.sh: installs the Debian packages Herald needs to build and test, and
# nothing else. When every package is already installed it exits without
# touching apt, so a second run is fast and works offline.
#
# Usage: scripts/deps.sh [PACKAGE...]   (extra packages a script needs, e.g. nginx-light)
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    libevent-dev libpq-dev libhiredis-dev libjson-c-dev libcurl4-openssl-dev libssl-dev
    libcriterion-dev
    postgresql redis-server
    curl python3
    clang-format clang-tidy
    "$@"
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != installed ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "deps: installing ${missing[*]}"

SUDO=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps: missing packages and not root (and no sudo): ${missing[*]}" >&2
        exit 1
    fi
fi

# The postgresql and redis-server packages start system-wide services from
# their postinst scripts. We never use those (tests start private servers), so
# while installing we tell invoke-rc.d not to start anything, the usual
# container trick. An existing policy-rc.d is left alone.
POLICY=/usr/sbin/policy-rc.d
policy_added=0
cleanup() {
    if ((policy_added)); then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap cleanup EXIT
if [[ ! -e "$POLICY" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    policy_added=1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
echo "deps: done"
