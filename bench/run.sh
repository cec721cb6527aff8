#!/usr/bin/env bash
# bench/run.sh - side-by-side benchmark of Redis and Shoal.
#
# Usage:
#   bench/run.sh            # all row sets: memory, ops, types, types-cluster,
#                           # cluster, proxy
#   bench/run.sh memory     # only the memory rows (distinct keys, churn)
#   bench/run.sh ops        # only the single-node throughput/latency rows
#   bench/run.sh types      # only the data-type rows (HSET, HGET, ZADD, LPUSH,
#                           # LPOP, SADD, EVALSHA, ZRANGE; single node)
#   bench/run.sh types-cluster  # the same data-type rows against Redis
#                           # Cluster and a 3-node Shoal (--cluster)
#   bench/run.sh cluster    # only the cluster rows
#   bench/run.sh proxy      # only the proxy rows
#   bench/run.sh tls        # only the TLS cluster rows (not part of "all")
#   bench/run.sh stability  # only the leader-change count under load
#   bench/run.sh ops memory # any combination; "all" = the default
#
# Every row set starts its own fresh servers on free loopback ports and
# stops them when it is done (and on any exit, including failures):
#   memory   a redis-server and a Shoal per row set (distinct keys, churn);
#            loads each, waits BENCH_MEM_SETTLE s, reads used_memory
#            (INFO memory) and VmRSS (/proc/PID/status) before and after
#   ops      a redis-server and a Shoal; SET/GET/INCR/MSET at -P 1 and 16
#   types    a redis-server and a Shoal; a preloaded hash and BENCH_ZSET_SIZE
#            sorted sets; HSET/HGET/ZADD/LPUSH/LPOP/SADD/EVALSHA/ZRANGE
#   types-cluster  both clusters as the cluster rows; the types rows with
#            redis-benchmark --cluster, keys spread over every slot
#            ({tag} keys: a random slot of the client's node per request)
#   cluster  Redis Cluster (3 masters + 3 replicas) and a 3-node Shoal;
#            SET/GET at -P 1 and 16 with redis-benchmark --cluster
#   proxy    a 3-node Shoal and `shoal proxy` in front of it; SET/GET at
#            -P 1 and 16, redis-benchmark --cluster against the nodes vs
#            redis-benchmark (no --cluster) through the proxy
#   tls      the cluster rows with TLS everywhere: certificates made with
#            openssl in $WORK/tls, both clusters with --port 0 --tls-port
#            and --tls-cluster yes (Redis also --tls-replication yes),
#            redis-benchmark --tls --cluster with a client certificate
#   stability  a 3-node Shoal (with --metrics-addr) under BENCH_STABILITY_SECONDS
#            of cycles of SET -P 16 (BENCH_CLUSTER_N_PIPE requests), a
#            3 s pause (longer than the groups' idle compaction wait), SET and
#            GET -P 1 (BENCH_STABILITY_N each) and a 3 s pause; counts the leader changes of every group (the sum of
#            shoal_group_raft_leader_changes_total over the nodes' /metrics,
#            before and after) and the "failed to contact" warnings in the
#            nodes' logs. No fault is injected: issue 9 asks for zero
#            leader changes. Part of "all"; about BENCH_STABILITY_SECONDS.
# Each throughput row runs both sides back to back, alternating who goes
# first row by row, so that machine drift affects both alike. Read the
# ratios, not the absolute numbers. Each throughput cell also shows the
# server CPU per operation: the user+system time (/proc/PID/stat) of all
# server processes of that side during the run, divided by its requests;
# it is exact to within 2 clock ticks (20 ms at CLK_TCK 100) per process,
# so use large N; and redis-benchmark's own CPU per operation against each
# side. The results start with the machine's nproc and load average and
# with the exact commands that were run, and end (without a baseline) with
# issue 9's bounds checked against the rows that ran. See BENCHMARKS.md
# for the methodology.
#
# Environment (defaults in brackets):
#   SHOAL_BIN           Shoal binary [<repo>/bin/shoal]
#   BENCH_BASELINE_BIN  another Shoal binary to compare SHOAL_BIN with,
#                       before/after a change: it takes Redis's place in
#                       the ops and cluster rows (memory rows are skipped);
#                       see bench/ab.sh and `make bench-ab BASE=<rev>` []
#   BENCH_GOMAXPROCS    GOMAXPROCS of every Shoal process (single node,
#                       cluster nodes, proxy, a baseline Shoal), set in its
#                       environment (so a baseline from before --gomaxprocs
#                       takes it too); 0 = Go's default, the CPUs. Here the
#                       servers share the cores with each other and with
#                       redis-benchmark, and Redis runs commands on one
#                       thread: BENCHMARKS.md, "Processes that share
#                       cores" [1]
#   SHOAL_EXTRA_ARGS    extra args for single-node "shoal server" (memory,
#                       ops), word-split []
#   SHOAL_CLUSTER_EXTRA_ARGS  extra args for each cluster node, word-split []
#   SHOAL_METRICS       1 = the Shoal cluster (not the baseline) serves
#                       Prometheus metrics (--metrics-addr) and a scraper
#                       reads every node's /metrics once a second during
#                       the rows: with BENCH_BASELINE_BIN=SHOAL_BIN, the
#                       cost of metrics side by side (make bench-metrics);
#                       BENCH_SCRAPE=0 leaves the scraper out; baseline =
#                       the same on the baseline side instead (to tell
#                       the cost from a bias between the sides) [0]
#   REDIS_SERVER        redis-server binary [redis-server]
#   REDIS_BENCHMARK     redis-benchmark binary [redis-benchmark]
#   REDIS_CLI           redis-cli binary [redis-cli]
#   GO                  go toolchain, to build bench/loadkeys [go]
#   BENCH_CLIENTS       -c for every redis-benchmark run [50]
#   BENCH_DATASIZE      -d value size in bytes [64]
#   BENCH_REPEAT        runs per throughput row and side; the table shows
#                       each side's best run (highest rps, with that run's
#                       p99 and CPU per operation) [1]
#   BENCH_TIMEOUT       seconds before one benchmark or load is killed
#                       (a TIMEOUT cell, or a failed load) [300]
#   BENCH_IDLE          seconds over which the ops and cluster rows read
#                       both sides' idle server CPU, after the preload and
#                       before the rows (shown in the table note); 0 = not
#                       read [3]
#   memory:
#   BENCH_MEM_KEYS      distinct keys written by loadkeys [1000000]
#   BENCH_MEM_N         SET requests of the churn load [3000000]
#   BENCH_MEM_KEYSPACE  -r of the churn load [1000000]
#   BENCH_MEM_SETTLE    seconds between the end of a load and the "after"
#                       reading [5]
#   ops:
#   BENCH_N             requests per run at -P 1 [200000]
#   BENCH_N_PIPE        requests per run at -P > 1 [2000000]
#   BENCH_MSET_DIV      divide BENCH_N_PIPE by this for pipelined MSET,
#                       which writes 10 keys per request [4]
#   BENCH_TESTS         tests [set get incr mset]
#   types:
#   BENCH_TYPE_TESTS    data-type tests (also BENCH_N, BENCH_N_PIPE,
#                       BENCH_PIPELINES, BENCH_KEYSPACE)
#                       [hset hget zadd lpush lpop sadd evalsha zrange]
#   BENCH_SCRIPT        the evalsha row's script, one key
#                       [return redis.call('INCR', KEYS[1])]
#   BENCH_PIPELINES     pipeline depths [1 16]
#   BENCH_KEYSPACE      -r [100000]
#   BENCH_ZSET_SIZE     the zrange row's sorted sets: single node, this many
#                       sets (zr:N) of up to this many members, preloaded
#                       with 3 x SIZE x SIZE random ZADDs; -r of its runs and
#                       preloads (members per set in the cluster too) [100]
#   types-cluster:
#   BENCH_CLUSTER_TYPE_TESTS  tests [BENCH_TYPE_TESTS]; pipelines, -r and
#                       N when pipelined are the cluster rows'
#                       (BENCH_CLUSTER_N_PIPE, ...)
#   BENCH_CLUSTER_TYPE_N  requests per run at -P 1 [300000]
#   BENCH_CLUSTER_ZSET_N  ZADDs preloading the zrange row's sorted sets in the
#                       cluster: one per slot (zr:{tag}), 16384 sets, so
#                       about N/16384 members each [327680]
#   cluster:
#   BENCH_CLUSTER_N       requests per run at -P 1 (and of the proxy
#                       rows) [1000000]
#   BENCH_CLUSTER_N_PIPE  requests per run at -P > 1 [3000000]
#                       redis-benchmark --cluster runs threads, which stop
#                       on its 250 ms throughput tick: a run's time, and so
#                       its rate, is rounded up to a multiple of 250 ms,
#                       so runs must last several seconds (at 1000000
#                       requests, 10-17 s at -P 1: under 2.5%)
#   BENCH_CLUSTER_TESTS   tests [set get]
#   BENCH_CLUSTER_PIPELINES  pipeline depths [1 16]
#   BENCH_CLUSTER_KEYSPACE   -r [100000]
#   BENCH_CLUSTER_WAIT    seconds to wait for each cluster to form [60]
#   BENCH_CLUSTER_SETTLE  seconds the Shoal cluster's masters must stay
#                         unchanged before the rows start [3]
#   output:
#   stability:
#   BENCH_STABILITY_SECONDS  how long the load cycles run; a cycle that has
#                       started runs to its end [300]
#   BENCH_STABILITY_N   requests per -P 1 run in a cycle [200000]
#   output:
#   BENCH_RESULTS_DIR   where latest.md and a timestamped copy go
#                       [<repo>/bench/results]
#   BENCH_KEEP_LOGS     1 = keep the logs directory even on success [0]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SHOAL_BIN=${SHOAL_BIN:-$ROOT/bin/shoal}
BENCH_BASELINE_BIN=${BENCH_BASELINE_BIN:-}
BENCH_GOMAXPROCS=${BENCH_GOMAXPROCS:-1}
# BASE names the side Shoal is compared with in the tables.
BASE=redis
if [[ -n $BENCH_BASELINE_BIN ]]; then BASE=baseline; fi
SHOAL_EXTRA_ARGS=${SHOAL_EXTRA_ARGS:-}
SHOAL_CLUSTER_EXTRA_ARGS=${SHOAL_CLUSTER_EXTRA_ARGS:-}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REDIS_CLI=${REDIS_CLI:-redis-cli}
GO=${GO:-go}
BENCH_CLIENTS=${BENCH_CLIENTS:-50}
BENCH_DATASIZE=${BENCH_DATASIZE:-64}
BENCH_REPEAT=${BENCH_REPEAT:-1}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
BENCH_IDLE=${BENCH_IDLE:-3}
BENCH_MEM_KEYS=${BENCH_MEM_KEYS:-1000000}
BENCH_MEM_N=${BENCH_MEM_N:-3000000}
BENCH_MEM_KEYSPACE=${BENCH_MEM_KEYSPACE:-1000000}
BENCH_MEM_SETTLE=${BENCH_MEM_SETTLE:-5}
BENCH_N=${BENCH_N:-200000}
BENCH_N_PIPE=${BENCH_N_PIPE:-2000000}
BENCH_MSET_DIV=${BENCH_MSET_DIV:-4}
BENCH_TESTS=${BENCH_TESTS:-set get incr mset}
BENCH_TYPE_TESTS=${BENCH_TYPE_TESTS:-hset hget zadd lpush lpop sadd evalsha zrange}
BENCH_ZSET_SIZE=${BENCH_ZSET_SIZE:-100}
BENCH_SCRIPT=${BENCH_SCRIPT:-"return redis.call('INCR', KEYS[1])"}
BENCH_SCRIPT_SHA=""
BENCH_PIPELINES=${BENCH_PIPELINES:-1 16}
BENCH_KEYSPACE=${BENCH_KEYSPACE:-100000}
BENCH_CLUSTER_N=${BENCH_CLUSTER_N:-1000000}
BENCH_CLUSTER_TYPE_N=${BENCH_CLUSTER_TYPE_N:-300000}
BENCH_CLUSTER_N_PIPE=${BENCH_CLUSTER_N_PIPE:-3000000}
BENCH_CLUSTER_TESTS=${BENCH_CLUSTER_TESTS:-set get}
BENCH_CLUSTER_TYPE_TESTS=${BENCH_CLUSTER_TYPE_TESTS:-$BENCH_TYPE_TESTS}
BENCH_CLUSTER_ZSET_N=${BENCH_CLUSTER_ZSET_N:-327680}
BENCH_CLUSTER_PIPELINES=${BENCH_CLUSTER_PIPELINES:-1 16}
BENCH_CLUSTER_KEYSPACE=${BENCH_CLUSTER_KEYSPACE:-100000}
BENCH_CLUSTER_WAIT=${BENCH_CLUSTER_WAIT:-60}
BENCH_CLUSTER_SETTLE=${BENCH_CLUSTER_SETTLE:-3}
BENCH_STABILITY_SECONDS=${BENCH_STABILITY_SECONDS:-300}
BENCH_STABILITY_N=${BENCH_STABILITY_N:-200000}
BENCH_RESULTS_DIR=${BENCH_RESULTS_DIR:-$ROOT/bench/results}
BENCH_KEEP_LOGS=${BENCH_KEEP_LOGS:-0}
SHOAL_METRICS=${SHOAL_METRICS:-0}

