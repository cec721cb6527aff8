package integration

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"math/big"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/internal/tlsconf"
)

// tlsNode is a `shoal server` process whose only RESP port is TLS
// (--port 0): testutil's processes wait for a plain PING, so these run
// here, with a TLS readiness check.
type tlsNode struct {
	port, cport, gport int
	id                 string
	cmd                *exec.Cmd
	done               chan struct{}
}

func (n *tlsNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// startTLSNode starts a tls-cluster node with files on free ports, joining
// join (its own gossip port when empty), and waits until it answers PING
// over TLS (with client).
func startTLSNode(t *testing.T, files testutil.TLSFiles, client *tls.Config, join string, extra ...string) *tlsNode {
	t.Helper()
	ports := testutil.FreePorts(t, 3)
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	n := &tlsNode{port: ports[0], cport: ports[1], gport: ports[2], id: hex.EncodeToString(raw[:]), done: make(chan struct{})}
	if join == "" {
		join = "127.0.0.1:" + strconv.Itoa(n.gport)
	}
	args := append([]string{"server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(n.port),
		"--tls-cluster", "yes", "--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA,
		"--cluster-port", strconv.Itoa(n.cport), "--gossip-port", strconv.Itoa(n.gport), "--join", join,
		"--id", n.id, "--log-format", "text", "--bootstrap-expect", "3"}, extra...)
	n.cmd = exec.Command(testutil.ShoalBinary(t), args...)
	logw := testutil.NewLogWriter(t, fmt.Sprintf("shoal-tls:%d: ", n.port))
	n.cmd.Stdout, n.cmd.Stderr = logw, logw
	n.cmd.WaitDelay = 2 * time.Second
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		logw.Close()
	})
	testutil.Eventually(t, 20*time.Second, "PING over TLS on "+n.addr(), func() error {
		select {
		case <-n.done:
			t.Fatalf("shoal on %s exited", n.addr())
		default:
		}
		_, err := tlsDo(n.addr(), client, "PING")
		return err
	})
	return n
}

// tlsDo sends one command on a new TLS connection.
func tlsDo(addr string, cfg *tls.Config, args ...any) (respclient.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return respclient.Value{}, err
	}
	c := respclient.NewConn(nc, 5*time.Second)
	defer c.Close()
	return c.Do(ctx, args...)
}

