package testutil

import (
	"errors"
	"testing"
	"time"
)

// Eventually calls cond until it returns nil, with a short backoff between
// calls (5 ms growing to 50 ms). Once timeout has passed it fails the test
// with what and cond's last error. Use it instead of sleeps.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
			return
		}
		time.Sleep(delay)
		delay = min(delay*3/2, 50*time.Millisecond)
	}
}

// errNotYet is the last error Until reports.
var errNotYet = errors.New("condition still false")

// Until is Eventually for a condition without an error to report.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}
