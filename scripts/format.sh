#!/usr/bin/env bash
# format.sh: formats every tracked C file with the repository's .clang-format,
# or with --check lists the files that differ and exits 1. The version is
# pinned: Debian 12's clang-format 14.
#
# Usage: scripts/format.sh [--check]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CF=$(command -v clang-format-14 || command -v clang-format || true)
if [[ -z "$CF" ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq clang-format >/dev/null
    CF=$(command -v clang-format-14 || command -v clang-format)
fi
version=$("$CF" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [[ "$version" != 14 ]]; then
    echo "format.sh: clang-format 14 is the pinned version; found $version" >&2
    exit 2
fi

mapfile -t files < <(git ls-files '*.c' '*.h')
if [[ "${1:-}" == --check ]]; then
    bad=()
    for f in "${files[@]}"; do
        "$CF" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if ((${#bad[@]})); then
        printf 'format.sh: not formatted (run scripts/format.sh): %s\n' "${bad[@]}" >&2
        exit 1
    fi
    echo "format.sh: ${#files[@]} files formatted"
    exit 0
fi
"$CF" -i "${files[@]}"
