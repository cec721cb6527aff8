package main

// `shoal cluster keys`: the gossip encryption keyring (SHOAL KEYS, serf's
// KeyManager on the nodes).

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
)

// keysCommand is `shoal cluster keys`.
func keysCommand(shared []cli.Flag) *cli.Command {
	op := func(name, usage string) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, ArgsUsage: "KEY", Flags: shared,
			Action: func(cc *cli.Context) error { return runClusterKeys(cc, name) }}
	}
	return &cli.Command{
		Name:  "keys",
		Usage: "rotate the gossip encryption keyring of every node (SHOAL KEYS)",
		Description: "Rotation: `generate` a key, `install` it on every node, `use` it (every node encrypts with it),\n" +
			"then `remove` the old one. Each step reaches every node through gossip and fails when one does not answer.\n" +
			"Nodes started with --gossip-key and --data-dir keep their keyring in DATA-DIR/serf.keyring.",
		Subcommands: []*cli.Command{
			{Name: "generate", Usage: "print a new random 32-byte key (base64) for --gossip-key or install",
				Action: runKeysGenerate},
			op("install", "add KEY to every node's keyring"),
			op("use", "make KEY, installed already, the key every node encrypts with"),
			op("remove", "remove KEY, not the one in use, from every node's keyring"),
			{Name: "list", Usage: "list the keys and how many nodes have each", Flags: shared,
				Action: func(cc *cli.Context) error { return runClusterKeys(cc, "list") }},
		},
	}
}

func runKeysGenerate(cc *cli.Context) error {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return err
	}
	_, err := fmt.Fprintln(cc.App.Writer, base64.StdEncoding.EncodeToString(k[:]))
	return err
}

// keyringStatus is SHOAL KEYS's reply.
type keyringStatus struct {
	Nodes       int            `json:"nodes"`
	Responses   int            `json:"responses"`
	Errors      int            `json:"errors"`
	Keys        map[string]int `json:"keys"`
	PrimaryKeys map[string]int `json:"primary_keys"`
	Messages    []string       `json:"messages"`
}

func runClusterKeys(cc *cli.Context, op string) error {
	o := adminOptions(cc)
	args := []any{"SHOAL", "KEYS", strings.ToUpper(op)}
	switch {
	case op == "list" && cc.NArg() == 0:
	case op != "list" && cc.NArg() == 1:
		args = append(args, cc.Args().First())
	case op == "list":
		return errors.New("usage: shoal cluster keys list [--addr HOST:PORT]")
	default:
		return fmt.Errorf("usage: shoal cluster keys %s [--addr HOST:PORT] KEY", op)
	}
	v, err := shoalDo(cc.Context, o, args...)
	if err != nil {
		return err
	}
	st, err := parseKeyring(v)
	if err != nil {
		return fmt.Errorf("%s: %w", o.addr, err)
	}
	if o.json {
		return writeJSON(o.out, st)
	}
	if op != "list" {
		fmt.Fprintf(o.out, "%s: done on %d of %d nodes.\n", op, st.Responses, st.Nodes)
	}
	keys := make([]string, 0, len(st.Keys))
	for k := range st.Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 && len(st.Messages) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tNODES\tPRIMARY ON")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\n", k, st.Keys[k], st.Nodes, st.PrimaryKeys[k])
	}
	for _, m := range st.Messages {
		fmt.Fprintf(tw, "message: %s\n", m)
	}
	return tw.Flush()
}

// parseKeyring parses SHOAL KEYS's reply (a map, or its RESP2 flat array).
func parseKeyring(v respclient.Value) (keyringStatus, error) {
	st := keyringStatus{Keys: map[string]int{}, PrimaryKeys: map[string]int{}}
	num := func(name string) (int, error) {
		f, ok := v.Get(name)
		if !ok || f.Kind != respclient.KindInt {
			return 0, fmt.Errorf("SHOAL KEYS reply has no integer %s", name)
		}
		return int(f.Int), nil
	}
	var err error
	if st.Nodes, err = num("nodes"); err != nil {
		return st, err
	}
	if st.Responses, err = num("responses"); err != nil {
		return st, err
	}
	if st.Errors, err = num("errors"); err != nil {
		return st, err
	}
	for name, m := range map[string]map[string]int{"keys": st.Keys, "primary-keys": st.PrimaryKeys} {
		f, _ := v.Get(name)
		e := f.Elems()
		for i := 0; i+1 < len(e); i += 2 {
			k, ok := e[i].Text()
			if !ok || e[i+1].Kind != respclient.KindInt {
				return st, fmt.Errorf("SHOAL KEYS reply: bad %s entry", name)
			}
			m[k] = int(e[i+1].Int)
		}
	}
	if f, ok := v.Get("messages"); ok {
		for _, e := range f.Elems() {
			if s, ok := e.Text(); ok {
				st.Messages = append(st.Messages, s)
			}
		}
	}
	return st, nil
}
