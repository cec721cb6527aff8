package proxy

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// writeCounter is a net.Conn that keeps what is written to it and counts
// the Write calls; the other methods do nothing.
type writeCounter struct {
	net.Conn
	mu     sync.Mutex
	writes int
	bytes  int
	got    chan struct{} // signalled after each Write
}

func (w *writeCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	w.bytes += len(b)
	w.mu.Unlock()
	select {
	case w.got <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (w *writeCounter) Close() error { return nil }

// TestWriterLetsRunnableClientsJoin checks that a backend connection's
// writer, woken by the first client goroutine that queues a command, lets
// the client goroutines that are runnable at that moment queue theirs
// before it writes, so that they go out in one write. Go's scheduler runs
// a goroutine woken by a channel send next, ahead of the others; without
// the writer's yield each command of a -P 1 load went out in a write of
// its own (BENCHMARKS.md, "Proxy (issue 10)").
func TestWriterLetsRunnableClientsJoin(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	wc := &writeCounter{got: make(chan struct{}, 1)}
	c := &backendConn{nc: wc, wake: make(chan struct{}, 1)}
	go c.writer()
	t.Cleanup(func() { close(c.wake) })

	cmd := []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
	const rounds, clients = 20, 8
	calls := make([]call, clients)
	oneWrite := 0
	for range rounds {
		wc.mu.Lock()
		w0, b0 := wc.writes, wc.bytes
		wc.mu.Unlock()
		for i := range clients {
			go c.send(&calls[i], cmd)
		}
		deadline := time.After(10 * time.Second)
		for {
			select {
			case <-wc.got:
			case <-deadline:
				t.Fatal("the writer did not write the round's commands within 10 s")
			}
			wc.mu.Lock()
			done := wc.bytes-b0 == clients*len(cmd)
			writes := wc.writes - w0
			wc.mu.Unlock()
			if done {
				if writes == 1 {
					oneWrite++
				}
				break
			}
		}
		c.mu.Lock()
		c.queue, c.head = c.queue[:0], 0
		c.mu.Unlock()
	}
	if oneWrite < rounds/2 {
		t.Fatalf("the %d runnable clients' commands went out in one write in %d of %d rounds, want at least %d", clients, oneWrite, rounds, rounds/2)
	}
	t.Logf("one write in %d of %d rounds", oneWrite, rounds)
}
