#!/usr/bin/env bash
# scripts/tidy.sh: runs clang-tidy (.clang-tidy at the top) over every .c file of api/, worker/,
# common/ and ctl/, in parallel, with BUILD_DIR's compile_commands.json.
# Usage: scripts/tidy.sh [BUILD_DIR]   (default build-test; configured with
#        CMAKE_EXPORT_COMPILE_COMMANDS=ON, which tests/run does)
# Exit status: 0 when there is no finding, 1 otherwise (the findings are printed).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
BUILD=${1:-build-test}
if [[ ! -f $BUILD/compile_commands.json ]]; then
    echo "tidy: no $BUILD/compile_commands.json (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2
    exit 2
fi
if ! command -v clang-tidy >/dev/null; then
    echo "tidy: clang-tidy is not installed (apt-get install clang-tidy)" >&2
    exit 2
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
# --quiet drops the per-file summaries; findings are errors (WarningsAsErrors in .clang-tidy).
FILES=(api/*.c worker/*.c common/*.c ctl/*.c)
printf '%s\0' "${FILES[@]}" |
    xargs -0 -P "$(nproc 2>/dev/null || echo 2)" -n 6 \
        clang-tidy -p "$BUILD" --quiet >"$OUT" 2>/dev/null || true
if grep -q -E '(warning|error):' "$OUT"; then
    grep -E -A3 '(warning|error):' "$OUT" | sort -u -t: -k1,3 | head -200
    echo "tidy: $(grep -c -E '(warning|error):' "$OUT") finding(s)" >&2
    exit 1
fi
echo "tidy: no findings in ${#FILES[@]} files"