# The single-node pair of the current row set.
REDIS_PID="" REDIS_PORT="" SHOAL_PID="" SHOAL_PORT=""
# Client ports of the two clusters; node 0 is the benchmark entry point.
RC_PORTS=() SC_PORTS=()
# Server PIDs of the two clusters, whose CPU time the cluster rows read.
RC_PIDS=() SC_PIDS=()
# Metrics ports of the Shoal cluster's nodes, when it serves /metrics.
SC_MPORTS=()
CLK_TCK=""     # clock ticks per second of /proc/PID/stat (getconf CLK_TCK)
# Every server process this script started and has not stopped yet:
# pid -> "name logfile". cleanup stops them all.
declare -A SERVERS=()
WORK=""
SECTION=""     # heading under which record files commands
RECORD_TO=""   # file record appends to
USED_PORTS=" " # ports handed out in this run
PORT_OUT=""    # alloc_port's result
SPAWNED_PID="" # spawn's result
# The tls row set: client flags of redis-cli and redis-benchmark, server
# flags of both clusters (empty otherwise), the heading's label.
TLS_ARGS=() TLS_SERVER_ARGS=() TLS_LABEL=""
PORT_ARGS=() # port_args's result
PER_SLOT=0   # 1 during the types-cluster rows: test_label says "per slot"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ---------------------------------------------------------------- processes

spawn() { # spawn NAME LOGFILE CMD...: start a server in the background
	local name=$1 logf=$2
	shift 2
	"$@" >"$logf" 2>&1 &
	SPAWNED_PID=$!
	SERVERS[$SPAWNED_PID]="$name $logf"
}

