package command_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	// The front end registers its own commands (CLIENT, CONFIG, CLUSTER...)
	// in the same table: check those too.
	_ "github.com/shoalcache/shoal/server"
)

// TestCommandTableAgainstMeta checks that every command in the table that
// has Redis metadata agrees with it on arity and key positions, and that
// every entry (with or without metadata) is well-formed RESP3.
func TestCommandTableAgainstMeta(t *testing.T) {
	for _, c := range command.All() {
		for _, cmd := range append([]*command.Command{c}, c.Subs...) {
			if m, ok := command.Meta[cmd.Name]; !ok {
				t.Logf("%s: no Redis metadata; COMMAND synthesizes its entry", cmd.Name)
			} else {
				got := metaPositions(t, command.MetaInfo(m))
				want := [4]int{cmd.Arity, cmd.FirstKey, cmd.LastKey, cmd.Step}
				if got != want {
					t.Errorf("%s: Redis has arity/first/last/step %v, the table %v", cmd.Name, got, want)
				}
			}
			if _, err := resp.Downgrade(nil, command.AppendCommandInfo(nil, cmd)); err != nil {
				t.Errorf("%s: COMMAND INFO entry is not valid RESP3: %v", cmd.Name, err)
			}
			if _, err := resp.Downgrade(nil, command.AppendCommandDocs(nil, cmd)); err != nil {
				t.Errorf("%s: COMMAND DOCS entry is not valid RESP3: %v", cmd.Name, err)
			}
		}
	}
}

// metaPositions reads arity, first key, last key and step from the start of
// a COMMAND INFO entry: $name, :arity, ~flags (simple strings), :first,
// :last, :step.
func metaPositions(t *testing.T, info string) [4]int {
	t.Helper()
	lines := strings.Split(info, "\r\n")
	num := func(i int, prefix byte) int {
		if i >= len(lines) || lines[i] == "" || lines[i][0] != prefix {
			t.Fatalf("unexpected COMMAND INFO entry %q", info)
		}
		n, err := strconv.Atoi(lines[i][1:])
		if err != nil {
			t.Fatalf("unexpected COMMAND INFO entry %q", info)
		}
		return n
	}
	arity := num(2, ':')
	flags := num(3, '~')
	i := 4 + flags
	return [4]int{arity, num(i, ':'), num(i+1, ':'), num(i+2, ':')}
}

// TestCommandACLAgainstMeta checks that every command with Redis metadata
// has Redis's ACL categories (COMMAND INFO's seventh field), so that ACL
// rules by category (+@hash, -@dangerous...) select the same commands.
func TestCommandACLAgainstMeta(t *testing.T) {
	for _, c := range command.All() {
		for _, cmd := range append([]*command.Command{c}, c.Subs...) {
			m, ok := command.Meta[cmd.Name]
			if !ok {
				continue
			}
			lines := strings.Split(command.MetaInfo(m), "\r\n")
			nflags, _ := strconv.Atoi(lines[3][1:])
			i := 4 + nflags + 3 // past the flags and first, last, step
			ncat, err := strconv.Atoi(lines[i][1:])
			if err != nil || lines[i][0] != '~' {
				t.Fatalf("%s: unexpected COMMAND INFO entry %q", cmd.Name, lines)
			}
			var want []string
			for _, l := range lines[i+1 : i+1+ncat] {
				want = append(want, strings.TrimPrefix(l, "+@"))
			}
			got := append([]string(nil), cmd.ACL...)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: ACL categories %v, Redis has %v", cmd.Name, got, want)
			}
		}
	}
}
