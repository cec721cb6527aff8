#!/usr/bin/env bash
# bench/run.sh - side-by-side benchmark of redis-server and Shoal.
#
# Usage:
#   bench/run.sh            # default row sets: ops + memory
#   bench/run.sh ops        # only the throughput/latency rows
#   bench/run.sh memory     # only the memory rows
#   bench/run.sh cluster    # cluster rows (placeholder, issue 3)
#   bench/run.sh all        # ops + memory + cluster
#
# Both servers are started by this script on the same machine, on free
# loopback ports, and benchmarked in one run with redis-benchmark. Each row
# runs both servers back to back (the order alternates row by row) so that
# machine drift affects both sides alike. Read the ratios, not the absolute
# numbers. See BENCHMARKS.md for the methodology.
#
# Environment (defaults in brackets):
#   SHOAL_BIN          Shoal binary [<repo>/bin/shoal]; started as
#                      "$SHOAL_BIN server --port P $SHOAL_EXTRA_ARGS"
#   SHOAL_EXTRA_ARGS   extra args for "shoal server", word-split []
#   REDIS_SERVER       redis-server binary [redis-server]
#   REDIS_BENCHMARK    redis-benchmark binary [redis-benchmark]
#   REDIS_CLI          redis-cli binary [redis-cli]
#   BENCH_N            requests per run at -P 1 [200000]
#   BENCH_N_PIPE       requests per run at -P 16 [2000000]
#   BENCH_MSET_DIV     divide BENCH_N_PIPE by this for pipelined MSET, which
#                      writes 10 keys per request [4]
#   BENCH_TESTS        tests to run [set get incr mset]
#   BENCH_PIPELINES    pipeline depths [1 16]
#   BENCH_CLIENTS      -c [50]
#   BENCH_KEYSPACE     -r for the ops rows [100000]
#   BENCH_DATASIZE     -d value size in bytes [64]
#   BENCH_MEM_N        SET requests for the memory load [3000000]
#   BENCH_MEM_KEYSPACE -r for the memory load [1000000]
#   BENCH_REPEAT       runs per row and server; the table shows each
#                      server's best run (highest rps, with its p99) [1]
#   BENCH_TIMEOUT      seconds before a single redis-benchmark run is
#                      killed and reported as TIMEOUT [300]
#   BENCH_RESULTS_DIR  where latest.md and a timestamped copy go
#                      [<repo>/bench/results]
#   BENCH_KEEP_LOGS    1 = keep the server/benchmark logs directory [0]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

SHOAL_BIN=${SHOAL_BIN:-$ROOT/bin/shoal}
SHOAL_EXTRA_ARGS=${SHOAL_EXTRA_ARGS:-}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REDIS_CLI=${REDIS_CLI:-redis-cli}
BENCH_N=${BENCH_N:-200000}
BENCH_N_PIPE=${BENCH_N_PIPE:-2000000}
BENCH_MSET_DIV=${BENCH_MSET_DIV:-4}
BENCH_TESTS=${BENCH_TESTS:-set get incr mset}
BENCH_PIPELINES=${BENCH_PIPELINES:-1 16}
BENCH_CLIENTS=${BENCH_CLIENTS:-50}
BENCH_KEYSPACE=${BENCH_KEYSPACE:-100000}
BENCH_DATASIZE=${BENCH_DATASIZE:-64}
BENCH_MEM_N=${BENCH_MEM_N:-3000000}
BENCH_MEM_KEYSPACE=${BENCH_MEM_KEYSPACE:-1000000}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
BENCH_REPEAT=${BENCH_REPEAT:-1}
BENCH_RESULTS_DIR=${BENCH_RESULTS_DIR:-$ROOT/bench/results}
BENCH_KEEP_LOGS=${BENCH_KEEP_LOGS:-0}

REDIS_PID=""
SHOAL_PID=""
REDIS_PORT=""
SHOAL_PORT=""
WORK=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup

