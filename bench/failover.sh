#!/usr/bin/env bash
# bench/failover.sh - failover time of Shoal and of Redis Cluster, one run.
#
# Usage:
#   bench/failover.sh          # Shoal, then Redis Cluster with each
#                              # cluster-node-timeout of FAILOVER_REDIS_TIMEOUTS
#   KILLS=5 bench/failover.sh  # fewer kills per configuration (quick check)
#   bench/failover.sh --help
#
# For each configuration, bench/failover (a Go program) starts a local
# cluster on free loopback ports, kills the master of a probe key's slot
# with SIGKILL KILLS times while a writer sends SET every 5 ms, and
# measures the time from each kill to the first acknowledged SET sent after
# it; it restarts the killed node and waits for a fully healthy cluster
# before the next kill. See BENCHMARKS.md ("Failover") for the methodology.
#
# The results (a comparison table, then per configuration its per-kill
# table and server commands) go to stdout and to
# bench/results/failover-latest.md plus a timestamped copy (git-ignored).
# With KILLS=20, a run takes about 15 minutes on 2 cores, most of it Redis
# Cluster with the default 15 s node timeout.
#
# Environment (defaults in brackets):
#   KILLS                     kills per configuration [20]
#   SHOAL_BIN                 Shoal binary [<repo>/bin/shoal]
#   REDIS_SERVER              redis-server binary [redis-server]
#   REDIS_CLI                 redis-cli binary [redis-cli]
#   SHOAL_REV                 what SHOAL_BIN was built from, for the header
#                             [the checkout's HEAD, "(dirty)" if modified]
#   GO                        go toolchain, to build bench/failover [go]
#   FAILOVER_REDIS_TIMEOUTS   cluster-node-timeout values in ms, one Redis
#                             configuration each [15000 1000]
#   FAILOVER_SHOAL_DATA_DIR   true: each Shoal node gets --data-dir; false:
#                             in memory [true]
#   FAILOVER_SHOAL_ARGS       extra flags for every Shoal node []
#   FAILOVER_ARGS             extra flags for bench/failover, word-split
#                             (e.g. "-interval 2ms -timeout 100ms") []
#   FAILOVER_SKIP             configurations to skip: shoal, redis []
#   BENCH_RESULTS_DIR         where failover-latest.md goes
#                             [<repo>/bench/results]
#   BENCH_KEEP_LOGS           1 = keep the server logs even on success [0]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

KILLS=${KILLS:-20}
SHOAL_BIN=${SHOAL_BIN:-$ROOT/bin/shoal}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
GO=${GO:-go}
FAILOVER_REDIS_TIMEOUTS=${FAILOVER_REDIS_TIMEOUTS:-15000 1000}
FAILOVER_SHOAL_DATA_DIR=${FAILOVER_SHOAL_DATA_DIR:-true}
FAILOVER_SHOAL_ARGS=${FAILOVER_SHOAL_ARGS:-}
FAILOVER_ARGS=${FAILOVER_ARGS:-}
FAILOVER_SKIP=${FAILOVER_SKIP:-}
BENCH_RESULTS_DIR=${BENCH_RESULTS_DIR:-$ROOT/bench/results}
BENCH_KEEP_LOGS=${BENCH_KEEP_LOGS:-0}

WORK=""

