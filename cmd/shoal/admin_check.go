// The check subcommand: every slot covered, one master per range, one epoch.

package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/shoalcache/shoal/internal/slotranges"
)

// ---- check ----

// nodeView is what one node reported to `cluster check`.
type nodeView struct {
	Addr  string      `json:"addr"`
	ID    string      `json:"id"`
	Error string      `json:"error,omitempty"` // unreachable, or a command failed
	Slots []slotEntry `json:"-"`
	Info  infoFields  `json:"info,omitempty"`
}

// checkResult is the outcome of one check; Details explain a failure.
type checkResult struct {
	Name    string   `json:"name"`
	OK      bool     `json:"ok"`
	Details []string `json:"details,omitempty"`
}

type checkJSON struct {
	OK     bool          `json:"ok"`
	Checks []checkResult `json:"checks"`
	Nodes  []nodeView    `json:"nodes"`
}

// gatherViews asks every node of the listing, concurrently, for CLUSTER
// SLOTS and CLUSTER INFO. The node flagged myself is reached at o.addr.
func gatherViews(ctx context.Context, o adminOpts, nodes []clusterNode) []nodeView {
	views := make([]nodeView, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		addr, ok := n.dialAddr(o.addr)
		if n.hasFlag("myself") {
			addr, ok = o.addr, true
		}
		views[i] = nodeView{Addr: addr, ID: n.ID}
		if !ok {
			views[i].Addr = n.Addr
			views[i].Error = "no address known for this node"
			continue
		}
		wg.Add(1)
		go func(v *nodeView) {
			defer wg.Done()
			v.Slots, v.Info, v.Error = queryView(ctx, o, v.Addr)
		}(&views[i])
	}
	wg.Wait()
	sort.SliceStable(views, func(i, j int) bool { return views[i].Addr < views[j].Addr })
	return views
}

func queryView(ctx context.Context, o adminOpts, addr string) ([]slotEntry, infoFields, string) {
	ctx, cancel := context.WithTimeout(ctx, 3*o.timeout)
	defer cancel()
	c, err := adminDial(ctx, o, addr)
	if err != nil {
		return nil, nil, err.Error()
	}
	defer c.Close()
	slots, err := querySlots(ctx, c, addr)
	if err != nil {
		return nil, nil, err.Error()
	}
	text, err := doText(ctx, c, addr, "CLUSTER", "INFO")
	if err != nil {
		return nil, nil, err.Error()
	}
	return slots, parseClusterInfo(text), ""
}

// evaluateChecks runs every check on the nodes' views.
func evaluateChecks(views []nodeView) []checkResult {
	var ok []nodeView
	reach := checkResult{Name: fmt.Sprintf("all %d nodes reachable", len(views)), OK: true}
	for _, v := range views {
		if v.Error != "" {
			reach.OK = false
			reach.Details = append(reach.Details, fmt.Sprintf("%s (%s): %s", v.Addr, shortID(v.ID), v.Error))
		} else {
			ok = append(ok, v)
		}
	}
	results := []checkResult{reach, checkCoverage(ok), checkMasters(ok), checkEpochs(ok), checkState(ok)}
	for i := 1; i < len(results); i++ {
		if len(ok) == 0 {
			results[i].OK = false
			results[i].Details = append(results[i].Details, "no node answered")
		}
	}
	return results
}

// slotMasters maps each slot to the id of its master in one node's CLUSTER
// SLOTS ("" when uncovered), and lists the slots that appear more than once.
func slotMasters(slots []slotEntry) (owners [numSlots]string, dups []int) {
	for _, e := range slots {
		for s := e.Start; s <= e.End; s++ {
			if owners[s] != "" {
				dups = append(dups, s)
			}
			owners[s] = e.Master.ID
		}
	}
	return owners, dups
}

// ranges collapses sorted slot numbers into ranges.
func ranges(slots []int) []slotRange {
	var out []slotRange
	for _, r := range slotranges.Collapse(slots) {
		out = append(out, slotRange{r[0], r[1]})
	}
	return out
}

