#!/usr/bin/env bash
# pgo.sh: regenerate cmd/shoal/default.pgo, the CPU profile that the Go
# toolchain uses for profile-guided optimization of the shoal binary
# (`go build` picks up a main package's default.pgo by itself: -pgo=auto).
#
# The profile is the workload of `make bench`'s ops and cluster rows: a
# standalone node under SET, GET and INCR at -P 1 and -P 16, and a 3-node
# cluster under SET and GET at -P 1 and -P 16, every node at GOMAXPROCS 1
# as bench/run.sh runs them; PGO_SECONDS (default 5) of CPU profile per
# phase and node (--pprof-addr), merged with `go tool pprof -proto`.
# The binary profiled is built with -pgo=off, so that a profile does not
# describe code that an older profile shaped. BENCHMARKS.md, "Profile-
# guided optimization", has what it gave and when to regenerate it.
#
# Usage: bench/pgo.sh            (writes cmd/shoal/default.pgo)
# Needs redis-benchmark, redis-cli and curl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${PGO_OUT:-$ROOT/cmd/shoal/default.pgo}
SECS=${PGO_SECONDS:-5}
WORK=$(mktemp -d /tmp/shoal-pgo.XXXXXX)
PIDS=()

log() { printf '[pgo.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cleanup() {
	((${#PIDS[@]})) && kill "${PIDS[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

for tool in redis-benchmark redis-cli curl; do
	command -v "$tool" >/dev/null || { echo "pgo.sh: $tool not found (make deps installs it)" >&2; exit 1; }
done

BIN=$WORK/shoal
log "building $BIN with -pgo=off"
(cd "$ROOT" && go build -pgo=off -o "$BIN" ./cmd/shoal)

# pick_base: a base port B with B..B+2, B+100..B+102, B+200..B+202 and
# B+300..B+302 free (RESP, cluster, gossip and pprof ports of 3 nodes).
pick_base() {
	local b off used
	used=" $(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -u | tr '\n' ' ') "
	for _ in $(seq 1 50); do
		b=$((20000 + RANDOM % 20000))
		for off in 0 1 2 100 101 102 200 201 202 300 301 302; do
			[[ $used == *" $((b + off)) "* ]] && continue 2
		done
		echo "$b"
		return
	done
	echo "pgo.sh: no free ports found" >&2
	exit 1
}

# profile_loop NAME BENCH_ARGS...: one CPU profile of PGO_SECONDS per
# address in PROF_ADDRS, while redis-benchmark runs with BENCH_ARGS, again
# and again until the profiles are taken.
profile_loop() {
	local name=$1 i=0 a
	shift
	local -a curls=()
	for a in "${PROF_ADDRS[@]}"; do
		curl -s "http://$a/debug/pprof/profile?seconds=$SECS" -o "$WORK/$name-$i.pprof" &
		curls+=($!)
		i=$((i + 1))
	done
	while kill -0 "${curls[0]}" 2>/dev/null; do
		redis-benchmark "$@" -q >/dev/null 2>&1 || true
	done
	wait "${curls[@]}"
}

wait_ok() { # wait_ok PORT [cluster]
	for _ in $(seq 1 100); do
		if [[ ${2:-} == cluster ]]; then
			redis-cli -p "$1" cluster info 2>/dev/null | grep -q cluster_state:ok && return 0
		else
			redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
		fi
		sleep 0.2
	done
	echo "pgo.sh: node on port $1 not ready" >&2
	exit 1
}

B=$(pick_base)
log "standalone node on port $B"
GOMAXPROCS=1 "$BIN" server --port "$B" --bind 127.0.0.1 --pprof-addr "127.0.0.1:$((B + 1))" \
	>"$WORK/single.log" 2>&1 &
PIDS+=($!)
wait_ok "$B"
PROF_ADDRS=("127.0.0.1:$((B + 1))")
redis-benchmark -p "$B" -t set,incr -n 200000 -r 100000 -d 64 -c 50 -P 16 -q >/dev/null 2>&1
for t in set get incr; do
	for p in 1 16; do
		log "standalone $t -P $p"
		profile_loop "single-$t-$p" -p "$B" -t "$t" -n $((p == 1 ? 50000 : 500000)) -r 100000 -d 64 -c 50 -P "$p"
	done
done
kill "${PIDS[@]}"
wait 2>/dev/null || true
PIDS=()

B=$(pick_base)
log "3-node cluster from port $B"
PROF_ADDRS=()
for i in 0 1 2; do
	GOMAXPROCS=1 "$BIN" server --port $((B + i)) --bind 127.0.0.1 --bootstrap-expect 3 \
		--join "127.0.0.1:$((B + 200))" --cluster-port $((B + 100 + i)) --gossip-port $((B + 200 + i)) \
		--pprof-addr "127.0.0.1:$((B + 300 + i))" >"$WORK/node$i.log" 2>&1 &
	PIDS+=($!)
	PROF_ADDRS+=("127.0.0.1:$((B + 300 + i))")
done
for i in 0 1 2; do wait_ok $((B + i)) cluster; done
redis-benchmark --cluster -p "$B" -t set -n 200000 -r 100000 -d 64 -c 50 -P 1 -q >/dev/null 2>&1
for t in set get; do
	for p in 1 16; do
		log "cluster $t -P $p"
		profile_loop "cluster-$t-$p" --cluster -p "$B" -t "$t" -n $((p == 1 ? 50000 : 500000)) -r 100000 -d 64 -c 50 -P "$p"
	done
done

go tool pprof -proto "$WORK"/*.pprof >"$OUT.tmp" 2>/dev/null
mv "$OUT.tmp" "$OUT"
log "wrote $OUT ($(wc -c <"$OUT") bytes, $(ls "$WORK"/*.pprof | wc -l) profiles)"
