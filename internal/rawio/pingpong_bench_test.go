package rawio

import (
	"io"
	"testing"
)

// BenchmarkPingPong: request-reply exchanges over loopback, the server's
// side a Conn that waits first or not.
func BenchmarkPingPong(b *testing.B) {
	for _, wf := range []bool{false, true} {
		name := "read-first"
		if wf {
			name = "wait-first"
		}
		b.Run(name, func(b *testing.B) {
			c, peer := pair(b)
			if !wf {
				c.pd = 0
			}
			req, rep := []byte("*1\r\n$4\r\nPING\r\n"), []byte("+PONG\r\n")
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 64)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write(rep); err != nil {
						return
					}
				}
			}()
			got := make([]byte, len(rep))
			b.ResetTimer()
			for range b.N {
				if _, err := peer.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(peer, got); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			peer.Close()
			<-done
			b.ReportMetric(float64(c.reads)/float64(b.N), "reads/op")
		})
	}
}
