// The migrate, jobs and cancel subcommands: moving hash slots between
// shard groups (SHOAL MIGRATE, JOBS, CANCEL; docs/migration.md). Any node
// takes them: the job lives in the placement map and runs on the source
// group's leader, so the CLI may exit (or crash) without stopping it.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
)

// migrateCommand is `shoal cluster migrate`.
func migrateCommand(shared []cli.Flag) *cli.Command {
	flags := append(append([]cli.Flag(nil), shared...),
		&cli.StringFlag{Name: "slots", Required: true, Usage: "slots to move, ranges or single slots separated by " +
			"commas (`A-B[,C-D...]`), all of one group (`shoal cluster groups` lists them)"},
		&cli.StringFlag{Name: "to", Required: true, Usage: "id of the group to move the slots to"},
		&cli.BoolFlag{Name: "wait", Usage: "follow the job until it is done or aborted, showing its progress; " +
			"exit non-zero when it is aborted"},
	)
	return &cli.Command{
		Name:  "migrate",
		Usage: "move hash slots to another shard group while both keep serving (SHOAL MIGRATE)",
		Description: "Creates a migration job and prints its id. The source group copies the slots' keys to the " +
			"target, then hands the slots over in one step; clients see only MOVED and TRYAGAIN. The job runs " +
			"in the cluster: follow it with `shoal cluster jobs`, stop it with `shoal cluster cancel`, or pass " +
			"--wait to follow it here (a live progress line on a terminal, one line every 5 s otherwise; with " +
			"--json only the final job as JSON).",
		Flags:  flags,
		Action: runClusterMigrate,
	}
}

// jobsCommand is `shoal cluster jobs`.
func jobsCommand(shared []cli.Flag) *cli.Command {
	return &cli.Command{Name: "jobs", Usage: "list the slot migration jobs, active and recently ended (SHOAL JOBS)",
		Flags: shared, Action: runClusterJobs}
}

// cancelCommand is `shoal cluster cancel`.
func cancelCommand(shared []cli.Flag) *cli.Command {
	return &cli.Command{Name: "cancel", Usage: "abort a slot migration job whose slots have not moved yet (SHOAL CANCEL)",
		ArgsUsage: "JOB-ID", Flags: shared, Action: runClusterCancel}
}

// jobStatus is one job of SHOAL JOBS.
type jobStatus struct {
	ID          string      `json:"id"`
	Slots       []slotRange `json:"slots"`
	Source      string      `json:"source"`
	Target      string      `json:"target"`
	Phase       string      `json:"phase"` // copying, fenced, done, aborted
	Keys        int64       `json:"keys"`  // moved so far
	Bytes       int64       `json:"bytes"`
	KeysPerSec  float64     `json:"keys_per_sec"`
	BytesPerSec float64     `json:"bytes_per_sec"`
	ETAMs       int64       `json:"eta_ms"` // -1 when unknown
	Created     time.Time   `json:"created"`
	Ended       *time.Time  `json:"ended,omitempty"` // nil while running
	Reason      string      `json:"reason,omitempty"`
}

// ended reports whether the job is done or aborted.
func (j jobStatus) ended() bool { return j.Phase == "done" || j.Phase == "aborted" }

// parseShoalJobs parses a SHOAL JOBS reply of either protocol version.
func parseShoalJobs(v respclient.Value) ([]jobStatus, error) {
	if v.Kind != respclient.KindArray {
		return nil, fmt.Errorf("SHOAL JOBS: want an array, got %s", v)
	}
	out := make([]jobStatus, 0, len(v.Array))
	for i, e := range v.Array {
		j, err := parseJob(e)
		if err != nil {
			return nil, fmt.Errorf("SHOAL JOBS entry %d: %w", i, err)
		}
		out = append(out, j)
	}
	return out, nil
}

