#!/usr/bin/env bash
# bench/ab.sh - before/after benchmark of two Shoal revisions, side by side
# in one run: builds REV (default: the commit before HEAD) into a temporary
# directory and runs bench/run.sh's ops and cluster rows with it in Redis's
# place (BENCH_BASELINE_BIN), against bin/shoal. Other bench/run.sh
# variables (BENCH_REPEAT, BENCH_N, ...) apply.
#
# Usage: bench/ab.sh [REV] [ROWSETS...]   (make bench-ab BASE=REV)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REV=${1:-HEAD~1}
shift || true
sets=("$@")
[[ ${#sets[@]} -gt 0 ]] || sets=(ops cluster)
GO=${GO:-go}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shoal-ab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sha=$(git -C "$ROOT" rev-parse --short "$REV")
git -C "$ROOT" archive "$sha" | tar -x -C "$tmp"
(cd "$tmp" && "$GO" build -o "$tmp/shoal-base" ./cmd/shoal)
SHOAL_BIN=${SHOAL_BIN:-$ROOT/bin/shoal} BENCH_BASELINE_BIN="$tmp/shoal-base" BENCH_BASELINE_REV="$sha" \
	"$ROOT/bench/run.sh" "${sets[@]}"