# stop_servers [PID...]: SIGTERM the given servers (default: all), wait up
# to 10 s for them to exit, then SIGKILL what is left.
stop_servers() {
	local pids=("$@") pid i
	if [[ ${#pids[@]} -eq 0 ]]; then pids=("${!SERVERS[@]}"); fi
	[[ ${#pids[@]} -gt 0 ]] || return 0
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for ((i = 0; i < 100; i++)); do
		local alive=0
		for pid in "${pids[@]}"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid (${SERVERS[$pid]%% *}) did not exit on SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
		unset "SERVERS[$pid]"
	done
}

check_alive() {
	local pid
	for pid in "${!SERVERS[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "${SERVERS[$pid]%% *} (pid $pid) died; log: ${SERVERS[$pid]#* }"
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_servers
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

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found${2:+ ($2)}"; }

# alloc_port [BUS]: set PORT_OUT to a loopback port that nothing listens on
# (TCP or UDP) and that this run has not handed out before. The ports are
# below the kernel's ephemeral range, so outgoing connections do not take
# them. With BUS=1, PORT_OUT+10000 (the Redis Cluster bus port) is free too.
alloc_port() {
	local bus=${1:-0} busy lo hi p q ok
	lo=20000
	hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
	[[ $hi =~ ^[0-9]+$ && $hi -gt $((lo + 12000)) ]] || hi=32767
	if ((bus)); then hi=$((hi - 10000)); fi
	busy=" $(ss -Hlntu 2>/dev/null | awk '{ n = split($5, a, ":"); printf "%s ", a[n] }') "
	for _ in $(seq 1 500); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		ok=1
		for q in "$p" $((bus ? p + 10000 : p)); do
			if [[ $USED_PORTS == *" $q "* || $busy == *" $q "* ]] || (exec 3<>"/dev/tcp/127.0.0.1/$q") 2>/dev/null; then
				ok=0
			fi
		done
		if ((ok)); then
			USED_PORTS+="$p "
			if ((bus)); then USED_PORTS+="$((p + 10000)) "; fi
			PORT_OUT=$p
			return 0
		fi
	done
	die "no free port"
}

cli() { # cli PORT ARGS...
	local port=$1
	shift
	timeout 30 "$REDIS_CLI" "${TLS_ARGS[@]}" -h 127.0.0.1 -p "$port" "$@"
}

# port_args PORT: set PORT_ARGS to a server's port flags: --port PORT, or
# in the tls row set --port 0 --tls-port PORT and TLS_SERVER_ARGS.
port_args() {
	if [[ ${#TLS_SERVER_ARGS[@]} -gt 0 ]]; then
		PORT_ARGS=(--port 0 --tls-port "$1" "${TLS_SERVER_ARGS[@]}")
	else
		PORT_ARGS=(--port "$1")
	fi
}

wait_ready() { # wait_ready NAME PID PORT LOGFILE
	local name=$1 pid=$2 port=$3 logf=$4
	for _ in $(seq 1 150); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during startup; log $logf:"
			tail -n 30 "$logf" >&2 || true
			return 1
		fi
		if [[ $(cli "$port" ping 2>/dev/null) == PONG ]]; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer PING on port $port within 15s; log $logf:"
	tail -n 30 "$logf" >&2 || true
	return 1
}

# record SUBST CMD...: note CMD under the current SECTION, for the command
# list at the top of the results. The run's temp dir is shown as $WORK; with
# SUBST=1 the server port (after -p, --port or -addr HOST:) as $PORT.
record() {
	local sub=$1 a prev="" line=""
	shift
	for a in "$@"; do
		if [[ -n $WORK ]]; then a=${a//"$WORK"/\$WORK}; fi
		if [[ $sub == 1 ]]; then
			case $prev in
			-p | --port) a=\$PORT ;;
			-addr) a="${a%:*}:\$PORT" ;;
			esac
		fi
		line+="$(quote "$a") "
		prev=$a
	done
	printf '%s\t%s\n' "$SECTION" "${line% }" >>"${RECORD_TO:-$WORK/commands.tsv}"
}

# render_commands: the recorded commands, deduplicated, grouped by section
# in the order the sections first ran.
render_commands() {
	[[ -f $WORK/commands.tsv ]] || return 0
	awk -F'\t' '!seen[$0]++ {
		if (!($1 in idx)) { idx[$1] = ++n; name[n] = $1 }
		body[idx[$1]] = body[idx[$1]] $2 "\n"
	}
	END { for (i = 1; i <= n; i++) printf "%s# %s\n%s", (i > 1 ? "\n" : ""), name[i], body[i] }' "$WORK/commands.tsv"
}

# SHOAL_ENV prefixes every Shoal command: BENCH_GOMAXPROCS in its
# environment.
SHOAL_ENV=()
shoal_env() {
	SHOAL_ENV=()
	if [[ -n $BENCH_GOMAXPROCS && $BENCH_GOMAXPROCS != 0 ]]; then SHOAL_ENV=(env "GOMAXPROCS=$BENCH_GOMAXPROCS"); fi
}

shoal_extra() { # shoal_extra STRING: print the word-split STRING, one per line
	local -a w=()
	# The extra args are deliberately word-split.
	# shellcheck disable=SC2206
	if [[ -n $1 ]]; then w=($1); fi
	if [[ ${#w[@]} -gt 0 ]]; then printf '%s\n' "${w[@]}"; fi
}

# Each start is tried up to 3 times on new ports, in case another process
# takes a free port between alloc_port and the server's bind.
start_redis() { # fresh redis-server: sets REDIS_PORT and REDIS_PID
	local try logf
	local -a cmd
	for try in 1 2 3; do
		alloc_port
		REDIS_PORT=$PORT_OUT
		logf="$WORK/redis-$REDIS_PORT.log"
		cmd=("$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no)
		if [[ -n $BENCH_BASELINE_BIN ]]; then
			local -a extra
			mapfile -t extra < <(shoal_extra "$SHOAL_EXTRA_ARGS")
			cmd=("${SHOAL_ENV[@]}" "$BENCH_BASELINE_BIN" server --port "$REDIS_PORT" "${extra[@]}")
		fi
		spawn redis "$logf" "${cmd[@]}"
		REDIS_PID=$SPAWNED_PID
		if wait_ready redis "$REDIS_PID" "$REDIS_PORT" "$logf"; then
			record 1 "${cmd[@]}"
			log "redis-server pid $REDIS_PID port $REDIS_PORT"
			return 0
		fi
		stop_servers "$REDIS_PID"
		log "redis-server start attempt $try failed"
	done
	die "redis-server failed to start"
}

start_shoal() { # fresh single-node Shoal: sets SHOAL_PORT and SHOAL_PID
	local try logf
	local -a cmd extra
	mapfile -t extra < <(shoal_extra "$SHOAL_EXTRA_ARGS")
	for try in 1 2 3; do
		alloc_port
		SHOAL_PORT=$PORT_OUT
		logf="$WORK/shoal-$SHOAL_PORT.log"
		cmd=("${SHOAL_ENV[@]}" "$SHOAL_BIN" server --port "$SHOAL_PORT" "${extra[@]}")
		spawn shoal "$logf" "${cmd[@]}"
		SHOAL_PID=$SPAWNED_PID
		if wait_ready shoal "$SHOAL_PID" "$SHOAL_PORT" "$logf"; then
			record 1 "${cmd[@]}"
			log "shoal pid $SHOAL_PID port $SHOAL_PORT"
			return 0
		fi
		stop_servers "$SHOAL_PID"
		log "shoal start attempt $try failed"
	done
	die "shoal failed to start (command: ${cmd[*]})"
}

# bench_one WHO PORT TEST PIPELINE N KEYSPACE CLUSTER PID...
# Prints "rps p99 cpu" on success, or "ERR reason" on failure. Never fails.
# cpu is the server CPU per request in µs: the CPU ticks of the PIDs (the
# side's server processes) read just before and just after the run,
# divided by N; n/a if a PID is gone.
bench_one() {
	local who=$1 port=$2 t=$3 p=$4 n=$5 ks=$6 cluster=$7 out rc line c0 c1 cpu client
	local -a pids=("${@:8}")
	local logf="$WORK/bench-$who-$t-P$p.log"
	local -a cmd=("$REDIS_BENCHMARK")
	if [[ $cluster == 1 ]]; then cmd+=(--cluster); fi
	cmd+=("${TLS_ARGS[@]}" -h 127.0.0.1 -p "$port" -n "$n" -P "$p" -c "$BENCH_CLIENTS" -r "$ks" -d "$BENCH_DATASIZE" --csv)
	# With --cluster a command line's keys must hold "{tag}", which
	# redis-benchmark replaces per request with a hash tag of a random
	# slot of the client's node (its own tests do the same: myhash{tag}).
	local tag=""
	if [[ $cluster == 1 ]]; then tag="{tag}"; fi
	case $t in
	# Tests redis-benchmark has no -t for: a command line. HGET reads the
	# fields that -t hset writes (HSET myhash element:__rand_int__ <data>).
	hget) cmd+=(HGET "myhash$tag" 'element:__rand_int__') ;;
	# EVALSHA of BENCH_SCRIPT (loaded by rows_types) on a random key.
	evalsha) cmd+=(EVALSHA "$BENCH_SCRIPT_SHA" 1 "key:${tag:+$tag:}__rand_int__") ;;
	# The first 10 members of a preloaded sorted set (preload_zsets).
	zrange) cmd+=(ZRANGE "$(zset_key "$cluster")" 0 9 WITHSCORES) ;;
	*) cmd+=(-t "$t") ;;
	esac
	record 1 "${cmd[@]}"
	c0=$(cpu_ticks "${pids[@]}" || true)
	set +e
	# times, in the subshell, prints the CPU time of its children:
	# timeout and the redis-benchmark it waited for.
	out=$(
		timeout "$BENCH_TIMEOUT" "${cmd[@]}" 2>"$logf"
		rc=$?
		times >"$WORK/times"
		exit $rc
	)
	rc=$?
	set -e
	c1=$(cpu_ticks "${pids[@]}" || true)
	printf '%s\n' "$out" >>"$logf"
	printf 'server cpu ticks (CLK_TCK %s) of pids %s: %s -> %s\n' "$CLK_TCK" "${pids[*]}" "$c0" "$c1" >>"$logf"
	printf 'client cpu (bash times: shell, then children): %s\n' "$(tr '\n' ' ' <"$WORK/times")" >>"$logf"
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
	cpu=$(cpu_per_op "$c0" "$c1" "$n")
	client=$(client_per_op "$WORK/times" "$n")
	# Index from the end: the test name ("MSET (10 keys)") may contain spaces.
	printf '%s\n' "$line" | awk -F, -v cpu="$cpu" -v client="$client" '{ gsub(/"/, ""); printf "%.0f %s %s %s\n", $(NF - 6), $(NF - 1), cpu, client }'
}

# client_per_op TIMES N: the children's user+system time in TIMES (the
# output of bash's times: "0m1.250s 0m0.310s" on its second line) over N
# requests, as µs per request with 2 decimals, or n/a.
client_per_op() {
	awk -v n="$2" 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) {
			if (!match($i, /^[0-9]+m[0-9.]+s$/)) { print "n/a"; exit }
			split($i, a, "m")
			t += a[1] * 60 + substr(a[2], 1, length(a[2]) - 1)
		}
		if (n + 0 <= 0) { print "n/a"; exit }
		printf "%.2f\n", t * 1e6 / n
		found = 1
	}
	END { if (!found) print "n/a" }' "$1" 2>/dev/null || echo n/a
}

# cpu_per_op TICKS0 TICKS1 N: (TICKS1 - TICKS0) clock ticks over N requests
# as µs per request, 2 decimals, or n/a.
cpu_per_op() {
	awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN {
		if (a !~ /^[0-9]+$/ || b !~ /^[0-9]+$/ || b + 0 < a + 0 || n + 0 <= 0 || hz + 0 <= 0) { print "n/a"; exit }
		printf "%.2f", (b - a) * 1e6 / hz / n }'
}

# best_of A B: of two bench_one results ("rps p99 cpu" or "ERR ..."), the
# one with the higher rps; an error wins, so that it is never hidden.
best_of() {
	if [[ -z $1 ]]; then
		echo "$2"
		return 0
	fi
	if [[ $1 == ERR* ]]; then
		echo "$1"
		return 0
	fi
	if [[ $2 == ERR* ]]; then
		echo "$2"
		return 0
	fi
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); print (y[1] + 0 > x[1] + 0) ? b : a }'
}

ratio() { # ratio A B -> A/B with 2 decimals, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) { print "n/a"; exit }
		printf "%.2f", a / b }'
}

# cpu_note BASE_PROCS SHOAL_PROCS N N_PIPE [MORE]: the table note on the
# CPU columns, with the resolution of each side's figure at N and N_PIPE;
# MORE is appended to it.
cpu_note() {
	local bp=$1 sp=$2 n=$3 np=$4 more=${5:-}
	echo "CPU µs/op: the user+system time of the side's server processes ($BASE: $bp, shoal: $sp) from /proc/PID/stat (utime+stime), read just before and just after the run and divided by its N requests; that of the shown (best) run when runs repeat. It counts all the work of those processes during the run, background work (Raft heartbeats, replication, cron) included, and none of redis-benchmark's. shoal/$BASE cpu above 1.00: Shoal spends more CPU per operation."
	awk -v hz="$CLK_TCK" -v bp="$bp" -v sp="$sp" -v n="$n" -v np="$np" -v base="$BASE" -v more="$more" 'BEGIN {
		t = 1e6 / hz
		printf "Resolution: clock ticks of %g ms, each reading truncated, so a figure is within 2 ticks per process: %s ±%.2f µs/op at -P 1, ±%.2f pipelined; shoal ±%.2f, ±%.2f%s.\n",
			t / 1000, base, 2 * bp * t / n, 2 * bp * t / np, 2 * sp * t / n, 2 * sp * t / np, more }'
	client_note
}

# client_note: the table note on the client columns.
client_note() {
	echo "Client µs/op: redis-benchmark's own user+system time (bash's times around the run) over its N requests, against each side: the other part of the machine's work. Where the servers and the client together keep every core busy, the throughput ratio follows the ratio of server + client µs/op, not of the servers' alone."
}

# idle_note BASE_PIDS SHOAL_PIDS: the CPU both sides' servers use, idle,
# over BENCH_IDLE seconds, as a table note (nothing if BENCH_IDLE is 0).
# This background work is part of every µs/op figure.
idle_note() {
	[[ $BENCH_IDLE != 0 ]] || return 0
	local -a bp sp
	local b0 s0 b1 s1
	read -ra bp <<<"$1"
	read -ra sp <<<"$2"
	log "reading idle server CPU for ${BENCH_IDLE}s"
	b0=$(cpu_ticks "${bp[@]}" || true) s0=$(cpu_ticks "${sp[@]}" || true)
	sleep "$BENCH_IDLE"
	b1=$(cpu_ticks "${bp[@]}" || true) s1=$(cpu_ticks "${sp[@]}" || true)
	awk -v hz="$CLK_TCK" -v secs="$BENCH_IDLE" -v base="$BASE" -v b0="$b0" -v b1="$b1" -v s0="$s0" -v s1="$s1" \
		-v bn="${#bp[@]}" -v sn="${#sp[@]}" '
		function pct(a, b) {
			if (a !~ /^[0-9]+$/ || b !~ /^[0-9]+$/) return "n/a"
			return sprintf("%.1f%%", (b - a) * 100 / hz / secs)
		}
		BEGIN {
			printf "Idle: over %g s after the preload, before the rows, the %s servers used %s of one core (±%.1f%%), the shoal servers %s (±%.1f%%). Such background work is in the µs/op figures: at R rps, C%% of a core adds C × 10000 / R µs/op.\n",
				secs, base, pct(b0, b1), 2 * bn * 100 / hz / secs, pct(s0, s1), 2 * sn * 100 / hz / secs
		}'
}

test_label() {
	if [[ $PER_SLOT == 1 ]]; then # types-cluster: one key per slot
		PER_SLOT=0 test_label "$1" | sed 's/(one \([a-z]*\))/(one \1 per slot)/'
		return 0
	fi
	case $1 in
	set) echo SET ;; get) echo GET ;; incr) echo INCR ;; mset) echo "MSET (10 keys)" ;;
	hset) echo "HSET (one hash)" ;; hget) echo "HGET (one hash)" ;;
	zadd) echo "ZADD (one zset)" ;; lpush) echo "LPUSH (one list)" ;; lpop) echo "LPOP (one list)" ;;
	sadd) echo "SADD (one set)" ;; evalsha) echo "EVALSHA (INCR script)" ;;
	zrange) echo "ZRANGE 0 9 WITHSCORES" ;;
	*) echo "$1" | tr '[:lower:]' '[:upper:]' ;;
	esac
}