stop_pid() {
	local pid=$1
	[[ -n $pid ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid "$SHOAL_PID"
	stop_pid "$REDIS_PID"
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

# ---------------------------------------------------------------- helpers

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (install redis-tools / redis-server)"; }

# free_port prints a TCP port on 127.0.0.1 that nothing is listening on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		[[ $p == "$REDIS_PORT" || $p == "$SHOAL_PORT" ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

cli() { # cli PORT ARGS...
	local port=$1
	shift
	timeout 30 "$REDIS_CLI" -h 127.0.0.1 -p "$port" "$@"
}

wait_ready() { # wait_ready NAME PID PORT LOGFILE
	local name=$1 pid=$2 port=$3 logf=$4
	for _ in $(seq 1 150); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during startup; log:"
			tail -n 30 "$logf" >&2 || true
			return 1
		fi
		if [[ $(cli "$port" ping 2>/dev/null) == PONG ]]; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer PING on port $port within 15s; log:"
	tail -n 30 "$logf" >&2 || true
	return 1
}

# Each start is tried up to 3 times on a new port, in case another process
# takes the free port between free_port and the server's bind.
start_redis() {
	local try
	for try in 1 2 3; do
		REDIS_PORT=$(free_port) || die "no free port"
		"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
			--daemonize no >"$WORK/redis.log" 2>&1 &
		REDIS_PID=$!
		if wait_ready redis "$REDIS_PID" "$REDIS_PORT" "$WORK/redis.log"; then
			log "redis-server pid $REDIS_PID port $REDIS_PORT"
			return 0
		fi
		stop_pid "$REDIS_PID"
		REDIS_PID=""
		log "redis-server start attempt $try failed"
	done
	die "redis-server failed to start"
}

start_shoal() {
	[[ -x $SHOAL_BIN ]] || die "Shoal binary $SHOAL_BIN not found or not executable (run make build, or set SHOAL_BIN)"
	local -a extra=()
	local try
	# SHOAL_EXTRA_ARGS is deliberately word-split.
	# shellcheck disable=SC2206
	if [[ -n $SHOAL_EXTRA_ARGS ]]; then extra=($SHOAL_EXTRA_ARGS); fi
	for try in 1 2 3; do
		SHOAL_PORT=$(free_port) || die "no free port"
		"$SHOAL_BIN" server --port "$SHOAL_PORT" "${extra[@]}" >"$WORK/shoal.log" 2>&1 &
		SHOAL_PID=$!
		if wait_ready shoal "$SHOAL_PID" "$SHOAL_PORT" "$WORK/shoal.log"; then
			log "shoal pid $SHOAL_PID port $SHOAL_PORT"
			return 0
		fi
		stop_pid "$SHOAL_PID"
		SHOAL_PID=""
		log "shoal start attempt $try failed"
	done
	die "shoal failed to start (command: $SHOAL_BIN server --port PORT ${extra[*]})"
}

port_of() { if [[ $1 == redis ]]; then echo "$REDIS_PORT"; else echo "$SHOAL_PORT"; fi; }
pid_of() { if [[ $1 == redis ]]; then echo "$REDIS_PID"; else echo "$SHOAL_PID"; fi; }

check_alive() {
	local who pid
	for who in redis shoal; do
		pid=$(pid_of "$who")
		kill -0 "$pid" 2>/dev/null || die "$who (pid $pid) died; see $WORK/$who.log"
	done
}

# bench_one WHO TEST PIPELINE N
# Prints "rps p99" on success, or "ERR reason" on failure. Never fails.
bench_one() {
	local who=$1 t=$2 p=$3 n=$4 port out rc line
	port=$(port_of "$who")
	local logf="$WORK/bench-$who-$t-P$p.log"
	set +e
	out=$(timeout "$BENCH_TIMEOUT" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" -t "$t" \
		-c "$BENCH_CLIENTS" -n "$n" -P "$p" -r "$BENCH_KEYSPACE" -d "$BENCH_DATASIZE" \
		--csv 2>"$logf")
	rc=$?
	set -e
	printf '%s\n' "$out" >>"$logf"
	if [[ $rc -eq 124 ]]; then
		echo "ERR TIMEOUT"
		return 0
	fi
	if [[ $rc -ne 0 ]] || grep -q 'Error from server' "$logf"; then
		local msg
		msg=$(grep -m1 'Error from server' "$logf" || grep -m1 -v -e '^"' -e '^WARNING' -e '^$' "$logf" || true)
		echo "ERR exit=$rc: $(printf '%s' "$msg" | tr -d '\r' | tr '|' '/' | sed 's/^Error from server: //' | cut -c1-60)"
		return 0
	fi
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	line=$(printf '%s\n' "$out" | grep -v '^"test"' | grep '^"' | tail -n 1 || true)
	if [[ -z $line ]]; then
		echo "ERR no CSV output"
		return 0
	fi
	# Index from the end: the test name ("MSET (10 keys)") may contain spaces.
	printf '%s\n' "$line" | awk -F, '{ gsub(/"/, ""); printf "%.0f %s\n", $(NF - 6), $(NF - 1) }'
}

# best_of A B: of two bench_one results ("rps p99" or "ERR ..."), the one
# with the higher rps; an error wins, so that it is never hidden.
best_of() {
	if [[ -z $1 ]]; then echo "$2"; return 0; fi
	if [[ $1 == ERR* ]]; then echo "$1"; return 0; fi
	if [[ $2 == ERR* ]]; then echo "$2"; return 0; fi
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); print (y[1] + 0 > x[1] + 0) ? b : a }'
}

ratio() { # ratio A B -> A/B with 2 decimals, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) { print "n/a"; exit }
		printf "%.2f", a / b }'
}

test_label() {
	case $1 in
	set) echo SET ;; get) echo GET ;; incr) echo INCR ;; mset) echo "MSET (10 keys)" ;;
	*) echo "$1" | tr '[:lower:]' '[:upper:]' ;;
	esac
}

