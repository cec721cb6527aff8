#!/usr/bin/env bash
# bench/metrics.sh: the cost of Prometheus metrics (make bench-metrics).
#
# Runs the cluster rows of bench/run.sh with the same Shoal binary on both
# sides, metrics (--metrics-addr and a scraper reading every node's
# /metrics once a second) on one side only: once on the second cluster
# started (SHOAL_METRICS=1), once on the first (SHOAL_METRICS=baseline),
# BENCH_METRICS_ROUNDS times. Two clusters on one small machine are not
# alike (the one started second has been 5-10% faster in A/A runs), so only
# swapping the sides tells the cost of metrics from that bias. Prints, per
# row, metrics-on / metrics-off throughput and server CPU per request for
# each run and their geometric means.
#
# Environment: SHOAL_BIN [bin/shoal], BENCH_METRICS_ROUNDS [1],
# BENCH_REPEAT [3], and the rest of bench/run.sh's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SHOAL_BIN:-$ROOT/bin/shoal}
ROUNDS=${BENCH_METRICS_ROUNDS:-1}
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for ((r = 0; r < ROUNDS; r++)); do
	for side in 1 baseline; do
		echo "[bench-metrics] round $((r + 1))/$ROUNDS, metrics on the $([[ $side == 1 ]] && echo second || echo first) cluster" >&2
		SHOAL_BIN=$BIN BENCH_BASELINE_BIN=$BIN BENCH_BASELINE_REV="same binary" SHOAL_METRICS=$side \
			BENCH_REPEAT=${BENCH_REPEAT:-3} "$ROOT/bench/run.sh" cluster |
			grep -E '^\| (SET|GET|INCR) ' | sed "s/^/$side /" >>"$rows"
	done
done
summarize() { # summarize FILE: lines "SIDE | test | P | base rps | shoal rps | x | p99 | p99 | base cpu | shoal cpu | x |"
	awk -F'|' '
	function trim(s) { gsub(/^ +| +$/, "", s); return s }
	{
		side = trim($1); row = trim($2) " -P " trim($3)
		b = trim($4) + 0; s = trim($5) + 0; bc = trim($9) + 0; sc = trim($10) + 0
		if (b <= 0 || s <= 0 || bc <= 0 || sc <= 0) next
		if (side == "1") { t = s / b; c = sc / bc } else { t = b / s; c = bc / sc }
		if (!(row in n)) order[++rows] = row
		n[row]++; lt[row] += log(t); lc[row] += log(c)
		tv[row] = tv[row] sprintf("%s%.2f", n[row] > 1 ? ", " : "", t)
		cv[row] = cv[row] sprintf("%s%.2f", n[row] > 1 ? ", " : "", c)
	}
	END {
		print "| row | throughput on/off, each run | geometric mean | CPU per request on/off, each run | geometric mean |"
		print "|---|---|---:|---|---:|"
		for (i = 1; i <= rows; i++) {
			r = order[i]
			printf "| %s | %s | %.3f | %s | %.3f |\n", r, tv[r], exp(lt[r] / n[r]), cv[r], exp(lc[r] / n[r])
		}
	}' "$1"
}
summarize "$rows"