# compare_row OUT ROW TEST PIPELINE N KEYSPACE CLUSTER REDIS_PORT SHOAL_PORT
#             REDIS_PIDS SHOAL_PIDS [SHOAL_CLUSTER]
# Runs one table row (BENCH_REPEAT times per side, alternating who goes
# first) and appends it to OUT. REDIS_PIDS and SHOAL_PIDS: the server
# processes of each side (space-separated), whose CPU time is read.
# SHOAL_CLUSTER (default CLUSTER): --cluster for the shoal side's runs.
compare_row() {
	local out=$1 row=$2 t=$3 p=$4 n=$5 ks=$6 cluster=$7 rport=$8 sport=$9 scluster=${12:-$7}
	local rep a b r="" s="" label
	local -a rpids spids
	read -ra rpids <<<"${10}"
	read -ra spids <<<"${11}"
	label=$(test_label "$t")
	for ((rep = 0; rep < BENCH_REPEAT; rep++)); do
		check_alive
		if (((row + rep) % 2 == 0)); then
			log "$label -P $p -n $n: redis then shoal (run $((rep + 1))/$BENCH_REPEAT)"
			a=$(bench_one redis "$rport" "$t" "$p" "$n" "$ks" "$cluster" "${rpids[@]}")
			b=$(bench_one shoal "$sport" "$t" "$p" "$n" "$ks" "$scluster" "${spids[@]}")
			r=$(best_of "$r" "$a") s=$(best_of "$s" "$b")
		else
			log "$label -P $p -n $n: shoal then redis (run $((rep + 1))/$BENCH_REPEAT)"
			a=$(bench_one shoal "$sport" "$t" "$p" "$n" "$ks" "$scluster" "${spids[@]}")
			b=$(bench_one redis "$rport" "$t" "$p" "$n" "$ks" "$cluster" "${rpids[@]}")
			s=$(best_of "$s" "$a") r=$(best_of "$r" "$b")
		fi
	done
	local r_rps r_p99 r_cpu r_cl s_rps s_p99 s_cpu s_cl
	read -r r_rps r_p99 r_cpu r_cl <<<"$r"
	read -r s_rps s_p99 s_cpu s_cl <<<"$s"
	if [[ $r_rps == ERR ]]; then r_p99="${r#ERR }" r_cpu=n/a r_cl=n/a; fi
	if [[ $s_rps == ERR ]]; then s_p99="${s#ERR }" s_cpu=n/a s_cl=n/a; fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$p" "$r_rps" "$s_rps" \
		"$(ratio "$s_rps" "$r_rps")" "$r_p99" "$s_p99" "$r_cpu" "$s_cpu" "$(ratio "$s_cpu" "$r_cpu")" \
		"${r_cl:-n/a}" "${s_cl:-n/a}" >>"$out"
	tail -n 1 "$out" >&2
}

