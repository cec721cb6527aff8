#!/usr/bin/env bash
# bench/netloop/run.sh - the network layer side by side (issue 9, point 3).
#
# Builds bin/shoal (make build) and netloop, then, for ROUNDS rounds, starts
# fresh servers on loopback ports:
#   redis        redis-server --port P --bind 127.0.0.1 --save '' --appendonly no
#   shoal        bin/shoal server --port P --bind 127.0.0.1 (standalone)
#   gor          netloop -engine goroutine          (GOMAXPROCS default)
#   gor-mp1      netloop -engine goroutine          (GOMAXPROCS=1)
#   gnet         netloop -engine gnet               (one loop per core)
#   gnet-l1      netloop -engine gnet -loops 1
#   gnet-l1-mp1  netloop -engine gnet -loops 1      (GOMAXPROCS=1)
#   evio         netloop -engine evio -loops 1
#   gor-ho       netloop -engine goroutine -handoff (writes via a committer goroutine)
#   gnet-ho      netloop -engine gnet -handoff      (writes answered by AsyncWrite)
# and, only when named in SERVERS, gor-ho-d and gnet-ho-d: the same with a
# 200 us simulated commit per group (-commit-delay 200us), and shoal-mp1:
# shoal with GOMAXPROCS=1;
# It runs the rows SET -P 1, GET -P 1, SET -P 16, GET -P 16 against each
# (redis-benchmark -t T -n N -r 100000 -d 64 -c 50 -P P --precision 3
# --csv), the servers in forward order on even rows and in reverse order on
# odd ones (the order also flips every round). For each run: rps, p99 and
# the server's CPU per request: utime+stime (/proc/PID/stat fields 14 and
# 15, in clock ticks) before and after, divided by N. The load average is
# read before every round (noted when above 1.5). Raw results go to
# $OUT/raw.tsv, the summary (medians, min-max spread, ratios to redis) to
# stdout and $OUT/summary.md.
#
# Environment: ROUNDS [3], N_P1 [1000000] and N_P16 [1000000] (requests per
# run), SERVERS (space-separated subset of the names above) [all], ROWS
# (TEST:PIPELINE words) [set:1 get:1 set:16 get:16],
# OUT [bench/netloop/results], REDIS_SERVER, REDIS_BENCHMARK.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ROUNDS=${ROUNDS:-3}
N_P1=${N_P1:-1000000}
N_P16=${N_P16:-1000000}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
ALL="redis shoal gor gor-mp1 gnet gnet-l1 gnet-l1-mp1 evio gor-ho gnet-ho"
read -ra NAMES <<<"${SERVERS:-$ALL}"
ROWS=${ROWS:-set:1 get:1 set:16 get:16}
OUT=${OUT:-$here/results}
mkdir -p "$OUT"
WORK=$(mktemp -d)
CLK_TCK=$(getconf CLK_TCK)

# shellcheck source=../lib.sh
source "$repo/bench/lib.sh" # cpu_ticks

declare -A PID PORT
cleanup() {
	local p
	for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PID[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "# $*" >&2; }

# free_port: a port P with P, P+10000 and P+20000 free (Shoal binds its
# cluster and gossip ports there).
free_port() {
	local p used
	used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)
	while :; do
		p=$((15000 + RANDOM % 15000))
		if ! grep -qxE "$p|$((p + 10000))|$((p + 20000))" <<<"$used"; then
			echo "$p"
			return
		fi
	done
}

# cmd_of NAME PORT: the command line (after an env prefix) of a server.
cmd_of() {
	local n=$1 p=$2
	local nl="$WORK/netloop -addr 127.0.0.1:$p"
	case $n in
	redis) echo "$REDIS_SERVER --port $p --bind 127.0.0.1 --save '' --appendonly no" ;;
	shoal) echo "$repo/bin/shoal server --port $p --bind 127.0.0.1" ;;
	shoal-mp1) echo "env GOMAXPROCS=1 $repo/bin/shoal server --port $p --bind 127.0.0.1" ;;
	gor) echo "$nl -engine goroutine" ;;
	gor-mp1) echo "env GOMAXPROCS=1 $nl -engine goroutine" ;;
	gnet) echo "$nl -engine gnet" ;;
	gnet-l1) echo "$nl -engine gnet -loops 1" ;;
	gnet-l1-mp1) echo "env GOMAXPROCS=1 $nl -engine gnet -loops 1" ;;
	evio) echo "$nl -engine evio -loops 1" ;;
	gor-ho) echo "$nl -engine goroutine -handoff" ;;
	gnet-ho) echo "$nl -engine gnet -handoff" ;;
	gor-ho-d) echo "$nl -engine goroutine -handoff -commit-delay 200us" ;;
	gnet-ho-d) echo "$nl -engine gnet -handoff -commit-delay 200us" ;;
	*) echo "unknown server $n" >&2; return 1 ;;
	esac
}

