// Drawing `cluster top`: the snapshot as lines of text fitted to a width,
// redrawn in place on a terminal (ANSI escapes; the terminal's size and
// the q key through termios ioctls, Linux's, as the server's INFO uses).

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"
)

// defaultTermWidth is the width assumed on a terminal whose size is not
// known.
const defaultTermWidth = 120

// topColumn is one column of a top table.
type topColumn struct {
	head string
	// drop orders the columns dropped when the table is wider than the
	// screen: the highest first; 0 is never dropped.
	drop  int
	right bool // right-aligned (numbers)
}

// fitTable lays rows out under cols, two spaces apart. When width > 0 and
// the table is wider, it leaves columns out, the highest drop first, until
// it fits or only columns with drop 0 are left.
func fitTable(cols []topColumn, rows [][]string, width int) []string {
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = utf8.RuneCountInString(c.head)
		for _, r := range rows {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	keep := make([]bool, len(cols))
	total := -2
	for i := range cols {
		keep[i] = true
		total += widths[i] + 2
	}
	for width > 0 && total > width {
		worst := -1
		for i, c := range cols {
			if keep[i] && c.drop > 0 && (worst < 0 || c.drop > cols[worst].drop) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		keep[worst] = false
		total -= widths[worst] + 2
	}
	line := func(cells []string) string {
		var b strings.Builder
		first := true
		for i, cell := range cells {
			if !keep[i] {
				continue
			}
			if !first {
				b.WriteString("  ")
			}
			first = false
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if cols[i].right {
				b.WriteString(pad + cell)
			} else {
				b.WriteString(cell + pad)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = c.head
	}
	out := []string{line(heads)}
	for _, r := range rows {
		out = append(out, line(r))
	}
	return out
}

// truncLine cuts s to width runes, the last one an ellipsis; width <= 0
// leaves it whole.
func truncLine(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// topLines draws snap as lines no wider than width (0: no limit). hint,
// when not empty, ends the first line.
func topLines(snap topSnapshot, width int, hint string) []string {
	var lines []string
	head := "Shoal cluster top  "
	if snap.ClusterState != "" {
		head += "state " + snap.ClusterState + ", "
	}
	head += plural(len(snap.Nodes), "node")
	if snap.isShoal() {
		head += ", " + plural(len(snap.Groups), "group")
	}
	if snap.Addr != "" {
		head += "  via " + snap.Addr
	}
	head += "  " + snap.Time.UTC().Format("2006-01-02 15:04:05 UTC")
	if hint != "" {
		head += "  (" + hint + ")"
	}
	lines = append(lines, head)
	if len(snap.Nodes) > 0 {
		lines = append(lines, "")
		lines = append(lines, nodeTable(snap, width)...)
	}
	if snap.isShoal() {
		lines = append(lines, "")
		lines = append(lines, groupTable(snap.Groups, width)...)
		lines = append(lines, "")
		lines = append(lines, jobLines(snap.Jobs, width)...)
	}
	if snap.Balance != nil {
		lines = append(lines, "", balanceText(*snap.Balance))
	}
	if len(snap.Errors) > 0 {
		lines = append(lines, "", "ERRORS")
		for _, e := range snap.Errors {
			lines = append(lines, "  "+e)
		}
	}
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	return lines
}

// nodeTable is the NODE table with a total row.
func nodeTable(snap topSnapshot, width int) []string {
	role := topColumn{head: "ROLE", drop: 5}
	if snap.isShoal() {
		role = topColumn{head: "LEADS/FOLLOWS", drop: 5}
	}
	cols := []topColumn{{head: "NODE"}, {head: "ADDRESS"}, {head: "STATE"}, role,
		{head: "OPS/S", drop: 1, right: true}, {head: "P99", drop: 2, right: true}, {head: "MEM", drop: 3, right: true},
		{head: "KEYS", drop: 4, right: true}, {head: "CLIENTS", drop: 6, right: true}}
	var rows [][]string
	var ops float64
	var mem, keys, clients int64
	var hasOps, hasMem, hasKeys, hasClients bool
	for _, n := range snap.Nodes {
		r := n.Role
		if snap.isShoal() {
			r = fmt.Sprintf("%d/%d", n.Leads, n.Follows)
		}
		p99 := "-"
		if n.P99Usec != nil {
			p99 = usecText(*n.P99Usec)
		}
		rows = append(rows, []string{shortID(n.ID), n.Addr, n.State, r, opsText(n.OpsPerSec), p99,
			bytesText(n.UsedMemory), intText(n.Keys), intText(n.Clients)})
		if n.OpsPerSec != nil {
			ops, hasOps = ops+*n.OpsPerSec, true
		}
		sum := func(total *int64, has *bool, v *int64) {
			if v != nil {
				*total, *has = *total+*v, true
			}
		}
		sum(&mem, &hasMem, n.UsedMemory)
		sum(&keys, &hasKeys, n.Keys)
		sum(&clients, &hasClients, n.Clients)
	}
	opt := func(v *int64, has bool) *int64 {
		if has {
			return v
		}
		return nil
	}
	var opsp *float64
	if hasOps {
		opsp = &ops
	}
	rows = append(rows, []string{"total", "", "", "", opsText(opsp), "", bytesText(opt(&mem, hasMem)),
		intText(opt(&keys, hasKeys)), intText(opt(&clients, hasClients))})
	return fitTable(cols, rows, width)
}

// groupTable is the GROUP table: leader, followers and their lag.
func groupTable(groups []topGroup, width int) []string {
	if len(groups) == 0 {
		return []string{"GROUPS  none"}
	}
	cols := []topColumn{{head: "GROUP"}, {head: "SLOTS", drop: 1}, {head: "LEADER"}, {head: "FOLLOWERS (LAG IN ENTRIES)"}}
	var rows [][]string
	for _, g := range groups {
		leader := "-"
		if g.Leader != "" {
			leader = strings.TrimSpace(shortID(g.Leader) + " " + g.LeaderAddr)
			if g.SteppedDown {
				leader += " (stepped down)"
			}
		}
		fs := make([]string, len(g.Followers))
		for i, f := range g.Followers {
			lag := "?"
			if f.Lag != nil {
				lag = strconv.FormatInt(*f.Lag, 10)
			}
			fs[i] = shortID(f.ID) + " " + lag
		}
		followers := strings.Join(fs, ", ")
		if followers == "" {
			followers = "-"
		}
		rows = append(rows, []string{g.ID, slotsText(clusterNode{Slots: g.Slots}), leader, followers})
	}
	return fitTable(cols, rows, width)
}

// jobLines is the table of the running migration jobs.
func jobLines(jobs []jobStatus, width int) []string {
	var running []jobStatus
	for _, j := range jobs {
		if !j.ended() {
			running = append(running, j)
		}
	}
	ended := ""
	if n := len(jobs) - len(running); n > 0 {
		ended = fmt.Sprintf("%d ended recently: `shoal cluster jobs` lists them", n)
	}
	if len(running) == 0 {
		if ended != "" {
			return []string{"JOBS  none running (" + ended + ")"}
		}
		return []string{"JOBS  none running"}
	}
	cols := []topColumn{{head: "JOB"}, {head: "SLOTS", drop: 3}, {head: "SOURCE → TARGET"}, {head: "PHASE"},
		{head: "KEYS", right: true}, {head: "MB", drop: 2, right: true}, {head: "KEYS/S", drop: 1, right: true},
		{head: "ETA", right: true}}
	var rows [][]string
	for _, j := range running {
		rows = append(rows, []string{j.ID, slotsText(clusterNode{Slots: j.Slots}), j.Source + " → " + j.Target, j.Phase,
			strconv.FormatInt(j.Keys, 10), strconv.FormatFloat(float64(j.Bytes)/1e6, 'f', 1, 64),
			strconv.FormatFloat(j.KeysPerSec, 'f', 0, 64), etaText(j.ETAMs)})
	}
	out := fitTable(cols, rows, width)
	if ended != "" {
		out = append(out, ended)
	}
	return out
}

// balanceText is the BALANCER line.
func balanceText(st balanceStatus) string {
	s := "BALANCER  "
	switch {
	case st.Requested || len(st.Plan) > 0:
		s += fmt.Sprintf("rebalancing: %s left, %s", plural(len(st.Plan), "step"), plural(st.ActiveJobs, "active job"))
		if len(st.Plan) > 0 {
			s += "; next: " + st.Plan[0]
		}
	case st.ActiveJobs > 0:
		s += "idle, " + plural(st.ActiveJobs, "active job")
	default:
		s += "idle"
	}
	if len(st.Draining) > 0 {
		ids := make([]string, len(st.Draining))
		for i, id := range st.Draining {
			ids[i] = shortID(id)
		}
		s += "; draining " + strings.Join(ids, ", ")
	}
	return s
}

// opsText formats ops/s: "-" when unknown.
func opsText(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v < 10:
		return strconv.FormatFloat(*v, 'f', 1, 64)
	case *v < 100000:
		return strconv.FormatFloat(*v, 'f', 0, 64)
	}
	return strconv.FormatFloat(*v/1000, 'f', 0, 64) + "k"
}

// usecText formats a latency in microseconds.
func usecText(us float64) string {
	switch {
	case us < 10:
		return strconv.FormatFloat(us, 'f', 1, 64) + "us"
	case us < 1000:
		return strconv.FormatFloat(us, 'f', 0, 64) + "us"
	case us < 10000:
		return strconv.FormatFloat(us/1000, 'f', 2, 64) + "ms"
	case us < 1e6:
		return strconv.FormatFloat(us/1000, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(us/1e6, 'f', 2, 64) + "s"
}

// bytesText formats bytes as Redis's used_memory_human does (1024-based),
// with one decimal: "512B", "1.5K", "2.0M".
func bytesText(v *int64) string {
	if v == nil {
		return "-"
	}
	if *v < 1024 {
		return strconv.FormatInt(*v, 10) + "B"
	}
	n := float64(*v)
	for _, u := range []string{"K", "M", "G"} {
		if n /= 1024; n < 1024 {
			return strconv.FormatFloat(n, 'f', 1, 64) + u
		}
	}
	return strconv.FormatFloat(n/1024, 'f', 1, 64) + "T"
}

func intText(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10)
}

// writeJSONLine writes v as JSON on one line.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ---- the terminal ----

// ANSI escapes of the screen.
const (
	escHome        = "\x1b[H"
	escClearLine   = "\x1b[K" // to the end of the line
	escClearBelow  = "\x1b[J"
	escEnterScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	escLeaveScreen = "\x1b[?25h\x1b[?1049l"
)

// topFrame is one screen: the cursor home, snap's lines fitted to width
// and height (0: no limit), each clearing the rest of its line, and the
// screen below cleared.
func topFrame(snap topSnapshot, width, height int, interval time.Duration) []byte {
	lines := topLines(snap, width, "every "+interval.String()+"; q or Ctrl-C quits")
	if height > 0 && len(lines) > height {
		more := len(lines) - height + 1
		lines = append(lines[:height-1], truncLine(fmt.Sprintf("… %d more lines: enlarge the terminal", more), width))
	}
	var b strings.Builder
	b.WriteString(escHome)
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(l)
		b.WriteString(escClearLine)
	}
	b.WriteString(escClearBelow)
	return []byte(b.String())
}

// termSize returns the size of the terminal f: from the TIOCGWINSZ ioctl,
// else from $COLUMNS and $LINES, else defaultTermWidth columns and no
// height limit.
func termSize(f *os.File) (width, height int) {
	var ws struct{ Row, Col, X, Y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
	if errno == 0 && ws.Col > 0 {
		return int(ws.Col), int(ws.Row)
	}
	width, _ = strconv.Atoi(os.Getenv("COLUMNS"))
	height, _ = strconv.Atoi(os.Getenv("LINES"))
	if width <= 0 {
		width = defaultTermWidth
	}
	return width, max(height, 0)
}

func termios(fd uintptr, req uintptr, t *syscall.Termios) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(t))); errno != 0 {
		return errno
	}
	return nil
}

// enterScreen switches term to the alternate screen and, when stdin is a
// terminal, reads its keys without echo (signals stay on, so Ctrl-C still
// interrupts): q calls quit. The returned function undoes both.
func enterScreen(term *os.File, quit func()) (restore func()) {
	io.WriteString(term, escEnterScreen)
	in := os.Stdin.Fd()
	var old syscall.Termios
	raw := false
	if isTerminal(os.Stdin) && termios(in, syscall.TCGETS, &old) == nil {
		t := old
		t.Lflag &^= syscall.ICANON | syscall.ECHO
		t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
		if termios(in, syscall.TCSETS, &t) == nil {
			raw = true
			go func() {
				var b [16]byte
				for {
					n, err := os.Stdin.Read(b[:])
					if err != nil {
						return
					}
					if strings.ContainsAny(string(b[:n]), "qQ") {
						quit()
						return
					}
				}
			}()
		}
	}
	return func() {
		if raw {
			_ = termios(in, syscall.TCSETS, &old)
		}
		io.WriteString(term, escLeaveScreen)
	}
}