log() { printf '[failover.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found${2:+ ($2)}"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ $rc -ne 0 || $BENCH_KEEP_LOGS == 1 ]]; then
			log "logs kept in $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# record CMD...: add CMD to the command list of the results ($WORK shown as
# such, the repository as .).
record() {
	local a line=""
	for a in "$@"; do
		a=${a//"$WORK"/\$WORK}
		a=${a//"$ROOT"\//}
		line+="$(quote "$a") "
	done
	printf '%s\n' "${line% }" >>"$WORK/commands.txt"
}

skipped() { [[ " $FAILOVER_SKIP " == *" $1 "* ]]; }

# run_config NAME ARGS...: one bench/failover run; appends its row to
# $WORK/rows.md and its section to $WORK/sections.md. Returns its status.
run_config() {
	local name=$1 rc=0
	shift
	local -a extra=() cmd
	# FAILOVER_ARGS is deliberately word-split.
	# shellcheck disable=SC2206
	if [[ -n $FAILOVER_ARGS ]]; then extra=($FAILOVER_ARGS); fi
	cmd=("$WORK/failover" -kills "$KILLS" "$@" "${extra[@]}"
		-dir "$WORK/$name" -keep -json "$WORK/$name.json" -row "$WORK/rows.md")
	record "${cmd[@]}"
	log "running $name: ${cmd[*]}"
	"${cmd[@]}" >"$WORK/$name.md" || rc=$?
	cat "$WORK/$name.md" >>"$WORK/sections.md"
	if [[ $rc -ne 0 ]]; then
		log "$name failed (exit $rc); its logs are in $WORK/$name"
	elif [[ $BENCH_KEEP_LOGS != 1 ]]; then
		rm -rf "${WORK:?}/$name"
	fi
	return "$rc"
}

main() {
	case ${1:-} in
	-h | --help | help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		return 0
		;;
	"") ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	[[ $KILLS =~ ^[1-9][0-9]*$ ]] || die "KILLS must be a positive integer, not '$KILLS'"
	need "$GO" "needed to build bench/failover"
	if ! skipped redis; then
		need "$REDIS_SERVER" "apt-get install redis-server"
		need "$REDIS_CLI" "apt-get install redis-tools"
	fi
	if ! skipped shoal; then
		[[ -x $SHOAL_BIN ]] || die "Shoal binary $SHOAL_BIN not found or not executable (run make build, or set SHOAL_BIN)"
	fi

	local load_start started=$SECONDS failed=0 t
	load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-failover.XXXXXX")
	mkdir -p "$BENCH_RESULTS_DIR"
	: >"$WORK/commands.txt"
	: >"$WORK/rows.md"
	: >"$WORK/sections.md"

	local -a build=("$GO" build -o "$WORK/failover" ./bench/failover)
	record "${build[@]}"
	(cd "$ROOT" && "${build[@]}") || die "building bench/failover failed"

	if ! skipped shoal; then
		run_config shoal -target shoal -shoal-bin "$SHOAL_BIN" -shoal-data-dir="$FAILOVER_SHOAL_DATA_DIR" \
			${FAILOVER_SHOAL_ARGS:+-shoal-args "$FAILOVER_SHOAL_ARGS"} || failed=1
	fi
	if ! skipped redis; then
		for t in $FAILOVER_REDIS_TIMEOUTS; do
			run_config "redis-$t" -target redis -node-timeout "$t" \
				-redis-server "$REDIS_SERVER" -redis-cli "$REDIS_CLI" || failed=1
		done
	fi

	local rev cpu ts load_end
	load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
	rev=${SHOAL_REV:-}
	if [[ -z $rev ]]; then
		rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
		if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then rev="$rev (dirty)"; fi
	fi
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
	ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	local result="$WORK/result.md"
	{
		echo "## Failover: Shoal vs Redis Cluster, $ts"
		echo
		echo "- machine: nproc $(nproc), $cpu, $(uname -sr)"
		echo "- load average (1/5/15 min) at start: $load_start; at end: $load_end"
		echo "- shoal: \`$SHOAL_BIN\` built from $rev"
		echo "- redis: $("$REDIS_SERVER" --version 2>/dev/null | head -n 1 || echo unknown)"
		echo "- duration: $((SECONDS - started))s"
		echo
		echo "Window = time from the SIGKILL of the master of a probe key's slot to the"
		echo "acknowledgement of the first SET sent after the kill, by a writer that sends"
		echo "one SET every 5 ms (200 ms timeout per request). KILLS=$KILLS per configuration."
		echo
		echo "| configuration | kills | median ms | p99 ms | max ms | min ms |"
		echo "|---|---:|---:|---:|---:|---:|"
		cat "$WORK/rows.md"
		echo
		echo "p99 is the nearest-rank 99th percentile: with fewer than 100 kills it is the maximum."
		echo
		echo "Commands (\$WORK is the run's temporary directory):"
		echo
		echo '```sh'
		cat "$WORK/commands.txt"
		echo '```'
		echo
		cat "$WORK/sections.md"
	} >"$result"
	cp "$result" "$BENCH_RESULTS_DIR/failover-latest.md"
	cp "$result" "$BENCH_RESULTS_DIR/failover-$(date -u +%Y%m%d-%H%M%S).md"
	echo
	cat "$result"
	log "written to $BENCH_RESULTS_DIR/failover-latest.md"
	if ((failed)); then
		log "at least one configuration failed"
		return 1
	fi
}

main "$@"
