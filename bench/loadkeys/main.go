// Command loadkeys writes N distinct keys of 16 bytes ("key:" and 12
// digits, as redis-benchmark -r names them) with values of a given size to a
// RESP server, pipelined over a few connections. bench/run.sh uses it to
// measure memory per key without the churn of random overwrites.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "server address")
	n := flag.Int("n", 1000000, "number of keys")
	size := flag.Int("d", 64, "value size in bytes")
	conns := flag.Int("c", 4, "connections")
	pipe := flag.Int("P", 256, "commands per pipeline flush")
	flag.Parse()
	val := make([]byte, *size)
	for i := range val {
		val[i] = 'x'
	}
	var wg sync.WaitGroup
	errs := make(chan error, *conns)
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			if err := load(*addr, c, *conns, *n, *pipe, val); err != nil {
				errs <- err
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, "loadkeys:", err)
		os.Exit(1)
	}
}

// load writes keys c, c+conns, c+2*conns, ... and checks every reply is +OK.
func load(addr string, c, conns, n, pipe int, val []byte) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	w := bufio.NewWriterSize(conn, 1<<16)
	r := bufio.NewReaderSize(conn, 1<<16)
	pending := 0
	drain := func() error {
		if err := w.Flush(); err != nil {
			return err
		}
		for ; pending > 0; pending-- {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if line != "+OK\r\n" {
				return fmt.Errorf("unexpected reply %q", line)
			}
		}
		return nil
	}
	var key []byte
	for i := c; i < n; i += conns {
		key = append(key[:0], "key:"...)
		digits := strconv.Itoa(i)
		for j := len(digits); j < 12; j++ {
			key = append(key, '0')
		}
		key = append(key, digits...)
		fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(key), key, len(val))
		w.Write(val)
		w.WriteString("\r\n")
		if pending++; pending == pipe {
			if err := drain(); err != nil {
				return err
			}
		}
	}
	return drain()
}
