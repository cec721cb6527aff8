package integration

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The bank workload: accounts are the fields of one hash, and every
// transfer is a transaction that moves an amount between two of them, so
// the balances always sum to zero. A blind transfer is MULTI, HINCRBY,
// HINCRBY, EXEC; a checked one reads both balances under WATCH and writes
// the new ones with HSET in MULTI/EXEC, which is only right if EXEC aborts
// whenever another transfer changed the hash in between (a WATCH that
// missed a change would lose an update, and the sum would drift). Reads
// are HGETALL; every read, and the final read, must sum to zero.

// bankKey is the hash of the accounts; bankAccounts its fields.
const bankKey = "jb:{bank}"

var bankAccounts = []string{"a0", "a1", "a2", "a3", "a4"}

// errTxAborted records a checked transfer whose EXEC aborted (a definite
// failure: nothing was written).
var errTxAborted = errors.New("EXEC aborted: a watched key changed")

// bankOp: a blind transfer, a checked transfer or a read.
func (w *jWorker) bankOp(ctx context.Context) {
	op := jOp{Key: bankKey, Call: w.env.now()}
	i := w.rng.IntN(len(bankAccounts))
	j := (i + 1 + w.rng.IntN(len(bankAccounts)-1)) % len(bankAccounts)
	from, to := bankAccounts[i], bankAccounts[j]
	amount := int64(1 + w.rng.IntN(10))
	switch r := w.rng.IntN(10); {
	case r < 3:
		op.F, op.Value = "transfer", fmt.Sprintf("%s->%s %d", from, to, amount)
		_, err := w.cli.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HIncrBy(ctx, bankKey, from, -amount)
			p.HIncrBy(ctx, bankKey, to, amount)
			return nil
		})
		w.record(op, err)
	case r < 7:
		op.F, op.Value = "checked-transfer", fmt.Sprintf("%s->%s %d", from, to, amount)
		err := w.cli.Watch(ctx, func(tx *redis.Tx) error {
			vals, err := tx.HMGet(ctx, bankKey, from, to).Result()
			if err != nil {
				return err
			}
			a, b := bankBalance(vals[0]), bankBalance(vals[1])
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, bankKey, from, a-amount, to, b+amount)
				return nil
			})
			return err
		}, bankKey)
		if errors.Is(err, redis.TxFailedErr) {
			op.Type, op.Err = "fail", errTxAborted.Error()
			op.Workload, op.Worker, op.Process = w.workload, w.id, w.proc
			op.Return = w.env.now()
			w.ops = append(w.ops, op)
			return
		}
		w.record(op, err)
	default:
		op.F = "read"
		m, err := w.cli.HGetAll(ctx, bankKey).Result()
		op.Out = bankString(m)
		w.record(op, err)
	}
}

// bankBalance reads a balance from HMGET (a missing field is 0).
func bankBalance(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// bankString renders balances as "a0=3,a1=-3" in field order.
func bankString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// checkBank checks that every acknowledged read, and the final read, sums
// to zero, and that some transfers were acknowledged.
func checkBank(ops []jOp) (verdict, detail string) {
	var reads, transfers, finals int
	var problems []string
	for _, op := range ops {
		if op.Workload != "bank" || op.Type != "ok" {
			continue
		}
		switch op.F {
		case "transfer", "checked-transfer":
			transfers++
			continue
		case "final-read":
			finals++
		default:
			reads++
		}
		var sum int64
		for _, kv := range strings.Split(op.Out, ",") {
			if kv == "" {
				continue
			}
			_, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s at %d: bad balance %q", op.F, op.Call, kv))
			}
			sum += n
		}
		if sum != 0 && len(problems) < 5 {
			problems = append(problems, fmt.Sprintf("%s at %d: balances %s sum to %d", op.F, op.Call, op.Out, sum))
		}
	}
	switch {
	case len(problems) > 0:
		return "VIOLATION", strings.Join(problems, "; ")
	case finals == 0:
		return "unknown", "no final read"
	case transfers == 0:
		return "unknown", "no transfer acknowledged"
	}
	return "ok", fmt.Sprintf("%d acknowledged transfers; %d reads and the final read sum to 0", transfers, reads)
}
