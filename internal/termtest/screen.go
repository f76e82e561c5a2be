// Package termtest is what the expect-style tests of the shell (cli) and
// of the SSH server (admin/sshd) share: a screen that collects what a
// terminal shows and waits for expected text.
package termtest

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"
)

// Screen accumulates what a reader produces; Expect and friends consume it
// up to the text they waited for.
type Screen struct {
	mu     sync.Mutex
	buf    []byte
	pos    int // start of what has not been consumed yet
	eof    bool
	notify chan struct{}
}

// NewScreen reads r until it ends.
func NewScreen(r io.Reader) *Screen {
	sc := &Screen{notify: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 32*1024)
		for {
			n, err := r.Read(b)
			sc.mu.Lock()
			sc.buf = append(sc.buf, b[:n]...)
			sc.eof = err != nil
			sc.mu.Unlock()
			select {
			case sc.notify <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return sc
}

// Expect waits up to d until the unconsumed output contains want and
// returns the output up to and including it; it fails t otherwise.
func (sc *Screen) Expect(t testing.TB, want string, d time.Duration) string {
	t.Helper()
	got, ok := sc.TryExpect(want, d)
	if !ok {
		t.Fatalf("waited %v for %q; unconsumed output:\n%q", d, want, got)
	}
	return got
}

// TryExpect is Expect that reports a timeout (with what did come) instead
// of failing.
func (sc *Screen) TryExpect(want string, d time.Duration) (string, bool) {
	got, which := sc.first(d, want)
	return got, which == 0
}

// ExpectAny waits for the first of wants to appear and returns the output
// up to it and its index.
func (sc *Screen) ExpectAny(t testing.TB, d time.Duration, wants ...string) (string, int) {
	t.Helper()
	got, which := sc.first(d, wants...)
	if which < 0 {
		t.Fatalf("waited %v for any of %q; unconsumed output:\n%q", d, wants, got)
	}
	return got, which
}

// first waits up to d for the earliest of wants; -1 and the unconsumed
// output when none came.
func (sc *Screen) first(d time.Duration, wants ...string) (string, int) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		sc.mu.Lock()
		best, which := -1, -1
		for k, w := range wants {
			if i := bytes.Index(sc.buf[sc.pos:], []byte(w)); i >= 0 && (best < 0 || i < best) {
				best, which = i, k
			}
		}
		if which >= 0 {
			end := sc.pos + best + len(wants[which])
			got := string(sc.buf[sc.pos:end])
			sc.pos = end
			sc.mu.Unlock()
			return got, which
		}
		rest, eof := string(sc.buf[sc.pos:]), sc.eof
		sc.mu.Unlock()
		if eof {
			return rest, -1
		}
		select {
		case <-sc.notify:
		case <-timer.C:
			return rest, -1
		}
	}
}

// Quiet waits d and returns what arrived meanwhile (consumed).
func (sc *Screen) Quiet(d time.Duration) string {
	time.Sleep(d)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	got := string(sc.buf[sc.pos:])
	sc.pos = len(sc.buf)
	return got
}