preload() { # preload WHO: fill the ops keyspace so GET hits
	local who=$1 port
	port=$(port_of "$who")
	cli "$port" flushall >/dev/null
	timeout "$BENCH_TIMEOUT" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" -t set -c "$BENCH_CLIENTS" \
		-n $((BENCH_KEYSPACE * 10)) -r "$BENCH_KEYSPACE" -d "$BENCH_DATASIZE" -P 16 -q \
		>"$WORK/preload-$who.log" 2>&1 || die "preload of $who failed; see $WORK/preload-$who.log"
	log "preloaded $who: dbsize $(cli "$port" dbsize)"
}

# ---------------------------------------------------------------- row sets

rows_ops() {
	local out=$1 t p n row=0 rep first second a b r s label
	preload redis
	preload shoal
	{
		echo "### Throughput and latency (single node)"
		echo
		echo "-c $BENCH_CLIENTS, -r $BENCH_KEYSPACE, -d $BENCH_DATASIZE; N = $BENCH_N at -P 1, $BENCH_N_PIPE at -P 16 (pipelined MSET: N / $BENCH_MSET_DIV). p99 in ms. Best of $BENCH_REPEAT run(s) per cell."
		echo
		echo "| test | pipeline | redis rps | shoal rps | shoal/redis | redis p99 | shoal p99 |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
	} >"$out"
	for t in $BENCH_TESTS; do
		for p in $BENCH_PIPELINES; do
			if [[ $p -gt 1 ]]; then n=$BENCH_N_PIPE; else n=$BENCH_N; fi
			if [[ $t == mset && $p -gt 1 ]]; then n=$((n / BENCH_MSET_DIV)); fi
			label=$(test_label "$t")
			r="" s=""
			for ((rep = 0; rep < BENCH_REPEAT; rep++)); do
				# Alternate who goes first, row by row and repeat by repeat.
				if (((row + rep) % 2 == 0)); then first=redis second=shoal; else first=shoal second=redis; fi
				log "$label -P $p -n $n: $first then $second (run $((rep + 1))/$BENCH_REPEAT)"
				check_alive
				a=$(bench_one "$first" "$t" "$p" "$n")
				b=$(bench_one "$second" "$t" "$p" "$n")
				if [[ $first == redis ]]; then
					r=$(best_of "$r" "$a") s=$(best_of "$s" "$b")
				else
					r=$(best_of "$r" "$b") s=$(best_of "$s" "$a")
				fi
			done
			local r_rps r_p99 s_rps s_p99
			read -r r_rps r_p99 <<<"$r"
			read -r s_rps s_p99 <<<"$s"
			if [[ $r_rps == ERR ]]; then r_rps="ERR" r_p99="${r#ERR }"; fi
			if [[ $s_rps == ERR ]]; then s_rps="ERR" s_p99="${s#ERR }"; fi
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$p" "$r_rps" "$s_rps" \
				"$(ratio "$s_rps" "$r_rps")" "$r_p99" "$s_p99" >>"$out"
			tail -n 1 "$out" >&2
			row=$((row + 1))
		done
	done
	echo >>"$out"
}