func rangesText(rs []slotRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// checkCoverage: every node's CLUSTER SLOTS covers all 16384 slots.
func checkCoverage(views []nodeView) checkResult {
	r := checkResult{Name: fmt.Sprintf("all %d slots covered (CLUSTER SLOTS)", numSlots), OK: true}
	for _, v := range views {
		owners, _ := slotMasters(v.Slots)
		var missing []int
		for s, id := range owners {
			if id == "" {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			r.OK = false
			r.Details = append(r.Details, fmt.Sprintf("%s: %d slots without a master: %s",
				v.Addr, len(missing), rangesText(ranges(missing))))
		}
	}
	return r
}

// checkMasters: within each node's CLUSTER SLOTS a slot appears once (one
// master), and all nodes name the same master for every slot.
func checkMasters(views []nodeView) checkResult {
	r := checkResult{Name: "one master per slot, the same on every node", OK: true}
	all := make([][numSlots]string, len(views))
	for i, v := range views {
		var dups []int
		all[i], dups = slotMasters(v.Slots)
		if len(dups) > 0 {
			sort.Ints(dups)
			r.OK = false
			r.Details = append(r.Details, fmt.Sprintf("%s: slots listed in more than one range: %s",
				v.Addr, rangesText(ranges(dups))))
		}
	}
	// Group the slots on which the nodes disagree by what each node says,
	// so that a disagreement reads as one line per range.
	says := make([]string, numSlots) // "" where all nodes agree
	for s := range says {
		agree := true
		for i := 1; i < len(all); i++ {
			if all[i][s] != all[0][s] {
				agree = false
				break
			}
		}
		if agree {
			continue
		}
		parts := make([]string, len(views))
		for i, v := range views {
			id := shortID(all[i][s])
			if id == "" {
				id = "none"
			}
			parts[i] = v.Addr + " says " + id
		}
		says[s] = strings.Join(parts, ", ")
	}
	for _, sp := range slotranges.Of(says) {
		if sp.Value == "" {
			continue
		}
		r.OK = false
		r.Details = append(r.Details, fmt.Sprintf("slots %s: %s", slotRange{sp.Start, sp.End}, sp.Value))
	}
	return r
}

// groupBy lists "value on addr, addr; value on addr" for a CLUSTER INFO
// field, and how many distinct values there are.
func groupBy(views []nodeView, key string) (string, int) {
	by := map[string][]string{}
	var order []string
	for _, v := range views {
		val := infoValue(v.Info, key)
		if val == "" {
			val = "(missing)"
		}
		if _, seen := by[val]; !seen {
			order = append(order, val)
		}
		by[val] = append(by[val], v.Addr)
	}
	parts := make([]string, len(order))
	for i, val := range order {
		parts[i] = val + " on " + strings.Join(by[val], ", ")
	}
	return strings.Join(parts, "; "), len(order)
}

// checkEpochs: every node reports the same cluster_current_epoch.
func checkEpochs(views []nodeView) checkResult {
	r := checkResult{Name: "same cluster_current_epoch on every node", OK: true}
	if text, n := groupBy(views, "cluster_current_epoch"); n > 1 {
		r.OK = false
		r.Details = append(r.Details, "cluster_current_epoch differs: "+text)
	}
	return r
}

// checkState: every node reports cluster_state:ok.
func checkState(views []nodeView) checkResult {
	r := checkResult{Name: "cluster_state:ok on every node", OK: true}
	for _, v := range views {
		if st := infoValue(v.Info, "cluster_state"); st != "ok" {
			r.OK = false
			if st == "" {
				st = "(missing)"
			}
			r.Details = append(r.Details, fmt.Sprintf("%s: cluster_state:%s", v.Addr, st))
		}
	}
	return r
}

func renderCheck(w io.Writer, views []nodeView, results []checkResult) error {
	fmt.Fprintf(w, "Checked %d nodes:", len(views))
	for _, v := range views {
		fmt.Fprintf(w, " %s", v.Addr)
	}
	fmt.Fprintln(w)
	failed := 0
	for _, r := range results {
		mark := "OK  "
		if !r.OK {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "[%s] %s\n", mark, r.Name)
		for _, d := range r.Details {
			fmt.Fprintf(w, "       %s\n", d)
		}
	}
	if failed == 0 {
		_, err := fmt.Fprintln(w, "Cluster OK.")
		return err
	}
	_, err := fmt.Fprintf(w, "%d of %d checks failed.\n", failed, len(results))
	return err
}
