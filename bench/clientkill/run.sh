#!/usr/bin/env bash
# bench/clientkill/run.sh - do redis-py and node-redis survive a master kill
# in Redis Cluster itself, and does phpredis's keys() cover every key after
# a failover there? Shoal's client matrix (TestClientMatrix) records
# both as failing after a leader kill; this runs the same kill against a
# real Redis Cluster (3 masters, 3 replicas, cluster-node-timeout 1000 ms)
# with the same client versions, so that the README can say whether the
# failure is the client's or Shoal's.
#
# Needs what `make test` installs (.ci/deps): redis-server, redis-cli,
# python3-redis, node and the npm clients in integration/testdata/clients/node.
# Prints one JSON line per client: the killed port, how long until a SET
# through the same client object succeeded (null: not within the wait),
# and the errors it met.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
HERE=$PWD
BASE=${CLIENTKILL_PORT:-31001}
WORK=$(mktemp -d /tmp/clientkill.XXXXXX)
ports=()
for i in 0 1 2 3 4 5; do ports+=($((BASE + i))); done
cleanup() {
	for p in "${ports[@]}"; do
		[[ -s $WORK/$p/pid ]] && kill "$(cat "$WORK/$p/pid")" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

start() {
	for p in "${ports[@]}"; do
		mkdir -p "$WORK/$p"
		(cd "$WORK/$p" && redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
			--cluster-node-timeout 1000 --save '' --appendonly no --daemonize yes --logfile log --pidfile pid)
	done
	for p in "${ports[@]}"; do
		for _ in $(seq 1 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
	done
	local addrs=()
	for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$WORK/create.log"
	for _ in $(seq 1 100); do
		redis-cli -p "$BASE" cluster info | grep -q cluster_state:ok && return 0
		sleep 0.1
	done
	echo "cluster did not form" >&2
	exit 1
}
stop() {
	for p in "${ports[@]}"; do
		[[ -s $WORK/$p/pid ]] && kill "$(cat "$WORK/$p/pid")" 2>/dev/null || true
	done
	sleep 1
	rm -rf "${WORK:?}"/*
}

# CLIENTKILL_ONLY=py|node|php runs one of the three.
only=${CLIENTKILL_ONLY:-}
if [[ -z $only || $only == py ]]; then
	start
	/usr/bin/python3 "$HERE/kill.py" "$WORK" "${ports[@]}" 2>/dev/null
	stop
fi
if [[ -z $only || $only == node ]]; then
	start
	NODE_PATH="$HERE/../../integration/testdata/clients/node/node_modules" node "$HERE/kill.js" "$WORK" "${ports[@]}"
	stop
fi
if [[ -z $only || $only == php ]]; then
	start
	php "$HERE/keys.php" "${ports[@]}"
fi