used_memory() { cli "$(port_of "$1")" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
rss_bytes() { awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$(pid_of "$1")/status"; }

rows_memory() {
	local out=$1 who port um0 rss0 um1 rss1 keys
	declare -A KEYS UMK RSSK UMD RSSD
	for who in redis shoal; do
		port=$(port_of "$who")
		check_alive
		cli "$port" flushall >/dev/null
		sleep 1
		um0=$(used_memory "$who" || true)
		rss0=$(rss_bytes "$who")
		log "memory $who: loading (-n $BENCH_MEM_N -r $BENCH_MEM_KEYSPACE -d $BENCH_DATASIZE -P 16)"
		timeout "$BENCH_TIMEOUT" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" -t set -c "$BENCH_CLIENTS" \
			-n "$BENCH_MEM_N" -r "$BENCH_MEM_KEYSPACE" -d "$BENCH_DATASIZE" -P 16 -q \
			>"$WORK/memload-$who.log" 2>&1 || die "memory load of $who failed; see $WORK/memload-$who.log"
		sleep 2
		keys=$(cli "$port" dbsize | tr -d '\r' || true)
		[[ $keys =~ ^[0-9]+$ && $keys -gt 0 ]] || keys="n/a"
		um1=$(used_memory "$who" || true)
		rss1=$(rss_bytes "$who")
		KEYS[$who]=$keys
		UMK[$who]="n/a" UMD[$who]="n/a" RSSK[$who]="n/a"
		RSSD[$who]=$(mib $((rss1 - rss0)))
		if [[ $um0 =~ ^[0-9]+$ && $um1 =~ ^[0-9]+$ ]]; then
			UMD[$who]=$(mib $((um1 - um0)))
			if [[ $keys != n/a ]]; then
				UMK[$who]=$(awk -v a="$um0" -v b="$um1" -v k="$keys" 'BEGIN { printf "%.1f", (b - a) / k }')
			fi
		fi
		if [[ $keys != n/a ]]; then
			RSSK[$who]=$(awk -v a="$rss0" -v b="$rss1" -v k="$keys" 'BEGIN { printf "%.1f", (b - a) / k }')
		fi
		log "memory $who: keys=$keys used_memory $um0 -> $um1, rss $rss0 -> $rss1"
	done
	{
		echo "### Memory (single node)"
		echo
		echo "FLUSHALL, then SET -n $BENCH_MEM_N -r $BENCH_MEM_KEYSPACE -d $BENCH_DATASIZE -P 16 (16-byte keys, ${BENCH_DATASIZE}-byte values). Bytes per key = delta / DBSIZE."
		echo
		echo "| metric | redis | shoal | shoal/redis |"
		echo "|---|---:|---:|---:|"
		echo "| keys (DBSIZE) | ${KEYS[redis]} | ${KEYS[shoal]} | $(ratio "${KEYS[shoal]}" "${KEYS[redis]}") |"
		echo "| used_memory bytes/key | ${UMK[redis]} | ${UMK[shoal]} | $(ratio "${UMK[shoal]}" "${UMK[redis]}") |"
		echo "| RSS bytes/key | ${RSSK[redis]} | ${RSSK[shoal]} | $(ratio "${RSSK[shoal]}" "${RSSK[redis]}") |"
		echo "| used_memory delta MiB | ${UMD[redis]} | ${UMD[shoal]} | $(ratio "${UMD[shoal]}" "${UMD[redis]}") |"
		echo "| RSS delta MiB | ${RSSD[redis]} | ${RSSD[shoal]} | $(ratio "${RSSD[shoal]}" "${RSSD[redis]}") |"
		echo
	} >"$out"
}

# rows_cluster is the placeholder for the cluster row set (issue 3): Shoal
# with 3 nodes (shoal dev --nodes 3) against a 3-master redis cluster, using
# redis-benchmark --cluster. Not implemented yet.
rows_cluster() {
	local out=$1
	echo "cluster rows: not yet implemented" >&2
	{
		echo "### Cluster"
		echo
		echo "cluster rows: not yet implemented"
		echo
	} >"$out"
}

# ---------------------------------------------------------------- main

main() {
	local sets=("$@") s need_servers=0 do_ops=0 do_mem=0 do_cluster=0
	[[ ${#sets[@]} -gt 0 ]] || sets=(ops memory)
	for s in "${sets[@]}"; do
		case $s in
		ops) do_ops=1 ;;
		memory | mem) do_mem=1 ;;
		cluster) do_cluster=1 ;;
		all) do_ops=1 do_mem=1 do_cluster=1 ;;
		-h | --help | help)
			sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
			return 0
			;;
		*) die "unknown row set '$s' (want ops, memory, cluster or all)" ;;
		esac
	done
	((do_ops || do_mem)) && need_servers=1

	WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-bench.XXXXXX")
	mkdir -p "$BENCH_RESULTS_DIR"

	if ((need_servers)); then
		need "$REDIS_SERVER"
		need "$REDIS_BENCHMARK"
		need "$REDIS_CLI"
		need timeout
		start_redis
		start_shoal
	fi

	local started=$SECONDS
	# Memory rows run first, on fresh processes, so the allocator has not
	# yet been grown and fragmented by the ops rows.
	if ((do_mem)); then rows_memory "$WORK/memory.md"; fi
	if ((do_ops)); then rows_ops "$WORK/ops.md"; fi
	if ((do_cluster)); then rows_cluster "$WORK/cluster.md"; fi

	local rev cpu ts
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then rev="$rev (dirty)"; fi
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
	ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	local result="$WORK/result.md"
	{
		echo "## Shoal vs Redis, $ts"
		echo
		echo "- shoal: \`$SHOAL_BIN\` at $rev"
		echo "- redis: $("$REDIS_SERVER" --version 2>/dev/null | head -n 1 || echo unknown)"
		echo "- machine: $(nproc) cores, $cpu, $(uname -sr)"
		echo "- duration: $((SECONDS - started))s"
		echo
		local f
		for f in ops memory cluster; do
			[[ -f $WORK/$f.md ]] && cat "$WORK/$f.md"
		done
	} >"$result"

	cp "$result" "$BENCH_RESULTS_DIR/latest.md"
	cp "$result" "$BENCH_RESULTS_DIR/$(date -u +%Y%m%d-%H%M%S).md"
	echo
	cat "$result"
	log "written to $BENCH_RESULTS_DIR/latest.md"
	local errs
	errs=$(grep -c '| ERR |' "$result" || true)
	if [[ $errs -gt 0 ]]; then
		log "$errs row(s) had benchmark errors; logs in $WORK"
		return 1
	fi
}

main "$@"
