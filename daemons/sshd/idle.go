package sshd

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// idleTimer fires when nothing was read for d (FortiOS admintimeout).
type idleTimer struct {
	mu sync.Mutex
	t  *time.Timer
	d  time.Duration
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	return &idleTimer{t: time.AfterFunc(d, fire), d: d}
}

func (i *idleTimer) reset() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.t.Reset(i.d)
}

func (i *idleTimer) stop() { i.t.Stop() }

// activityReader resets the idle timer on every read.
type activityReader struct {
	r    io.Reader
	idle *idleTimer
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.idle.reset()
	}
	return n, err
}

func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	return sc
}
