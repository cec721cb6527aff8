#!/usr/bin/env bash
# cluster.sh BIN OUTDIR [benchargs...]: 3-node cluster, profile all nodes during SET -P1
# (a copy of /work/prof/cluster.sh with the base port in BASE, default 27000)
set -u
BIN=$1; OUT=$2; shift 2
mkdir -p $OUT; rm -f $OUT/*
B=${BASE:-27000}
for i in 0 1 2; do
  $BIN server --port $((B+i)) --bind 127.0.0.1 --bootstrap-expect 3 --join 127.0.0.1:$((B+200)) \
    --cluster-port $((B+100+i)) --gossip-port $((B+200+i)) --metrics-addr 127.0.0.1:$((B+300+i)) \
    --pprof-addr 127.0.0.1:$((B+400+i)) ${EXTRA:-} >$OUT/node$i.log 2>&1 &
  echo $! >> $OUT/pids
done
for t in $(seq 1 100); do
  ok=0; for i in 0 1 2; do redis-cli -p $((B+i)) cluster info 2>/dev/null | grep -q 'cluster_state:ok' && ok=$((ok+1)); done
  [ $ok = 3 ] && break; sleep 0.3
done
sleep 4
redis-benchmark --cluster -p $B -t set -n ${WARM:-300000} -r 100000 -d 64 -c 50 -P 1 -q >/dev/null 2>&1  # warm
for i in 0 1 2; do curl -s 127.0.0.1:$((B+300+i))/metrics > $OUT/m0-$i.txt; done
( for i in 0 1 2; do curl -s "127.0.0.1:$((B+400+i))/debug/pprof/profile?seconds=8" > $OUT/cpu$i.pprof & done; wait ) &
P=$!
t0=$(date +%s.%N)
c0=$(for p in $(cat $OUT/pids); do awk '{print $14+$15}' /proc/$p/stat; done | paste -sd+ | bc)
redis-benchmark --cluster -p $B -t ${T:-set} -n ${N:-600000} -r 100000 -d 64 -c 50 -P ${PIPE:-1} -q "$@" 2>&1 | tr '\r' '\n' | tail -2
c1=$(for p in $(cat $OUT/pids); do awk '{print $14+$15}' /proc/$p/stat; done | paste -sd+ | bc)
t1=$(date +%s.%N)
echo "cpu ticks $((c1-c0)) over $(echo "$t1-$t0"|bc) s; us/op $(echo "($c1-$c0)*10000/${N:-600000}" | bc -l)"
wait $P
for i in 0 1 2; do curl -s 127.0.0.1:$((B+300+i))/metrics > $OUT/m1-$i.txt; done
kill $(cat $OUT/pids); wait 2>/dev/null