// peerSerial returns the serial number of the certificate addr presents.
func peerSerial(addr string, cfg *tls.Config) (*big.Int, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

var groupLine = regexp.MustCompile(`(?m)^group_(\S+):state=\w+,term=(\d+),last_index=(\d+)`)

// groupState returns every node's "group term last_index" lines.
func groupState(t *testing.T, nodes []*tlsNode, client *tls.Config) string {
	t.Helper()
	var b strings.Builder
	for _, n := range nodes {
		v, err := tlsDo(n.addr(), client, "INFO", "raft")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range groupLine.FindAllStringSubmatch(v.Str, -1) {
			fmt.Fprintf(&b, "%s %s term=%s last_index=%s\n", n.addr(), m[1], m[2], m[3])
		}
	}
	return b.String()
}

// TestTLSCluster runs a 3-node cluster with TLS only (--port 0,
// --tls-cluster yes) and checks redis-cli, go-redis and redis-py against
// it, what CLUSTER SLOTS advertises, client authentication, certificate
// reloads and that nodes of another CA, or without TLS, cannot join.
func TestTLSCluster(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not installed: run .ci/deps (make test does)")
	}
	ca := testutil.NewTLSCA(t, "shoal")
	nodeFiles := ca.Issue(t, "node")
	cf := ca.Issue(t, "client")
	client, err := tlsconf.ClientFiles{CACert: cf.CA, Cert: cf.Cert, Key: cf.Key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	first := startTLSNode(t, nodeFiles, client, "")
	join := "127.0.0.1:" + strconv.Itoa(first.gport)
	nodes := []*tlsNode{first,
		startTLSNode(t, nodeFiles, client, join),
		startTLSNode(t, nodeFiles, client, join)}
	tlsPorts := map[int64]bool{}
	for _, n := range nodes {
		tlsPorts[int64(n.port)] = true
	}
	testutil.Eventually(t, 60*time.Second, "cluster_state:ok on every node over TLS", func() error {
		for _, n := range nodes {
			v, err := tlsDo(n.addr(), client, "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(v.Str, "cluster_state:ok") {
				return fmt.Errorf("%s: %s", n.addr(), v.Str)
			}
		}
		return nil
	})

	t.Run("ClusterSlotsGiveTLSPorts", func(t *testing.T) {
		v, err := tlsDo(nodes[1].addr(), client, "CLUSTER", "SLOTS")
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Array) == 0 {
			t.Fatal("CLUSTER SLOTS is empty")
		}
		for _, r := range v.Array {
			for _, nd := range r.Array[2:] {
				if p := nd.Array[1].Int; !tlsPorts[p] {
					t.Fatalf("CLUSTER SLOTS gives port %d, not a TLS port (%v): %s", p, tlsPorts, v)
				}
			}
		}
		v, err = tlsDo(nodes[0].addr(), client, "CONFIG", "GET", "port")
		if err != nil || len(v.Array) != 2 || v.Array[1].Str != "0" {
			t.Fatalf("CONFIG GET port = %v, %v", v, err)
		}
	})

	cliArgs := func(n *tlsNode, args ...string) []string {
		return append([]string{"--tls", "--cacert", cf.CA, "--cert", cf.Cert, "--key", cf.Key, "-c", "-h", "127.0.0.1",
			"-p", strconv.Itoa(n.port)}, args...)
	}
	t.Run("RedisCLI", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			k := "cli:" + strconv.Itoa(i)
			out, err := exec.Command("redis-cli", cliArgs(nodes[i%3], "SET", k, strconv.Itoa(i))...).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "OK" {
				t.Fatalf("redis-cli SET %s: %q, %v", k, out, err)
			}
			out, err = exec.Command("redis-cli", cliArgs(nodes[(i+1)%3], "GET", k)...).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(i) {
				t.Fatalf("redis-cli GET %s: %q, %v", k, out, err)
			}
		}
	})

	t.Run("GoRedis", func(t *testing.T) {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].addr()}, TLSConfig: client})
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 0; i < 50; i++ {
			k := "go:" + strconv.Itoa(i)
			if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
				t.Fatalf("SET %s: %v", k, err)
			}
			if v, err := cc.Get(ctx, k).Int(); err != nil || v != i {
				t.Fatalf("GET %s = %d, %v", k, v, err)
			}
		}
		shards, err := cc.ClusterShards(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range shards {
			for _, n := range s.Nodes {
				if !tlsPorts[n.TLSPort] || n.Port != 0 {
					t.Fatalf("CLUSTER SHARDS node %+v: want tls-port among %v and no plain port", n, tlsPorts)
				}
			}
		}
	})

	t.Run("RedisPy", func(t *testing.T) {
		script := `
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), ssl=True, ssl_ca_certs=sys.argv[2],
                  ssl_certfile=sys.argv[3], ssl_keyfile=sys.argv[4])
for i in range(50):
    rc.set("py:%d" % i, str(i))
for i in range(50):
    assert rc.get("py:%d" % i) == str(i).encode(), i
print("ok", len(rc.get_nodes()))
`
		out, err := exec.Command("/usr/bin/python3", "-c", script, strconv.Itoa(nodes[2].port), cf.CA, cf.Cert, cf.Key).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "ok 3") {
			t.Fatalf("redis-py: %s, %v", out, err)
		}
	})

	t.Run("AdminCLI", func(t *testing.T) {
		tlsArgs := []string{"--addr", nodes[1].addr(), "--tls", "--cacert", cf.CA, "--cert", cf.Cert, "--key", cf.Key}
		out, err := exec.Command(testutil.ShoalBinary(t), append([]string{"cluster", "check"}, tlsArgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("shoal cluster check --tls: %v\n%s", err, out)
		}
		out, err = exec.Command(testutil.ShoalBinary(t), append([]string{"cluster", "nodes", "--json"}, tlsArgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("shoal cluster nodes --tls: %v\n%s", err, out)
		}
		for _, n := range nodes {
			if !strings.Contains(string(out), n.id) {
				t.Fatalf("shoal cluster nodes --tls lacks %s:\n%s", n.id, out)
			}
		}
		if out, err := exec.Command(testutil.ShoalBinary(t), "cluster", "check", "--addr", nodes[1].addr(), "--timeout", "1s").CombinedOutput(); err == nil {
			t.Fatalf("shoal cluster check without --tls succeeded:\n%s", out)
		}
	})

	t.Run("Proxy", func(t *testing.T) {
		port := testutil.FreePort(t)
		cmd := exec.Command(testutil.ShoalBinary(t), "proxy", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--cluster", nodes[0].addr(),
			"--tls", "--cacert", cf.CA, "--cert", cf.Cert, "--key", cf.Key, "--log-format", "text")
		logw := testutil.NewLogWriter(t, "proxy: ")
		defer logw.Close()
		cmd.Stdout, cmd.Stderr = logw, logw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		// redis-cli without -c: the proxy routes each key over TLS.
		testutil.Eventually(t, 20*time.Second, "SET and GET through the proxy", func() error {
			for i := 0; i < 10; i++ {
				k := "proxy:" + strconv.Itoa(i)
				out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "SET", k, "v"+k).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "OK" {
					return fmt.Errorf("SET %s: %q, %v", k, out, err)
				}
				out, err = exec.Command("redis-cli", "-p", strconv.Itoa(port), "GET", k).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "v"+k {
					return fmt.Errorf("GET %s: %q, %v", k, out, err)
				}
			}
			return nil
		})
	})

	t.Run("ClientAuth", func(t *testing.T) {
		noCert, err := tlsconf.ClientFiles{CACert: cf.CA}.Config()
		if err != nil {
			t.Fatal(err)
		}
		addr := nodes[0].addr()
		if _, err := tlsDo(addr, noCert, "PING"); err == nil {
			t.Fatal("a client without a certificate was served with tls-auth-clients yes")
		}
		for _, mode := range []string{"optional", "no"} {
			if _, err := tlsDo(addr, client, "CONFIG", "SET", "tls-auth-clients", mode); err != nil {
				t.Fatal(err)
			}
			if v, err := tlsDo(addr, noCert, "PING"); err != nil || v.Str != "PONG" {
				t.Fatalf("tls-auth-clients %s: a client without a certificate got %v, %v", mode, v, err)
			}
		}
		if _, err := tlsDo(addr, client, "CONFIG", "SET", "tls-auth-clients", "yes"); err != nil {
			t.Fatal(err)
		}
		if _, err := tlsDo(addr, noCert, "PING"); err == nil {
			t.Fatal("a client without a certificate was served after CONFIG SET tls-auth-clients yes")
		}
		// redis-cli without --cert, as an operator would try.
		out, _ := exec.Command("redis-cli", "--tls", "--cacert", cf.CA, "-p", strconv.Itoa(nodes[0].port), "PING").CombinedOutput()
		if strings.Contains(string(out), "PONG") {
			t.Fatalf("redis-cli without a certificate: %s", out)
		}
		// A bad file is refused, and the node keeps its certificate.
		_, err = tlsDo(addr, client, "CONFIG", "SET", "tls-cert-file", cf.CA+".missing")
		if err == nil || !strings.Contains(err.Error(), "Unable to update TLS configuration") {
			t.Fatalf("CONFIG SET tls-cert-file of a missing file: %v", err)
		}
		if _, err := tlsDo(addr, client, "PING"); err != nil {
			t.Fatalf("after a refused CONFIG SET: %v", err)
		}
	})

	t.Run("Reload", func(t *testing.T) {
		old, err := peerSerial(nodes[0].addr(), client)
		if err != nil {
			t.Fatal(err)
		}
		// Every node uses node.crt: reissuing it changes the files of all.
		fresh := ca.Issue(t, "node")
		if s, _ := peerSerial(nodes[0].addr(), client); s.Cmp(old) != 0 {
			t.Fatalf("serial changed before any reload: %s", s)
		}
		if err := nodes[0].cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, "new certificate after SIGHUP", func() error {
			s, err := peerSerial(nodes[0].addr(), client)
			if err != nil {
				return err
			}
			if s.Cmp(fresh.Serial) != 0 {
				return fmt.Errorf("serial %s, want %s", s, fresh.Serial)
			}
			return nil
		})
		// CONFIG SET of the same files reloads them too (Redis's way).
		if s, _ := peerSerial(nodes[1].addr(), client); s.Cmp(old) != 0 {
			t.Fatalf("node 1 changed its certificate on its own: %s", s)
		}
		if _, err := tlsDo(nodes[1].addr(), client, "CONFIG", "SET", "tls-cert-file", fresh.Cert, "tls-key-file", fresh.Key); err != nil {
			t.Fatal(err)
		}
		if s, err := peerSerial(nodes[1].addr(), client); err != nil || s.Cmp(fresh.Serial) != 0 {
			t.Fatalf("after CONFIG SET: serial %v, %v; want %s", s, err, fresh.Serial)
		}
		// The cluster still works across the reloaded nodes.
		for i := 0; i < 10; i++ {
			k := "reload:" + strconv.Itoa(i)
			out, err := exec.Command("redis-cli", cliArgs(nodes[i%3], "SET", k, "v")...).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "OK" {
				t.Fatalf("redis-cli SET after reload: %q, %v", out, err)
			}
		}
	})

	t.Run("ForeignNodesCannotJoin", func(t *testing.T) {
		before := groupState(t, nodes, client)
		t.Logf("groups before:\n%s", before)
		rogueCA := testutil.NewTLSCA(t, "rogue")
		rf := rogueCA.Issue(t, "rogue")
		rogueClient, err := tlsconf.ClientFiles{CACert: rf.CA, Cert: rf.Cert, Key: rf.Key}.Config()
		if err != nil {
			t.Fatal(err)
		}
		rogue := startTLSNode(t, rf, rogueClient, join)
		// A node trusting our CA but presenting another CA's certificate.
		sneaky := rf
		sneaky.CA = ca.CertFile
		sneakyClient, err := tlsconf.ClientFiles{CACert: rf.CA, Cert: cf.Cert, Key: cf.Key}.Config()
		if err != nil {
			t.Fatal(err)
		}
		sneakyNode := startTLSNode(t, sneaky, sneakyClient, join)
		// And one without TLS at all.
		plain := testutil.StartShoal(t, "--bootstrap-expect", "3", "--join", join, "--cluster-port", strconv.Itoa(testutil.FreePort(t)),
			"--gossip-port", strconv.Itoa(testutil.FreePort(t)))
		plainID, err := tlsDoPlainID(plain.Addr)
		if err != nil {
			t.Fatal(err)
		}
		// A node of our CA joining after them: once it is in the map, the
		// meta leader has seen the others too.
		good := startTLSNode(t, nodeFiles, client, join)
		testutil.Eventually(t, 60*time.Second, "the good node in CLUSTER NODES", func() error {
			v, err := tlsDo(nodes[0].addr(), client, "CLUSTER", "NODES")
			if err != nil {
				return err
			}
			if !strings.Contains(v.Str, good.id) {
				return fmt.Errorf("%s not in %s", good.id, v.Str)
			}
			return nil
		})
		for _, n := range append(nodes, good) {
			v, err := tlsDo(n.addr(), client, "CLUSTER", "NODES")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{rogue.id, sneakyNode.id, plainID} {
				if strings.Contains(v.Str, id) {
					t.Fatalf("%s lists foreign node %s:\n%s", n.addr(), id, v.Str)
				}
			}
		}
		if after := groupState(t, nodes, client); after != before {
			t.Fatalf("the groups changed while foreign nodes tried to join:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// tlsDoPlainID returns the node id of the plain node at addr.
func tlsDoPlainID(addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.Do(ctx, "CLUSTER", "MYID")
	return v.Str, err
}

// TestTLSClusterPlainPorts runs tls-cluster nodes that also have a plain
// port: as Redis's, they give TLS ports to TLS connections and plain ports
// (pport) to plain ones, in CLUSTER SLOTS, CLUSTER NODES and MOVED.
func TestTLSClusterPlainPorts(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not installed: run .ci/deps (make test does)")
	}
	ca := testutil.NewTLSCA(t, "shoal")
	nodeFiles := ca.Issue(t, "node")
	cf := ca.Issue(t, "client")
	client, err := tlsconf.ClientFiles{CACert: cf.CA, Cert: cf.Cert, Key: cf.Key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	plainPorts := testutil.FreePorts(t, 3)
	first := startTLSNode(t, nodeFiles, client, "", "--port", strconv.Itoa(plainPorts[0]))
	join := "127.0.0.1:" + strconv.Itoa(first.gport)
	nodes := []*tlsNode{first,
		startTLSNode(t, nodeFiles, client, join, "--port", strconv.Itoa(plainPorts[1])),
		startTLSNode(t, nodeFiles, client, join, "--port", strconv.Itoa(plainPorts[2]))}
	tlsPorts, plain := map[int64]bool{}, map[int64]bool{}
	for i, n := range nodes {
		tlsPorts[int64(n.port)], plain[int64(plainPorts[i])] = true, true
	}
	plainAddr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(plainPorts[i]) }
	testutil.Eventually(t, 60*time.Second, "cluster_state:ok on every node", func() error {
		for i := range nodes {
			v, err := tlsDoPlain(plainAddr(i), "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(v.Str, "cluster_state:ok") {
				return fmt.Errorf("%s: %s", plainAddr(i), v.Str)
			}
		}
		return nil
	})
	slotPorts := func(v respclient.Value) map[int64]bool {
		out := map[int64]bool{}
		for _, r := range v.Array {
			for _, nd := range r.Array[2:] {
				out[nd.Array[1].Int] = true
			}
		}
		return out
	}
	testutil.Eventually(t, 30*time.Second, "CLUSTER SLOTS with every node's ports", func() error {
		v, err := tlsDoPlain(plainAddr(0), "CLUSTER", "SLOTS")
		if err != nil {
			return err
		}
		if got := slotPorts(v); fmt.Sprint(got) != fmt.Sprint(plain) {
			return fmt.Errorf("plain connection: CLUSTER SLOTS ports %v, want the plain ports %v", got, plain)
		}
		if v, err = tlsDo(nodes[0].addr(), client, "CLUSTER", "SLOTS"); err != nil {
			return err
		}
		if got := slotPorts(v); fmt.Sprint(got) != fmt.Sprint(tlsPorts) {
			return fmt.Errorf("TLS connection: CLUSTER SLOTS ports %v, want the TLS ports %v", got, tlsPorts)
		}
		return nil
	})
	v, err := tlsDoPlain(plainAddr(1), "CLUSTER", "NODES")
	if err != nil {
		t.Fatal(err)
	}
	for p := range plain {
		if !strings.Contains(v.Str, ":"+strconv.FormatInt(p, 10)+"@") {
			t.Fatalf("plain CLUSTER NODES lacks plain port %d:\n%s", p, v.Str)
		}
	}
	// redis-cli -c follows MOVED: plain ones on the plain port, TLS ones
	// on the TLS port (it could not connect otherwise).
	for i := 0; i < 20; i++ {
		k := "pp:" + strconv.Itoa(i)
		out, err := exec.Command("redis-cli", "-c", "-p", strconv.Itoa(plainPorts[0]), "SET", k, "v").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("plain redis-cli -c SET %s: %q, %v", k, out, err)
		}
		out, err = exec.Command("redis-cli", "--tls", "--cacert", cf.CA, "--cert", cf.Cert, "--key", cf.Key, "-c",
			"-p", strconv.Itoa(nodes[0].port), "GET", k).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "v" {
			t.Fatalf("TLS redis-cli -c GET %s: %q, %v", k, out, err)
		}
	}
	// MOVED itself, on each kind of connection.
	for i := 0; i < 50; i++ {
		k := "moved:" + strconv.Itoa(i)
		_, perr := tlsDoPlain(plainAddr(0), "GET", k)
		_, terr := tlsDo(nodes[0].addr(), client, "GET", k)
		if perr == nil || terr == nil {
			continue // node 0 leads k's slot
		}
		pm, tm := strings.Fields(perr.Error()), strings.Fields(terr.Error())
		_, pp, _ := strings.Cut(pm[len(pm)-1], ":")
		_, tp, _ := strings.Cut(tm[len(tm)-1], ":")
		ppn, _ := strconv.ParseInt(pp, 10, 64)
		tpn, _ := strconv.ParseInt(tp, 10, 64)
		if !strings.Contains(perr.Error(), "MOVED") || !plain[ppn] || !tlsPorts[tpn] {
			t.Fatalf("MOVED to a plain connection %q, to a TLS one %q", perr, terr)
		}
		return
	}
	t.Fatal("no key of another node's slot among 50")
}

// tlsDoPlain sends one command on a new plain connection.
func tlsDoPlain(addr string, args ...any) (respclient.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, time.Second)
	if err != nil {
		return respclient.Value{}, err
	}
	defer c.Close()
	return c.Do(ctx, args...)
}