start_all() {
	local n p c
	for n in "${NAMES[@]}"; do
		p=$(free_port)
		c=$(cmd_of "$n" "$p")
		mkdir -p "$WORK/$n"
		# eval: the redis command holds a quoted empty argument.
		(cd "$WORK/$n" && eval "exec $c" >"$WORK/$n.log" 2>&1) &
		PID[$n]=$!
		PORT[$n]=$p
		for _ in $(seq 1 300); do
			[[ $(redis-cli -p "$p" ping 2>/dev/null) == PONG ]] && break
			kill -0 "${PID[$n]}" 2>/dev/null || { cat "$WORK/$n.log" >&2; exit 1; }
			sleep 0.1
		done
		[[ $(redis-cli -p "$p" ping 2>/dev/null) == PONG ]] || { log "$n did not start"; exit 1; }
	done
}

stop_all() {
	local n
	for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null || true; done
	for n in "${!PID[@]}"; do wait "${PID[$n]}" 2>/dev/null || true; done
	PID=()
}

# bench NAME T P N ROUND: one redis-benchmark run; appends a line to raw.tsv.
bench() {
	local n=$1 t=$2 pl=$3 num=$4 round=$5 c0 c1 csv rps p99 cpu
	c0=$(cpu_ticks "${PID[$n]}")
	csv=$("$REDIS_BENCHMARK" -h 127.0.0.1 -p "${PORT[$n]}" -t "$t" -n "$num" -r 100000 -d 64 -c 50 -P "$pl" --precision 3 --csv 2>/dev/null | tail -n 1)
	c1=$(cpu_ticks "${PID[$n]}")
	# "SET","rps","avg","min","p50","p95","p99","max"
	rps=$(awk -F'"' '{print $4}' <<<"$csv")
	p99=$(awk -F'"' '{print $14}' <<<"$csv")
	cpu=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$num" 'BEGIN{printf "%.3f", d * 1e6 / hz / n}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$t" "$pl" "$n" "$rps" "$p99" "$cpu" >>"$OUT/raw.tsv"
	log "round $round $t -P $pl $n: rps $rps p99 $p99 ms cpu $cpu us/op"
}

log "building bin/shoal and netloop"
(cd "$repo" && make build >/dev/null)
(cd "$here" && go build -o "$WORK/netloop" .)

{
	echo "# bench/netloop/run.sh at $(cd "$repo" && git rev-parse --short HEAD), $(date -u +%FT%TZ)"
	echo "# nproc $(nproc), $(redis-server --version | cut -d' ' -f1-3), $(go version | cut -d' ' -f3)"
	echo "# ROUNDS=$ROUNDS N_P1=$N_P1 N_P16=$N_P16 servers: ${NAMES[*]}"
	for n in "${NAMES[@]}"; do echo "#   $n: $(cmd_of "$n" '$PORT' | sed "s|$WORK/|\$WORK/|; s|$repo/||")"; done
	echo "#   redis-benchmark -h 127.0.0.1 -p \$PORT -t {set,get} -n {$N_P1 at -P 1,$N_P16 otherwise} -r 100000 -d 64 -c 50 -P \$P (rows: $ROWS) --precision 3 --csv"
} >"$OUT/header.txt"
cat "$OUT/header.txt" >&2
printf 'round\ttest\tP\tserver\trps\tp99_ms\tcpu_us_per_op\n' >"$OUT/raw.tsv"
: >"$OUT/load.txt"

row=0
for ((round = 1; round <= ROUNDS; round++)); do
	load=$(cut -d' ' -f1 /proc/loadavg)
	note=""
	if awk -v l="$load" 'BEGIN{exit !(l > 1.5)}'; then note=" (above 1.5)"; fi
	echo "round $round: load average $load$note before the round" | tee -a "$OUT/load.txt" >&2
	start_all
	for spec in $ROWS; do
		t=${spec%%:*} pl=${spec##*:}
		num=$N_P1
		if [[ $pl != 1 ]]; then num=$N_P16; fi
		order=("${NAMES[@]}")
		if (((row + round) % 2 == 1)); then
			order=()
			for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do order+=("${NAMES[i]}"); done
		fi
		for n in "${order[@]}"; do bench "$n" "$t" "$pl" "$num" "$round"; done
		row=$((row + 1))
	done
	stop_all
done
echo "load average at the end: $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/load.txt" >&2

python3 "$here/summarize.py" "$OUT/raw.tsv" "$OUT/header.txt" "$OUT/load.txt" | tee "$OUT/summary.md"