# preload WHO PORT KEYSPACE N CLUSTER OUT [TEST [COMMAND...]]: SET (or TEST,
# e.g. hset; or the command line COMMAND, TEST then naming the log) N
# random keys of KEYSPACE so that GET hits. A failure is logged and noted
# in OUT, not fatal: the rows still run (and show any errors themselves).
preload() {
	local who=$1 port=$2 ks=$3 n=$4 cluster=$5 out=$6 test=${7:-set} msg
	local logf="$WORK/preload-$who-$test.log"
	local -a what=(-t "$test")
	if [[ $# -gt 7 ]]; then what=("${@:8}"); fi
	local -a cmd=("$REDIS_BENCHMARK")
	if [[ $cluster == 1 ]]; then cmd+=(--cluster); fi
	cmd+=("${TLS_ARGS[@]}" -h 127.0.0.1 -p "$port" -n "$n" -P 16 -c "$BENCH_CLIENTS" -r "$ks" -d "$BENCH_DATASIZE" -q "${what[@]}")
	record 1 "${cmd[@]}"
	if ! timeout "$BENCH_TIMEOUT" "${cmd[@]}" >"$logf" 2>&1 || grep -q 'Error from server' "$logf"; then
		msg=$(tr '\r' '\n' <"$logf" | grep -m1 'Error from server' || true)
		log "WARNING: preload of $who failed${msg:+: $msg}; see $logf"
		echo "Note: the preload of $who failed${msg:+ ($msg)}." >>"$out"
		return 0
	fi
	if [[ $cluster != 1 ]]; then log "preloaded $who: dbsize $(cli "$port" dbsize)"; fi
}

# end_rows OUT: close a row set's table: its notes (OUT.notes) after it,
# a last check that every server survived, and the servers stopped.
end_rows() {
	local out=$1
	echo >>"$out"
	if [[ -s $out.notes ]]; then
		cat "$out.notes" >>"$out"
		echo >>"$out"
	fi
	check_alive
	stop_servers
}

# ---------------------------------------------------------------- memory rows

used_memory() { cli "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
rss_bytes() { awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$1/status"; }
per_key() { # per_key BEFORE AFTER KEYS
	if [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ && $3 =~ ^[0-9]+$ && $3 -gt 0 ]]; then
		awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN { printf "%.1f", (b - a) / k }'
	else
		echo n/a
	fi
}
delta_mib() { # delta_mib BEFORE AFTER
	if [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]]; then mib $(($2 - $1)); else echo n/a; fi
}

# rows_memory KIND OUT. KIND distinct: loadkeys writes BENCH_MEM_KEYS
# distinct keys once each. KIND churn: redis-benchmark writes BENCH_MEM_N
# random keys of BENCH_MEM_KEYSPACE, overwriting most of them several times.
# Each kind gets a fresh redis-server and a fresh Shoal.
rows_memory() {
	local kind=$1 out=$2 who port pid um0 rss0 rssl um1 rss1 keys t0 t1 logf
	local -a cmd
	declare -A KEYS UMK RSSK UMD RSSD RSSLD SECS
	if [[ $kind == distinct ]]; then
		SECTION="memory, distinct keys: fresh servers; load each in turn, then wait ${BENCH_MEM_SETTLE}s"
	else
		SECTION="memory, churn: fresh servers; load each in turn, then wait ${BENCH_MEM_SETTLE}s"
	fi
	start_redis
	start_shoal
	for who in redis shoal; do
		if [[ $who == redis ]]; then port=$REDIS_PORT pid=$REDIS_PID; else port=$SHOAL_PORT pid=$SHOAL_PID; fi
		check_alive
		sleep 1
		um0=$(used_memory "$port" || true)
		rss0=$(rss_bytes "$pid")
		if [[ $kind == distinct ]]; then
			cmd=("$WORK/loadkeys" -addr "127.0.0.1:$port" -n "$BENCH_MEM_KEYS" -d "$BENCH_DATASIZE")
		else
			cmd=("$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" -t set -n "$BENCH_MEM_N" -P 16 -c "$BENCH_CLIENTS"
				-r "$BENCH_MEM_KEYSPACE" -d "$BENCH_DATASIZE" -q)
		fi
		record 1 "${cmd[@]}"
		logf="$WORK/memload-$kind-$who.log"
		log "memory ($kind) $who: loading"
		t0=$(date +%s.%N)
		if ! timeout "$BENCH_TIMEOUT" "${cmd[@]}" >"$logf" 2>&1 || grep -q 'Error from server' "$logf"; then
			die "memory load ($kind) of $who failed; see $logf"
		fi
		t1=$(date +%s.%N)
		rssl=$(rss_bytes "$pid")
		sleep "$BENCH_MEM_SETTLE"
		keys=$(cli "$port" dbsize | tr -d '\r' || true)
		[[ $keys =~ ^[0-9]+$ ]] || keys="n/a"
		um1=$(used_memory "$port" || true)
		rss1=$(rss_bytes "$pid")
		KEYS[$who]=$keys
		SECS[$who]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
		UMK[$who]=$(per_key "$um0" "$um1" "$keys")
		RSSK[$who]=$(per_key "$rss0" "$rss1" "$keys")
		UMD[$who]=$(delta_mib "$um0" "$um1")
		RSSD[$who]=$(delta_mib "$rss0" "$rss1")
		RSSLD[$who]=$(delta_mib "$rss0" "$rssl")
		log "memory ($kind) $who: keys=$keys used_memory $um0 -> $um1, rss $rss0 -> $rssl (load end) -> $rss1 (+${BENCH_MEM_SETTLE}s)"
		if [[ $kind == distinct && $keys != "$BENCH_MEM_KEYS" ]]; then
			log "WARNING: $who has $keys keys after loading $BENCH_MEM_KEYS distinct keys"
		fi
	done
	check_alive
	stop_servers
	{
		if [[ $kind == distinct ]]; then
			echo "### Memory: $BENCH_MEM_KEYS distinct keys (single node)"
			echo
			echo "Fresh servers. loadkeys writes $BENCH_MEM_KEYS distinct 16-byte keys (\`key:\` + 12 digits) with ${BENCH_DATASIZE}-byte values, each once."
		else
			echo "### Memory: churn, random overwrites (single node)"
			echo
			echo "Fresh servers. SET -n $BENCH_MEM_N -r $BENCH_MEM_KEYSPACE -d $BENCH_DATASIZE -P 16: about 95% of the $BENCH_MEM_KEYSPACE keys, most written several times, so this includes what overwrites leave behind (allocator fragmentation, garbage not yet collected)."
		fi
		echo "Memory is read before the load and ${BENCH_MEM_SETTLE} s after it ends, on both servers: Shoal compacts its Raft log and returns memory to the OS shortly after a write burst, so a reading right after the load would still include the log (see the last RSS row)."
		echo "Bytes per key = (after - before) / DBSIZE; the ratio is shoal/redis (above 1.00: Shoal uses more)."
		echo
		echo "| metric | redis | shoal | shoal/redis |"
		echo "|---|---:|---:|---:|"
		echo "| keys (DBSIZE) | ${KEYS[redis]} | ${KEYS[shoal]} | $(ratio "${KEYS[shoal]}" "${KEYS[redis]}") |"
		echo "| used_memory bytes/key | ${UMK[redis]} | ${UMK[shoal]} | $(ratio "${UMK[shoal]}" "${UMK[redis]}") |"
		echo "| RSS bytes/key | ${RSSK[redis]} | ${RSSK[shoal]} | $(ratio "${RSSK[shoal]}" "${RSSK[redis]}") |"
		echo "| used_memory delta MiB | ${UMD[redis]} | ${UMD[shoal]} | $(ratio "${UMD[shoal]}" "${UMD[redis]}") |"
		echo "| RSS delta MiB | ${RSSD[redis]} | ${RSSD[shoal]} | $(ratio "${RSSD[shoal]}" "${RSSD[redis]}") |"
		echo "| RSS delta MiB right after the load (before the ${BENCH_MEM_SETTLE} s wait) | ${RSSLD[redis]} | ${RSSLD[shoal]} | $(ratio "${RSSLD[shoal]}" "${RSSLD[redis]}") |"
		echo "| load time s | ${SECS[redis]} | ${SECS[shoal]} | $(ratio "${SECS[shoal]}" "${SECS[redis]}") |"
		echo
	} >"$out"
}

# issue9_bounds: the acceptance bounds of issue 9 checked against this
# run's memory, ops and cluster tables (those that ran), as a table.
issue9_bounds() {
	local -a files=()
	local f
	for f in memory-distinct memory-churn ops cluster; do
		if [[ -f $WORK/$f.md ]]; then files+=("$WORK/$f.md"); fi
	done
	if [[ -f $WORK/stability.md.bound ]]; then files+=("$WORK/stability.md.bound"); fi
	[[ ${#files[@]} -gt 0 ]] || return 0
	echo "### Issue 9's bounds in this run"
	echo
	echo "Single node (SET, GET, INCR): throughput at least 1.00x redis-server at -P 1 and 0.80x at -P 16, CPU per op at most 1.30x. Cluster (SET, GET at -P 1 and -P 16): throughput at least 0.80x Redis Cluster, CPU per op at most 2.00x, Shoal's p99 under 5 ms. Memory: RSS per key at most 1.16x for distinct keys, 1.30x under churn. Stability: no leader change during the load cycles."
	echo
	echo "| row | shoal/redis throughput (memory: RSS per key) | shoal/redis CPU per op | shoal p99 ms | missed |"
	echo "|---|---:|---:|---:|---|"
	awk -F'|' '
		function trim(x) { gsub(/^ +| +$/, "", x); return x }
		function check(row, tput, tmin, cpu, cmax, p99, pmax,   miss) {
			miss = ""
			if (tput !~ /^[0-9.]+$/ || tput + 0 < tmin) miss = miss " throughput<" tmin
			if (cpu !~ /^[0-9.]+$/ || cpu + 0 > cmax) miss = miss " cpu>" cmax
			if (pmax > 0 && (p99 !~ /^[0-9.]+$/ || p99 + 0 >= pmax)) miss = miss " p99>=" pmax
			if (miss == "") miss = "none"
			else { miss = substr(miss, 2); missed++ }
			printf "| %s | %s | %s | %s | %s |\n", row, tput, cpu, (pmax > 0 ? p99 : "-"), miss
		}
		FNR == 1 { kind = FILENAME; sub(/.*\//, "", kind); sub(/\.md$/, "", kind) }
		kind ~ /^memory-/ && trim($2) == "RSS bytes/key" {
			max = (kind == "memory-churn") ? 1.30 : 1.16
			r = trim($5); miss = "none"
			if (r !~ /^[0-9.]+$/ || r + 0 > max) { miss = "rss>" max; missed++ }
			printf "| %s, RSS bytes/key | %s | - | - | %s |\n", kind, r, miss
		}
		kind == "stability.md.bound" {
			split($0, a, " ")
			miss = "none"
			if (a[1] !~ /^[0-9]+$/ || a[1] + 0 > 0) { miss = "leader changes>0"; missed++ }
			printf "| stability: leader changes in %s s of load | %s | - | - | %s |\n", a[2], a[1], miss
		}
		(kind == "ops" || kind == "cluster") && NF >= 12 {
			t = trim($2); p = trim($3)
			if (kind == "ops" && (t == "SET" || t == "GET" || t == "INCR") && (p == 1 || p == 16))
				check("single " t " -P " p, trim($6), (p == 1 ? 1.00 : 0.80), trim($11), 1.30, "", 0)
			if (kind == "cluster" && (t == "SET" || t == "GET") && (p == 1 || p == 16))
				check("cluster " t " -P " p, trim($6), 0.80, trim($11), 2.00, trim($8), 5)
		}
		END { printf "\n%d bound(s) missed.\n\n", missed }
	' "${files[@]}"
}

# ---------------------------------------------------------------- ops rows

rows_ops() {
	local out=$1 t p n row=0
	SECTION="single node: fresh servers; preload, then each row against both (order alternates)"
	start_redis
	start_shoal
	: >"$out.notes"
	preload redis "$REDIS_PORT" "$BENCH_KEYSPACE" $((BENCH_KEYSPACE * 10)) 0 "$out.notes"
	preload shoal "$SHOAL_PORT" "$BENCH_KEYSPACE" $((BENCH_KEYSPACE * 10)) 0 "$out.notes"
	{
		echo "### Throughput and latency (single node)"
		echo
		echo "-c $BENCH_CLIENTS, -r $BENCH_KEYSPACE, -d $BENCH_DATASIZE; N = $BENCH_N at -P 1, $BENCH_N_PIPE when pipelined (pipelined MSET: N / $BENCH_MSET_DIV). p99 in ms. Best of $BENCH_REPEAT run(s) per cell."
		cpu_note 1 1 "$BENCH_N" "$BENCH_N_PIPE" " (pipelined MSET, with N / $BENCH_MSET_DIV requests: ${BENCH_MSET_DIV}× that)"
		idle_note "$REDIS_PID" "$SHOAL_PID"
		echo
		echo "| test | pipeline | $BASE rps | shoal rps | shoal/$BASE | $BASE p99 | shoal p99 | $BASE µs/op | shoal µs/op | shoal/$BASE cpu | $BASE client µs/op | shoal client µs/op |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	} >"$out"
	for t in $BENCH_TESTS; do
		for p in $BENCH_PIPELINES; do
			if [[ $p -gt 1 ]]; then n=$BENCH_N_PIPE; else n=$BENCH_N; fi
			if [[ $t == mset && $p -gt 1 ]]; then n=$((n / BENCH_MSET_DIV)); fi
			compare_row "$out" "$row" "$t" "$p" "$n" "$BENCH_KEYSPACE" 0 "$REDIS_PORT" "$SHOAL_PORT" "$REDIS_PID" "$SHOAL_PID"
			row=$((row + 1))
		done
	done
	end_rows "$out"
}

# ---------------------------------------------------------------- types rows

# zset_key CLUSTER: the key of the zrange row: one of BENCH_ZSET_SIZE
# sorted sets (zr:N) on a single node, the set of a random slot of the
# client's node (zr:{tag}) with --cluster.
zset_key() { if [[ $1 == 1 ]]; then echo 'zr:{tag}'; else echo 'zr:__rand_int__'; fi; }

# preload_zsets WHO PORT CLUSTER OUT: the zrange row's sorted sets: random
# ZADDs of scores and members (m:N) of -r BENCH_ZSET_SIZE; single node,
# 3 x SIZE x SIZE of them (each set gets ~95% of the SIZE members), in the
# cluster BENCH_CLUSTER_ZSET_N over the 16384 sets.
preload_zsets() {
	local who=$1 port=$2 cluster=$3 out=$4 n
	if [[ $cluster == 1 ]]; then n=$BENCH_CLUSTER_ZSET_N; else n=$((3 * BENCH_ZSET_SIZE * BENCH_ZSET_SIZE)); fi
	preload "$who" "$port" "$BENCH_ZSET_SIZE" "$n" "$cluster" "$out" zadd-zr \
		ZADD "$(zset_key "$cluster")" __rand_int__ 'm:__rand_int__'
}

# has_test TEST TESTS: whether the word TEST is in the list TESTS.
has_test() { [[ " $2 " == *" $1 "* ]]; }

# load_script WHO PORT...: SCRIPT LOAD BENCH_SCRIPT on every port (each
# node of a Redis Cluster has its own script cache) and set
# BENCH_SCRIPT_SHA.
load_script() {
	local who=$1 port
	BENCH_SCRIPT_SHA=$(printf '%s' "$BENCH_SCRIPT" | sha1sum | cut -d' ' -f1)
	for port in "${@:2}"; do
		record 1 "$REDIS_CLI" -p "$port" SCRIPT LOAD "$BENCH_SCRIPT"
		[[ $(cli "$port" SCRIPT LOAD "$BENCH_SCRIPT" | tr -d '\r') == "$BENCH_SCRIPT_SHA" ]] ||
			log "WARNING: SCRIPT LOAD on $who port $port did not answer $BENCH_SCRIPT_SHA"
	done
}

# rows_types OUT: the data-type commands on a single node, as rows_ops: a
# hash of BENCH_KEYSPACE fields preloaded with -t hset (and the zrange
# row's sorted sets), then each test.
rows_types() {
	local out=$1 t p n ks row=0
	SECTION="data types, single node: fresh servers; preload a hash and sorted sets, then each row against both (order alternates)"
	start_redis
	start_shoal
	: >"$out.notes"
	preload redis "$REDIS_PORT" "$BENCH_KEYSPACE" $((BENCH_KEYSPACE * 10)) 0 "$out.notes" hset
	preload shoal "$SHOAL_PORT" "$BENCH_KEYSPACE" $((BENCH_KEYSPACE * 10)) 0 "$out.notes" hset
	if has_test zrange "$BENCH_TYPE_TESTS"; then
		preload_zsets redis "$REDIS_PORT" 0 "$out.notes"
		preload_zsets shoal "$SHOAL_PORT" 0 "$out.notes"
	fi
	load_script redis "$REDIS_PORT"
	load_script shoal "$SHOAL_PORT"
	{
		echo "### Data types (single node)"
		echo
		echo "-c $BENCH_CLIENTS, -r $BENCH_KEYSPACE, -d $BENCH_DATASIZE; N = $BENCH_N at -P 1, $BENCH_N_PIPE when pipelined. redis-benchmark's own tests write one key each (myhash, myzset, mylist, myset: every command of a row goes to one key, so to one group); HGET reads the fields of myhash; EVALSHA runs \`$BENCH_SCRIPT\` on random keys; ZRANGE reads the first 10 members of one of $BENCH_ZSET_SIZE preloaded sorted sets of up to $BENCH_ZSET_SIZE members (-r $BENCH_ZSET_SIZE). p99 in ms. Best of $BENCH_REPEAT run(s) per cell."
		cpu_note 1 1 "$BENCH_N" "$BENCH_N_PIPE" ""
		idle_note "$REDIS_PID" "$SHOAL_PID"
		echo
		echo "| test | pipeline | $BASE rps | shoal rps | shoal/$BASE | $BASE p99 | shoal p99 | $BASE µs/op | shoal µs/op | shoal/$BASE cpu | $BASE client µs/op | shoal client µs/op |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	} >"$out"
	for t in $BENCH_TYPE_TESTS; do
		ks=$BENCH_KEYSPACE
		if [[ $t == zrange ]]; then ks=$BENCH_ZSET_SIZE; fi
		for p in $BENCH_PIPELINES; do
			if [[ $p -gt 1 ]]; then n=$BENCH_N_PIPE; else n=$BENCH_N; fi
			compare_row "$out" "$row" "$t" "$p" "$n" "$ks" 0 "$REDIS_PORT" "$SHOAL_PORT" "$REDIS_PID" "$SHOAL_PID"
			row=$((row + 1))
		done
	done
	end_rows "$out"
}

# ---------------------------------------------------------------- cluster rows

# cluster_masters PORT: the master of each slot range in the CLUSTER SLOTS
# reply of the node on PORT, as "START-END=IP:PORT" words on one line.
# redis-cli prints the reply flat: per range its start and end, then per
# node ip, port, id and a (possibly empty) metadata map; the first node of a
# range is its master.
cluster_masters() {
	cli "$1" cluster slots 2>/dev/null | tr -d '\r' | awk '
		NF == 0 { next }
		ip != "" { if (want) { printf "%s=%s:%s ", range, ip, $0; want = 0 } ip = ""; next }
		/^[0-9]+$/ && length($0) < 40 { if (bound) { range = range "-" $0; want = 1; bound = 0 } else { range = $0; bound = 1 } next }
		/^[0-9.]+$/ || /:/ { ip = $0; next }
	'
}

cluster_state() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | awk -F: '$1 == "cluster_state" { print $2 }'; }

# start_redis_cluster: 6 redis-server in cluster mode, joined by
# redis-cli --cluster create into 3 masters with a replica each. Sets
# RC_PORTS and RC_PIDS.
start_redis_cluster() {
	if [[ -n $BENCH_BASELINE_BIN ]]; then
		start_shoal_cluster "$BENCH_BASELINE_BIN" baseline
		RC_PORTS=("${SC_PORTS[@]}") RC_PIDS=("${SC_PIDS[@]}")
		return 0
	fi
	local try i p pid dir ok
	local -a cmd pids addrs
	for try in 1 2 3; do
		dir="$WORK/redis-cluster"
		rm -rf "$dir"
		mkdir -p "$dir"
		: >"$WORK/pending.tsv"
		RECORD_TO="$WORK/pending.tsv"
		RC_PORTS=() pids=() addrs=()
		for i in 0 1 2 3 4 5; do
			alloc_port 1
			p=$PORT_OUT
			port_args "$p"
			if [[ ${#TLS_SERVER_ARGS[@]} -gt 0 ]]; then PORT_ARGS+=(--tls-replication yes); fi
			cmd=("$REDIS_SERVER" "${PORT_ARGS[@]}" --bind 127.0.0.1 --cluster-enabled yes
				--cluster-config-file "$dir/nodes-$p.conf" --dir "$dir" --save "" --appendonly no --daemonize no)
			spawn redis-cluster-$i "$dir/node$i.log" "${cmd[@]}"
			record 0 "${cmd[@]}"
			RC_PORTS+=("$p") pids+=("$SPAWNED_PID") addrs+=("127.0.0.1:$p")
		done
		ok=1
		for i in 0 1 2 3 4 5; do
			wait_ready "redis cluster node $i" "${pids[$i]}" "${RC_PORTS[$i]}" "$dir/node$i.log" || ok=0
		done
		if ((ok)); then
			cmd=("$REDIS_CLI" "${TLS_ARGS[@]}" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes)
			record 0 "${cmd[@]}"
			if ! timeout 120 "${cmd[@]}" >"$dir/create.log" 2>&1; then
				log "redis-cli --cluster create failed; log $dir/create.log:"
				tail -n 20 "$dir/create.log" >&2 || true
				ok=0
			fi
		fi
		if ((ok)); then
			ok=0
			for ((i = 0; i < BENCH_CLUSTER_WAIT * 5; i++)); do
				ok=1
				for p in "${RC_PORTS[@]}"; do
					[[ $(cluster_state "$p") == ok ]] || ok=0
				done
				((ok)) && break
				sleep 0.2
			done
			((ok)) || log "redis cluster not cluster_state:ok on all nodes within ${BENCH_CLUSTER_WAIT}s"
		fi
		RECORD_TO=""
		if ((ok)); then
			cat "$WORK/pending.tsv" >>"$WORK/commands.tsv"
			RC_PIDS=("${pids[@]}")
			log "redis cluster up: ports ${RC_PORTS[*]} (pids ${pids[*]})"
			return 0
		fi
		stop_servers "${pids[@]}"
		log "redis cluster start attempt $try failed"
	done
	die "redis cluster failed to start"
}

# start_shoal_cluster: 3 Shoal nodes with --bootstrap-expect 3, joined
# through node 0's gossip port. Ready once every node reports
# cluster_state:ok, the CLUSTER SLOTS of every node names the same 3
# distinct masters, and that has not changed for BENCH_CLUSTER_SETTLE s:
# Shoal moves each group's leadership to its preferred node a second or two
# after forming, and redis-benchmark --cluster stalls on the MOVED replies
# of such a move. Sets SC_PORTS and SC_PIDS.
start_shoal_cluster() { # start_shoal_cluster [BIN [NAME]]
	local bin=${1:-$SHOAL_BIN} name=${2:-shoal}
	local try i p ok g0 states masters sig m prev stable t0
	local -a cmd pids cports gports mports extra metrics
	mapfile -t extra < <(shoal_extra "$SHOAL_CLUSTER_EXTRA_ARGS")
	for try in 1 2 3; do
		: >"$WORK/pending.tsv"
		RECORD_TO="$WORK/pending.tsv"
		SC_PORTS=() pids=() cports=() gports=() mports=()
		for i in 0 1 2; do
			alloc_port
			SC_PORTS+=("$PORT_OUT")
			alloc_port
			cports+=("$PORT_OUT")
			alloc_port
			gports+=("$PORT_OUT")
			alloc_port
			mports+=("$PORT_OUT")
		done
		g0=${gports[0]}
		for i in 0 1 2; do
			metrics=()
			if metrics_side "$name"; then
				metrics=(--metrics-addr "127.0.0.1:${mports[$i]}")
			fi
			port_args "${SC_PORTS[$i]}"
			cmd=("${SHOAL_ENV[@]}" "$bin" server "${PORT_ARGS[@]}" --bind 127.0.0.1 --bootstrap-expect 3
				--join "127.0.0.1:$g0" --cluster-port "${cports[$i]}" --gossip-port "${gports[$i]}" "${metrics[@]}" "${extra[@]}")
			spawn $name-cluster-$i "$WORK/$name-cluster-node$i.log" "${cmd[@]}"
			record 0 "${cmd[@]}"
			pids+=("$SPAWNED_PID")
		done
		ok=1
		for i in 0 1 2; do
			wait_ready "shoal cluster node $i" "${pids[$i]}" "${SC_PORTS[$i]}" "$WORK/$name-cluster-node$i.log" || ok=0
		done
		if ((ok)); then
			ok=0 stable=0 prev="" t0=$SECONDS
			while ((SECONDS - t0 < BENCH_CLUSTER_WAIT)); do
				states="" sig="" m=""
				for p in "${SC_PORTS[@]}"; do
					states+="$(cluster_state "$p") "
					m=$(cluster_masters "$p")
					if [[ -z $sig ]]; then sig=$m; elif [[ $m != "$sig" ]]; then sig="differ"; fi
				done
				masters=$(printf '%s' "$sig" | tr ' ' '\n' | sed -n 's/^[0-9-]*=//p' | sort -u | wc -l)
				if [[ $states == "ok ok ok " && $sig != differ && $masters -eq 3 ]]; then
					if [[ $sig == "$prev" ]]; then stable=$((stable + 1)); else stable=0 prev=$sig; fi
					if ((stable >= BENCH_CLUSTER_SETTLE * 5)); then
						ok=1
						break
					fi
				else
					stable=0 prev=""
				fi
				for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
				sleep 0.2
			done
			if ((ok)); then
				log "shoal cluster up after $((SECONDS - t0))s (masters ${sig}unchanged for ${BENCH_CLUSTER_SETTLE}s): ports ${SC_PORTS[*]} (pids ${pids[*]})"
			else
				log "shoal cluster not ready within ${BENCH_CLUSTER_WAIT}s: cluster_state per node: $states; masters: $sig"
				for i in 0 1 2; do
					log "shoal cluster node $i log:"
					tail -n 15 "$WORK/$name-cluster-node$i.log" >&2 || true
				done
			fi
		fi
		RECORD_TO=""
		if ((ok)); then
			cat "$WORK/pending.tsv" >>"$WORK/commands.tsv"
			SC_PIDS=("${pids[@]}")
			SC_MPORTS=()
			if metrics_side "$name"; then SC_MPORTS=("${mports[@]}"); fi
			if metrics_side "$name" && [[ ${BENCH_SCRAPE:-1} == 1 ]]; then
				start_scraper "${mports[@]}"
			fi
			return 0
		fi
		stop_servers "${pids[@]}"
		log "shoal cluster start attempt $try failed"
	done
	die "shoal cluster failed to start"
}

# metrics_side NAME: whether the cluster NAME (shoal or baseline) serves
# metrics (SHOAL_METRICS).
metrics_side() {
	[[ ($SHOAL_METRICS == 1 && $1 == shoal) || ($SHOAL_METRICS == baseline && $1 == baseline) ]]
}

# start_scraper PORT...: read http://127.0.0.1:PORT/metrics of every port
# once a second (as Prometheus would), until cleanup stops it. Bash's
# /dev/tcp: no curl needed.
start_scraper() {
	# shellcheck disable=SC2016 # expanded by the child bash
	spawn metrics-scraper "$WORK/scraper.log" bash -c '
		while :; do
			for p in "$@"; do
				if exec 3<>"/dev/tcp/127.0.0.1/$p"; then
					printf "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
					n=$(wc -c <&3)
					exec 3<&-
					echo "$(date +%T) $p $n bytes"
				fi
			done
			sleep 1
		done' scraper "$@"
	log "scraping /metrics of ports $* every second (pid $SPAWNED_PID)"
}

rows_cluster() {
	local out=$1 t p n row=0 ks=$BENCH_CLUSTER_KEYSPACE
	SECTION="cluster${TLS_LABEL}: Redis Cluster (3 masters + 3 replicas) and Shoal (3 nodes); preload, then each row against both (order alternates); PORT = node 0"
	start_redis_cluster
	start_shoal_cluster
	: >"$out.notes"
	preload redis-cluster "${RC_PORTS[0]}" "$ks" $((ks * 3)) 1 "$out.notes"
	preload shoal-cluster "${SC_PORTS[0]}" "$ks" $((ks * 3)) 1 "$out.notes"
	{
		if [[ -n $BENCH_BASELINE_BIN ]]; then
			echo "### Cluster${TLS_LABEL}: baseline Shoal vs Shoal (3 nodes each, 3 groups of 3 replicas)"
		else
			echo "### Cluster${TLS_LABEL}: Redis Cluster (3 masters + 3 replicas) vs Shoal (3 nodes, 3 groups of 3 replicas)"
		fi
		echo
		echo "redis-benchmark --cluster against node 0; -c $BENCH_CLIENTS, -r $ks, -d $BENCH_DATASIZE; N = $BENCH_CLUSTER_N at -P 1, $BENCH_CLUSTER_N_PIPE when pipelined. p99 in ms. Best of $BENCH_REPEAT run(s) per cell. Both clusters run on this one machine, so all $((${#RC_PIDS[@]} + ${#SC_PIDS[@]})) server processes share its cores with redis-benchmark."
		cpu_note "${#RC_PIDS[@]}" "${#SC_PIDS[@]}" "$BENCH_CLUSTER_N" "$BENCH_CLUSTER_N_PIPE"
		idle_note "${RC_PIDS[*]}" "${SC_PIDS[*]}"
		if [[ $SHOAL_METRICS == 1 ]]; then
			echo
			echo "The shoal side serves Prometheus metrics (--metrics-addr) and a scraper reads every node's /metrics once a second throughout; the $BASE side runs without metrics."
		elif [[ $SHOAL_METRICS == baseline ]]; then
			echo
			echo "Swapped: the $BASE side serves Prometheus metrics (--metrics-addr) and a scraper reads every node's /metrics once a second throughout; the shoal side runs without metrics."
		fi
		echo
		echo "| test | pipeline | $BASE-cluster rps | shoal rps | shoal/$BASE | $BASE p99 | shoal p99 | $BASE µs/op | shoal µs/op | shoal/$BASE cpu | $BASE client µs/op | shoal client µs/op |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	} >"$out"
	for t in $BENCH_CLUSTER_TESTS; do
		for p in $BENCH_CLUSTER_PIPELINES; do
			if [[ $p -gt 1 ]]; then n=$BENCH_CLUSTER_N_PIPE; else n=$BENCH_CLUSTER_N; fi
			compare_row "$out" "$row" "$t" "$p" "$n" "$ks" 1 "${RC_PORTS[0]}" "${SC_PORTS[0]}" "${RC_PIDS[*]}" "${SC_PIDS[*]}"
			row=$((row + 1))
		done
	done
	end_rows "$out"
}

# ---------------------------------------------------------- types-cluster rows

# rows_types_cluster OUT: the types rows against both clusters (started as
# the cluster rows start them) with redis-benchmark --cluster: every key
# holds {tag}, a random slot of the client's node per request, so the
# commands of a row spread over all slots (and Shoal's 3 groups); the hash
# (myhash{tag}) and the sorted sets (zr:{tag}) are one per slot.
rows_types_cluster() {
	local out=$1 t p n ks row=0
	SECTION="data types, cluster: Redis Cluster (3 masters + 3 replicas) and Shoal (3 nodes); preload hashes and sorted sets, then each row against both (order alternates); PORT = node 0"
	start_redis_cluster
	start_shoal_cluster
	: >"$out.notes"
	preload redis-cluster "${RC_PORTS[0]}" "$BENCH_CLUSTER_KEYSPACE" $((BENCH_CLUSTER_KEYSPACE * 3)) 1 "$out.notes" hset
	preload shoal-cluster "${SC_PORTS[0]}" "$BENCH_CLUSTER_KEYSPACE" $((BENCH_CLUSTER_KEYSPACE * 3)) 1 "$out.notes" hset
	if has_test zrange "$BENCH_CLUSTER_TYPE_TESTS"; then
		preload_zsets redis-cluster "${RC_PORTS[0]}" 1 "$out.notes"
		preload_zsets shoal-cluster "${SC_PORTS[0]}" 1 "$out.notes"
	fi
	load_script redis-cluster "${RC_PORTS[@]}"
	load_script shoal-cluster "${SC_PORTS[@]}"
	{
		if [[ -n $BENCH_BASELINE_BIN ]]; then
			echo "### Data types, cluster: baseline Shoal vs Shoal (3 nodes each, 3 groups of 3 replicas)"
		else
			echo "### Data types, cluster: Redis Cluster (3 masters + 3 replicas) vs Shoal (3 nodes, 3 groups of 3 replicas)"
		fi
		echo
		echo "redis-benchmark --cluster against node 0; -c $BENCH_CLIENTS, -r $BENCH_CLUSTER_KEYSPACE, -d $BENCH_DATASIZE; N = $BENCH_CLUSTER_TYPE_N at -P 1, $BENCH_CLUSTER_N_PIPE when pipelined. Every key holds redis-benchmark's {tag}, replaced per request by a hash tag of a random slot of the client's node: one hash, zset, list, set per slot (myhash{tag}...), EVALSHA's keys key:{tag}:N. HGET reads fields written by a preload of $((BENCH_CLUSTER_KEYSPACE * 3)) HSETs over all slots' hashes, so most miss (alike on both sides); ZRANGE reads the first 10 members of a slot's sorted set zr:{tag}, preloaded with $BENCH_CLUSTER_ZSET_N ZADDs (about $((BENCH_CLUSTER_ZSET_N / 16384)) per set, members of -r $BENCH_ZSET_SIZE). p99 in ms. Best of $BENCH_REPEAT run(s) per cell. Both clusters run on this one machine, so all $((${#RC_PIDS[@]} + ${#SC_PIDS[@]})) server processes share its cores with redis-benchmark."
		cpu_note "${#RC_PIDS[@]}" "${#SC_PIDS[@]}" "$BENCH_CLUSTER_TYPE_N" "$BENCH_CLUSTER_N_PIPE"
		idle_note "${RC_PIDS[*]}" "${SC_PIDS[*]}"
		echo
		echo "| test | pipeline | $BASE-cluster rps | shoal rps | shoal/$BASE | $BASE p99 | shoal p99 | $BASE µs/op | shoal µs/op | shoal/$BASE cpu | $BASE client µs/op | shoal client µs/op |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	} >"$out"
	PER_SLOT=1
	for t in $BENCH_CLUSTER_TYPE_TESTS; do
		ks=$BENCH_CLUSTER_KEYSPACE
		if [[ $t == zrange ]]; then ks=$BENCH_ZSET_SIZE; fi
		for p in $BENCH_CLUSTER_PIPELINES; do
			if [[ $p -gt 1 ]]; then n=$BENCH_CLUSTER_N_PIPE; else n=$BENCH_CLUSTER_TYPE_N; fi
			compare_row "$out" "$row" "$t" "$p" "$n" "$ks" 1 "${RC_PORTS[0]}" "${SC_PORTS[0]}" "${RC_PIDS[*]}" "${SC_PIDS[*]}"
			row=$((row + 1))
		done
	done
	PER_SLOT=0
	end_rows "$out"
}

# ---------------------------------------------------------------- proxy rows

# rows_proxy OUT: a 3-node Shoal; each row runs redis-benchmark --cluster
# against the nodes (the "direct" side, in compare_row's redis columns) and
# redis-benchmark without --cluster through `shoal proxy` (the shoal
# columns). The proxy side's CPU is the nodes' plus the proxy's.
rows_proxy() {
	local out=$1 t p n row=0 ks=$BENCH_CLUSTER_KEYSPACE proxy_port proxy_pid
	SECTION="proxy: Shoal (3 nodes) directly with --cluster, and through shoal proxy without; preload, then each row against both (order alternates); PORT = node 0 or the proxy"
	start_shoal_cluster
	alloc_port
	proxy_port=$PORT_OUT
	local -a cmd=("${SHOAL_ENV[@]}" "$SHOAL_BIN" proxy --listen "127.0.0.1:$proxy_port" --cluster "127.0.0.1:${SC_PORTS[0]},127.0.0.1:${SC_PORTS[1]},127.0.0.1:${SC_PORTS[2]}")
	spawn shoal-proxy "$WORK/shoal-proxy.log" "${cmd[@]}"
	record 0 "${cmd[@]}"
	proxy_pid=$SPAWNED_PID
	wait_ready "shoal proxy" "$proxy_pid" "$proxy_port" "$WORK/shoal-proxy.log" || die "shoal proxy did not start"
	: >"$out.notes"
	preload shoal-cluster "${SC_PORTS[0]}" "$ks" $((ks * 3)) 1 "$out.notes"
	{
		echo "### Proxy: Shoal (3 nodes, 3 groups of 3 replicas) with redis-benchmark --cluster vs through shoal proxy"
		echo
		echo "direct: redis-benchmark --cluster against node 0; proxy: redis-benchmark (no --cluster) against shoal proxy. -c $BENCH_CLIENTS, -r $ks, -d $BENCH_DATASIZE; N = $BENCH_CLUSTER_N at -P 1, $BENCH_CLUSTER_N_PIPE when pipelined. p99 in ms. Best of $BENCH_REPEAT run(s) per cell. Target: proxy/direct rps at least 0.70 (issue 10)."
		echo "CPU µs/op: user+system time of the 3 nodes (direct) and of the 3 nodes plus the proxy (proxy), from /proc/PID/stat, over each run's N requests."
		client_note
		echo
		echo "| test | pipeline | direct rps | proxy rps | proxy/direct | direct p99 | proxy p99 | direct µs/op | proxy µs/op | proxy/direct cpu | direct client µs/op | proxy client µs/op |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	} >"$out"
	for t in $BENCH_CLUSTER_TESTS; do
		for p in $BENCH_CLUSTER_PIPELINES; do
			if [[ $p -gt 1 ]]; then n=$BENCH_CLUSTER_N_PIPE; else n=$BENCH_CLUSTER_N; fi
			compare_row "$out" "$row" "$t" "$p" "$n" "$ks" 1 "${SC_PORTS[0]}" "$proxy_port" "${SC_PIDS[*]}" "${SC_PIDS[*]} $proxy_pid" 0
			row=$((row + 1))
		done
	done
	end_rows "$out"
}

# ---------------------------------------------------------- stability rows

# scrape_sum METRIC PORT...: the sum over the nodes' /metrics of every
# sample of METRIC (all label sets), through bash's /dev/tcp; fails when a
# node does not answer.
scrape_sum() {
	local metric=$1 p sum=0 v
	shift
	for p in "$@"; do
		v=$( (exec 3<>"/dev/tcp/127.0.0.1/$p" &&
			printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
			cat <&3) | awk -v m="$metric" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d", s }') || return 1
		sum=$((sum + v))
	done
	echo "$sum"
}

# rows_stability OUT: issue 9's "zero leader changes in a 5-minute
# benchmark run without faults". A 3-node Shoal serving /metrics, under
# BENCH_STABILITY_SECONDS of load cycles (see the usage above); the leader
# changes of all groups, summed over the nodes, before and after, and the
# "failed to contact" warnings logged meanwhile (a leader that has not
# heard from a follower for LeaderLeaseTimeout: the step before a lost
# leadership). Writes the bound's figures to OUT.bound for issue9_bounds.
rows_stability() {
	local out=$1 ks=$BENCH_CLUSTER_KEYSPACE c0 c1 w0 w1 cycles=0 t0 i
	SECTION="stability: Shoal (3 nodes, serving /metrics); cycles of load and pauses for BENCH_STABILITY_SECONDS ($BENCH_STABILITY_SECONDS s); PORT = node 0"
	local SHOAL_METRICS=1 BENCH_SCRAPE=0
	start_shoal_cluster
	[[ ${#SC_MPORTS[@]} -eq 3 ]] || die "stability: the Shoal cluster serves no /metrics"
	local -a logs=()
	for i in 0 1 2; do logs+=("$WORK/shoal-cluster-node$i.log"); done
	c0=$(scrape_sum shoal_group_raft_leader_changes_total "${SC_MPORTS[@]}") || die "stability: /metrics did not answer"
	w0=$(cat "${logs[@]}" | grep -c 'failed to contact' || true)
	local -a burst=("$REDIS_BENCHMARK" --cluster -h 127.0.0.1 -p "${SC_PORTS[0]}" -t set -n "$BENCH_CLUSTER_N_PIPE" -P 16 -c "$BENCH_CLIENTS" -r "$ks" -d "$BENCH_DATASIZE" -q)
	local -a rows=("$REDIS_BENCHMARK" --cluster -h 127.0.0.1 -p "${SC_PORTS[0]}" -t set,get -n "$BENCH_STABILITY_N" -P 1 -c "$BENCH_CLIENTS" -r "$ks" -d "$BENCH_DATASIZE" -q)
	record 1 "${burst[@]}"
	record 1 sleep 3
	record 1 "${rows[@]}"
	record 1 sleep 3
	log "stability: load cycles for ${BENCH_STABILITY_SECONDS}s"
	t0=$SECONDS
	while ((SECONDS - t0 < BENCH_STABILITY_SECONDS)); do
		timeout "$BENCH_TIMEOUT" "${burst[@]}" >>"$WORK/stability-bench.log" 2>&1 || log "stability: a SET -P 16 run failed (see $WORK/stability-bench.log)"
		sleep 3
		timeout "$BENCH_TIMEOUT" "${rows[@]}" >>"$WORK/stability-bench.log" 2>&1 || log "stability: a -P 1 run failed (see $WORK/stability-bench.log)"
		sleep 3
		cycles=$((cycles + 1))
	done
	check_alive
	c1=$(scrape_sum shoal_group_raft_leader_changes_total "${SC_MPORTS[@]}") || die "stability: /metrics did not answer"
	w1=$(cat "${logs[@]}" | grep -c 'failed to contact' || true)
	{
		echo "### Stability: leader changes under load (Shoal, 3 nodes, 3 groups of 3 replicas)"
		echo
		echo "$cycles cycle(s) in $((SECONDS - t0)) s of: redis-benchmark --cluster SET -P 16 ($BENCH_CLUSTER_N_PIPE requests), a 3 s pause, SET and GET -P 1 ($BENCH_STABILITY_N each), a 3 s pause; -c $BENCH_CLIENTS, -r $ks, -d $BENCH_DATASIZE. No fault injected."
		echo
		echo "| measure | before | after | during the load |"
		echo "|---|---:|---:|---:|"
		echo "| leader changes, all groups (sum of shoal_group_raft_leader_changes_total over the nodes) | $c0 | $c1 | $((c1 - c0)) |"
		echo "| \"failed to contact\" warnings in the nodes' logs | $w0 | $w1 | $((w1 - w0)) |"
		echo
	} >"$out"
	echo "$((c1 - c0)) $((SECONDS - t0))" >"$out.bound"
	stop_servers
}

# ---------------------------------------------------------------- tls rows

# rows_tls OUT: the cluster rows with TLS on every connection: a CA and one
# certificate (for 127.0.0.1, used by every server and by the client) made
# with openssl; both clusters TLS-only (--port 0 --tls-port, --tls-cluster
# yes: Redis's bus and Shoal's cluster port are mutual TLS; Redis's
# replication too), redis-benchmark --tls with the client certificate.
rows_tls() {
	local out=$1 dir="$WORK/tls"
	need openssl "apt-get install openssl"
	mkdir -p "$dir"
	SECTION="tls: certificates"
	local -a ca=(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 -subj /CN=bench-ca)
	local -a csr=(openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/node.key" -out "$dir/node.csr" -subj /CN=127.0.0.1)
	local -a sign=(openssl x509 -req -in "$dir/node.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/node.crt" -days 2)
	record 0 "${ca[@]}"
	"${ca[@]}" >"$dir/openssl.log" 2>&1 || die "openssl failed; see $dir/openssl.log"
	record 0 "${csr[@]}"
	"${csr[@]}" >>"$dir/openssl.log" 2>&1 || die "openssl failed; see $dir/openssl.log"
	record 0 "${sign[@]}"
	"${sign[@]}" >>"$dir/openssl.log" 2>&1 || die "openssl failed; see $dir/openssl.log"
	TLS_ARGS=(--tls --cacert "$dir/ca.crt" --cert "$dir/node.crt" --key "$dir/node.key")
	TLS_SERVER_ARGS=(--tls-cluster yes --tls-cert-file "$dir/node.crt" --tls-key-file "$dir/node.key" --tls-ca-cert-file "$dir/ca.crt")
	TLS_LABEL=" with TLS"
	rows_cluster "$out"
	TLS_ARGS=() TLS_SERVER_ARGS=() TLS_LABEL=""
}

# ---------------------------------------------------------------- main

main() {
	local sets=("$@") s do_ops=0 do_mem=0 do_cluster=0 do_proxy=0 do_tls=0 do_types=0 do_types_cluster=0 do_stability=0
	[[ ${#sets[@]} -gt 0 ]] || sets=(all)
	for s in "${sets[@]}"; do
		case $s in
		ops) do_ops=1 ;;
		types) do_types=1 ;;
		types-cluster) do_types_cluster=1 ;;
		memory | mem) do_mem=1 ;;
		cluster) do_cluster=1 ;;
		proxy) do_proxy=1 ;;
		tls) do_tls=1 ;;
		stability) do_stability=1 ;;
		all) do_ops=1 do_mem=1 do_cluster=1 do_proxy=1 do_types=1 do_types_cluster=1 do_stability=1 ;;
		-h | --help | help)
			sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
			return 0
			;;
		*) die "unknown row set '$s' (want memory, ops, types, types-cluster, cluster, proxy, tls, stability or all)" ;;
		esac
	done

	local load_start started=$SECONDS
	load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

	need "$REDIS_SERVER" "apt-get install redis-server"
	need "$REDIS_BENCHMARK" "apt-get install redis-tools"
	need "$REDIS_CLI" "apt-get install redis-tools"
	need timeout
	need getconf
	CLK_TCK=$(getconf CLK_TCK)
	[[ $CLK_TCK =~ ^[1-9][0-9]*$ ]] || die "getconf CLK_TCK printed '$CLK_TCK'"
	[[ -x $SHOAL_BIN ]] || die "Shoal binary $SHOAL_BIN not found or not executable (run make build, or set SHOAL_BIN)"

	[[ $BENCH_GOMAXPROCS =~ ^[0-9]*$ ]] || die "BENCH_GOMAXPROCS is '$BENCH_GOMAXPROCS', not a number"
	shoal_env
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-bench.XXXXXX")
	mkdir -p "$BENCH_RESULTS_DIR"
	: >"$WORK/commands.tsv"

	if [[ -n $BENCH_BASELINE_BIN ]]; then
		[[ -x $BENCH_BASELINE_BIN ]] || die "baseline binary $BENCH_BASELINE_BIN not found or not executable"
		if ((do_mem)); then log "BENCH_BASELINE_BIN: skipping the memory rows"; fi
		do_mem=0
	fi
	if ((do_mem)); then
		need "$GO" "needed to build bench/loadkeys"
		SECTION="memory: build the key loader"
		local -a build=("$GO" build -o "$WORK/loadkeys" ./bench/loadkeys)
		record 0 "${build[@]}"
		(cd "$ROOT" && "${build[@]}") || die "building bench/loadkeys failed"
		rows_memory distinct "$WORK/memory-distinct.md"
		rows_memory churn "$WORK/memory-churn.md"
	fi
	if ((do_ops)); then rows_ops "$WORK/ops.md"; fi
	if ((do_types)); then rows_types "$WORK/types.md"; fi
	if ((do_types_cluster)); then rows_types_cluster "$WORK/types-cluster.md"; fi
	if ((do_cluster)); then rows_cluster "$WORK/cluster.md"; fi
	if ((do_proxy)); then rows_proxy "$WORK/proxy.md"; fi
	if ((do_tls)); then rows_tls "$WORK/tls.md"; fi
	if ((do_stability)); then rows_stability "$WORK/stability.md"; fi

	local rev cpu ts load_end
	load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then rev="$rev (dirty)"; fi
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
	ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	local result="$WORK/result.md"
	{
		if [[ -n $BENCH_BASELINE_BIN ]]; then echo "## Shoal vs baseline Shoal, $ts"; else echo "## Shoal vs Redis, $ts"; fi
		echo
		echo "- machine: nproc $(nproc), $cpu, $(uname -sr)"
		echo "- load average (1/5/15 min) at start: $load_start; at end: $load_end"
		echo "- shoal: \`$SHOAL_BIN\` at $rev, GOMAXPROCS ${BENCH_GOMAXPROCS:-0} (0: Go's default, the CPUs)"
		if [[ -n $BENCH_BASELINE_BIN ]]; then
			echo "- baseline (in the redis columns' place): \`$BENCH_BASELINE_BIN\`${BENCH_BASELINE_REV:+ at $BENCH_BASELINE_REV}"
		else
			echo "- redis: $("$REDIS_SERVER" --version 2>/dev/null | head -n 1 || echo unknown)"
		fi
		echo "- duration: $((SECONDS - started))s"
		echo "- clock ticks of /proc/PID/stat (CPU columns): CLK_TCK $CLK_TCK, $(awk -v hz="$CLK_TCK" 'BEGIN { printf "%g", 1000 / hz }') ms each"
		echo
		echo "Commands, in the order they first ran (repeats omitted). \$PORT is the port of the server"
		echo "being measured (a free loopback port per server, chosen per run; for the cluster rows node 0),"
		echo "\$WORK the run's temporary directory."
		echo
		echo '```sh'
		render_commands
		echo '```'
		echo
		local f
		for f in memory-distinct memory-churn ops types types-cluster cluster proxy tls stability; do
			if [[ -f $WORK/$f.md ]]; then cat "$WORK/$f.md"; fi
		done
		if [[ -z $BENCH_BASELINE_BIN ]]; then issue9_bounds; fi
	} >"$result"

	cp "$result" "$BENCH_RESULTS_DIR/latest.md"
	cp "$result" "$BENCH_RESULTS_DIR/$(date -u +%Y%m%d-%H%M%S).md"
	echo
	cat "$result"
	log "written to $BENCH_RESULTS_DIR/latest.md"
	local errs
	errs=$(grep -c -e '| ERR |' -e '^Note: the preload' "$result" || true)
	if [[ $errs -gt 0 ]]; then
		log "$errs row(s) or preload(s) had benchmark errors; logs in $WORK"
		return 1
	fi
}

main "$@"