func parseJob(e respclient.Value) (jobStatus, error) {
	var j jobStatus
	var err error
	text := func(key string) string {
		v, ok := e.Get(key)
		s, isText := v.Text()
		if err == nil && (!ok || !isText) {
			err = fmt.Errorf("bad or missing %s in %s", key, e)
		}
		return s
	}
	integer := func(key string) int64 {
		v, ok := e.Get(key)
		if err == nil && (!ok || v.Kind != respclient.KindInt) {
			err = fmt.Errorf("bad or missing %s in %s", key, e)
		}
		return v.Int
	}
	double := func(key string) float64 {
		s := text(key)
		f, perr := strconv.ParseFloat(s, 64)
		if err == nil && perr != nil {
			err = fmt.Errorf("bad %s %q", key, s)
		}
		return f
	}
	j.ID, j.Source, j.Target, j.Phase = text("id"), text("source"), text("target"), text("phase")
	j.Keys, j.Bytes = integer("keys"), integer("bytes")
	j.KeysPerSec, j.BytesPerSec = double("keys-per-sec"), double("bytes-per-sec")
	j.ETAMs = integer("eta-ms")
	j.Created = time.UnixMilli(integer("created-ms"))
	if ms := integer("ended-ms"); ms != 0 {
		t := time.UnixMilli(ms)
		j.Ended = &t
	}
	j.Reason = text("reason")
	if err != nil {
		return j, err
	}
	if j.ID == "" {
		return j, fmt.Errorf("no id in %s", e)
	}
	slots, _ := e.Get("slots")
	if slots.Kind != respclient.KindArray {
		return j, fmt.Errorf("job %s: bad slots %s", j.ID, slots)
	}
	j.Slots = []slotRange{}
	for _, s := range slots.Array {
		t, _ := s.Text()
		r, err := parseSlotRange(t)
		if err != nil {
			return j, fmt.Errorf("job %s: %w", j.ID, err)
		}
		j.Slots = append(j.Slots, r)
	}
	return j, nil
}

// parseSlotList parses the --slots flag: "A-B[,C-D...]", a range may be one
// slot. It returns the ranges as SHOAL MIGRATE takes them.
func parseSlotList(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("--slots is empty: give slot ranges as A-B[,C-D...], e.g. --slots 0-99,200")
	}
	var parts []string
	for _, p := range strings.Split(s, ",") {
		r, err := parseSlotRange(strings.TrimSpace(p))
		if err != nil {
			return "", fmt.Errorf("--slots %q: %q is not a slot (0-%d) or a range A-B of them", s, p, numSlots-1)
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ","), nil
}

// describeMigrateErr is describeErr for the migration commands.
func describeMigrateErr(addr string, err error) error {
	var re *respclient.ReplyError
	if errors.As(err, &re) {
		switch {
		case strings.Contains(re.Msg, "unknown command"), strings.Contains(re.Msg, "unknown subcommand"):
			return fmt.Errorf("%s does not know the SHOAL migration commands (it answered %q): this needs a Shoal "+
				"cluster of this version (with Redis Cluster, use redis-cli --cluster reshard)", addr, re.Msg)
		case re.Code() == "ERR" && !strings.Contains(re.Msg, "cluster support disabled"):
			return fmt.Errorf("%s refused: %s", addr, strings.TrimPrefix(re.Msg, "ERR "))
		}
	}
	return describeErr(addr, err)
}

// shoalDo runs one SHOAL command on a fresh connection to o.addr.
func shoalDo(ctx context.Context, o adminOpts, args ...any) (respclient.Value, error) {
	v, err := queryValue(ctx, o, o.addr, args...)
	if err != nil {
		return v, describeMigrateErr(o.addr, err)
	}
	return v, nil
}

