"""Summarize bench/netloop/run.sh results: medians, min-max spread and
ratios to redis-server per row (test, pipeline) and server."""
import statistics
import sys
from collections import defaultdict

raw, header, load = sys.argv[1:4]
runs = defaultdict(list)
servers = []
for i, line in enumerate(open(raw)):
    if i == 0:
        continue
    rnd, test, p, srv, rps, p99, cpu = line.rstrip("\n").split("\t")
    if srv not in servers:
        servers.append(srv)
    try:
        runs[(test.upper(), int(p), srv)].append((float(rps), float(p99), float(cpu)))
    except ValueError:
        pass

def cell(vals, fmt):
    med = statistics.median(vals)
    return med, f"{fmt.format(med)} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"

hdr = open(header).read().rstrip()
for line in hdr.splitlines():
    if " servers: " in line:  # the order of run.sh's SERVERS
        order = line.split(" servers: ", 1)[1].split()
        servers.sort(key=lambda s: order.index(s) if s in order else len(order))
print(hdr)
print()
print("Load average: " + "; ".join(l.strip() for l in open(load)))
print()
rows = sorted({(t, p) for t, p, _ in runs}, key=lambda r: (r[1], r[0] != "SET"))
for t, p in rows:
    print(f"### {t} -P {p}")
    print()
    print("| server | n | rps median (min-max) | p99 ms | CPU us/op | rps / redis | CPU / redis |")
    print("|---|---|---|---|---|---|---|")
    base = runs.get((t, p, "redis"))
    brps = statistics.median(r[0] for r in base) if base else None
    bcpu = statistics.median(r[2] for r in base) if base else None
    for s in servers:
        v = runs.get((t, p, s))
        if not v:
            continue
        rps, rc = cell([r[0] for r in v], "{:.0f}")
        _, pc = cell([r[1] for r in v], "{:.3f}")
        cpu, cc = cell([r[2] for r in v], "{:.2f}")
        rr = f"{rps / brps:.2f}" if brps else "-"
        cr = f"{cpu / bcpu:.2f}" if bcpu else "-"
        print(f"| {s} | {len(v)} | {rc} | {pc} | {cc} | {rr} | {cr} |")
    print()