// queryJobs asks c for SHOAL JOBS.
func queryJobs(ctx context.Context, c *respclient.Conn, addr string) ([]jobStatus, error) {
	v, err := c.Do(ctx, "SHOAL", "JOBS")
	if err != nil {
		return nil, describeMigrateErr(addr, err)
	}
	jobs, err := parseShoalJobs(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return jobs, nil
}

func runClusterJobs(cc *cli.Context) error { return showQuery(cc, queryJobs, renderJobs) }

func runClusterCancel(cc *cli.Context) error {
	o := adminOptions(cc)
	if cc.NArg() != 1 {
		return fmt.Errorf("usage: shoal cluster cancel [--addr HOST:PORT] JOB-ID (`shoal cluster jobs` lists the jobs)")
	}
	id := cc.Args().First()
	if _, err := shoalDo(cc.Context, o, "SHOAL", "CANCEL", id); err != nil {
		return err
	}
	if o.json {
		return writeJSON(o.out, map[string]any{"id": id, "cancelled": true})
	}
	_, err := fmt.Fprintf(o.out, "Job %s cancelled: its slots stay with their source group.\n", id)
	return err
}

// migrateResult is what `migrate --json` prints without --wait.
type migrateResult struct {
	ID     string      `json:"id"`
	Slots  []slotRange `json:"slots"`
	Target string      `json:"target"`
}

func runClusterMigrate(cc *cli.Context) error {
	o := adminOptions(cc)
	slots, err := parseSlotList(cc.String("slots"))
	if err != nil {
		return err
	}
	to := strings.TrimSpace(cc.String("to"))
	v, err := shoalDo(cc.Context, o, "SHOAL", "MIGRATE", slots, to)
	if err != nil {
		return err
	}
	id, ok := v.Text()
	if !ok || id == "" {
		return fmt.Errorf("%s: SHOAL MIGRATE: unexpected reply %s", o.addr, v)
	}
	if cc.Bool("wait") {
		return waitJob(cc.Context, o, id, waitOpts{poll: jobPoll, lineEvery: jobLineEvery, tty: isTerminal(o.out)})
	}
	if o.json {
		res := migrateResult{ID: id, Target: to}
		for _, p := range strings.Split(slots, ",") {
			r, _ := parseSlotRange(p)
			res.Slots = append(res.Slots, r)
		}
		return writeJSON(o.out, res)
	}
	_, err = fmt.Fprintf(o.out, "Migration job %s created: slots %s to group %s.\n"+
		"Follow it with `shoal cluster jobs --addr %s`, or run migrate with --wait.\n", id, slots, to, o.addr)
	return err
}

// How often --wait polls SHOAL JOBS, and how often it prints a progress
// line when its output is not a terminal (variables for the tests).
var (
	jobPoll      = 500 * time.Millisecond
	jobLineEvery = 5 * time.Second
)

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// waitOpts says how waitJob polls and reports.
type waitOpts struct {
	poll, lineEvery time.Duration
	tty             bool // redraw one progress line with \r
}

// pollResult is what one poll of a --wait loop found.
type pollResult struct {
	line string // the progress line
	done bool   // the wait is over: reached its outcome, or failed with err
	err  error  // with done, why the wait failed
}

// waitLoop polls addr every w.poll on one connection (dialled again after
// a failure) until poll says the wait is done, and returns the err poll
// gave with it. Meanwhile it shows poll's progress lines (nothing with
// --json): one line redrawn with \r on a terminal, cleared when the wait
// ends; otherwise one line every w.lineEvery. An error from poll is a
// failed query, retried; when addr has not answered for 2*o.timeout,
// waitLoop returns giveUp(the last such error).
func waitLoop(ctx context.Context, o adminOpts, addr string, w waitOpts,
	poll func(context.Context, *respclient.Conn) (pollResult, error), giveUp func(error) error) error {
	var c *respclient.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	lastOK := time.Now()
	var lastLine time.Time
	drawn := 0 // length of the progress line on a terminal
	for {
		var res pollResult
		err := func() error {
			qctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
			defer cancel()
			if c == nil {
				var err error
				if c, err = adminDial(qctx, o, addr); err != nil {
					return err
				}
			}
			var err error
			if res, err = poll(qctx, c); err != nil {
				c.Close()
				c = nil
			}
			return err
		}()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := time.Now()
		switch {
		case err != nil:
			if now.Sub(lastOK) > 2*o.timeout {
				if drawn > 0 {
					fmt.Fprintln(o.out)
				}
				return giveUp(err)
			}
		case res.done:
			if drawn > 0 {
				fmt.Fprintf(o.out, "\r%s\r", strings.Repeat(" ", drawn))
			}
			return res.err
		case o.json:
		case w.tty:
			pad := ""
			if n := drawn - len(res.line); n > 0 {
				pad = strings.Repeat(" ", n)
			}
			fmt.Fprintf(o.out, "\r%s%s", res.line, pad)
			drawn = len(res.line)
		case lastLine.IsZero() || now.Sub(lastLine) >= w.lineEvery:
			fmt.Fprintln(o.out, res.line)
			lastLine = now
		}
		if err == nil {
			lastOK = now
		}
		if err := sleepCtx(ctx, w.poll); err != nil {
			return err
		}
	}
}

// waitJob polls SHOAL JOBS on o.addr until job id is done or aborted,
// printing its progress (nothing with --json), then the outcome: the final
// job with --json. An aborted job is an error carrying its reason. A node
// that stops answering for 2*o.timeout ends the wait (not the job).
func waitJob(ctx context.Context, o adminOpts, id string, w waitOpts) error {
	var job jobStatus
	err := waitLoop(ctx, o, o.addr, w, func(ctx context.Context, c *respclient.Conn) (pollResult, error) {
		jobs, err := queryJobs(ctx, c, o.addr)
		if err != nil {
			return pollResult{}, err
		}
		for _, j := range jobs {
			if j.ID == id {
				job = j
				return pollResult{line: progressLine(j), done: j.ended()}, nil
			}
		}
		return pollResult{}, fmt.Errorf("%s lists no job %s in SHOAL JOBS", o.addr, id)
	}, func(err error) error {
		return fmt.Errorf("stopped waiting for job %s: %w; the job goes on without this command: "+
			"follow it with `shoal cluster jobs`", id, err)
	})
	if err != nil {
		return err
	}
	return reportJobEnd(o, job)
}

// reportJobEnd prints the outcome of an ended job; an aborted job is an
// error.
func reportJobEnd(o adminOpts, j jobStatus) error {
	var err error
	if o.json {
		err = writeJSON(o.out, j)
	} else if j.Phase == "done" {
		_, err = fmt.Fprintf(o.out, "Job %s done: slots %s moved from group %s to group %s (%d keys, %s in %s).\n",
			j.ID, rangesText(j.Slots), j.Source, j.Target, j.Keys, mbText(j.Bytes), jobDuration(j))
	}
	if err != nil {
		return err
	}
	if j.Phase == "aborted" {
		return jobAbortErr(j)
	}
	return nil
}

// jobAbortErr is the error for j, an aborted job.
func jobAbortErr(j jobStatus) error {
	reason := j.Reason
	if reason == "" {
		reason = "no reason given"
	}
	return fmt.Errorf("job %s aborted: %s; slots %s stay with group %s", j.ID, reason, rangesText(j.Slots), j.Source)
}

// jobDuration is how long j ran, to 0.1 s.
func jobDuration(j jobStatus) string {
	if j.Ended == nil {
		return "-"
	}
	return j.Ended.Sub(j.Created).Round(100 * time.Millisecond).String()
}

// progressLine is one line of a running job's progress.
func progressLine(j jobStatus) string {
	return fmt.Sprintf("job %s %s: %d keys, %s, %.0f keys/s, %s/s, ETA %s", j.ID, j.Phase, j.Keys, mbText(j.Bytes),
		j.KeysPerSec, mbText(int64(j.BytesPerSec)), etaText(j.ETAMs))
}

// mbText formats bytes in MB (10^6) with one decimal.
func mbText(b int64) string { return strconv.FormatFloat(float64(b)/1e6, 'f', 1, 64) + " MB" }

// etaText formats an ETA in ms: "?" when unknown (< 0).
func etaText(ms int64) string {
	if ms < 0 {
		return "?"
	}
	return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
}

func renderJobs(w io.Writer, jobs []jobStatus) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "No migration jobs.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSLOTS\tSOURCE → TARGET\tPHASE\tKEYS\tMB\tKEYS/S\tMB/S\tETA\tREASON")
	for _, j := range jobs {
		eta, reason := etaText(j.ETAMs), j.Reason
		if j.ended() {
			eta = "-"
		}
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s → %s\t%s\t%d\t%.1f\t%.0f\t%.1f\t%s\t%s\n", j.ID, slotsText(clusterNode{Slots: j.Slots}),
			j.Source, j.Target, j.Phase, j.Keys, float64(j.Bytes)/1e6, j.KeysPerSec, j.BytesPerSec/1e6, eta, reason)
	}
	return tw.Flush()
}
