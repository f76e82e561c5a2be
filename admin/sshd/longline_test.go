package sshd

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Over-long input is refused with a short, escaped excerpt, and the
// server's memory does not grow with it.

const megaLine = 1 << 20

// heapSampler records the peak HeapInuse until stopped.
type heapSampler struct {
	stop chan struct{}
	peak chan uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), peak: make(chan uint64)}
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-h.stop:
				h.peak <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) end() uint64 {
	close(h.stop)
	return <-h.peak
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

const mib = 1 << 20

func TestLongLinePty(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.mustDial(t)
	tm := openTerm(t, c, 40)
	// Space-separated words (what made the parser grow to 500 MB); a rune
	// of two bytes counts two.
	line := "set comment " + strings.Repeat("a\u00e9 ", megaLine/4)
	before := heapInuse()
	h := sampleHeap()
	tm.send(t, line+"\r")
	out := tm.Expect(t, "Command fail. Return code -61\r\n"+prompt, 20*time.Second)
	peak := h.end()
	after := heapInuse()
	t.Logf("1 MiB line over a pty: HeapInuse %.1f MiB before, peak %.1f MiB, %.1f MiB after; %d bytes of output",
		float64(before)/mib, float64(peak)/mib, float64(after)/mib, len(out))
	if !strings.Contains(out, fmt.Sprintf(`input too long: %d bytes, at most 8192 allowed: "set comment aé aé`, len(line))) {
		t.Errorf("no clear error for a 1 MiB line:\n%q", out[max(0, len(out)-400):])
	}
	if len(out) > 3*8192 {
		t.Errorf("regression: a 1 MiB line is echoed whole (%d bytes of output); the editor must stop at MaxLineBytes", len(out))
	}
	// The client holds the 1 MiB line and the screen buffer; the server
	// must hold no copy of it once it is refused.
	if after > before+8*mib {
		t.Errorf("regression: HeapInuse %.1f MiB after a refused 1 MiB line, %.1f MiB before: memory kept",
			float64(after)/mib, float64(before)/mib)
	}
	if peak > before+64*mib {
		t.Errorf("regression: HeapInuse peaked at %.1f MiB for a 1 MiB line (%.1f MiB before)", float64(peak)/mib, float64(before)/mib)
	}
	// The session goes on.
	tm.line(t, "get system status | grep Hostname")
	tm.Expect(t, "Hostname: FortiGate-VM64", 5*time.Second)
	// A quoted value continued over lines is bounded as a statement.
	tm.send(t, "config system global\r")
	tm.Expect(t, "(global) # ", 5*time.Second)
	tm.send(t, "set hostname \"x\r")
	for i := 0; i < 8; i++ {
		tm.send(t, strings.Repeat("y", 5000)+"\r")
	}
	tm.send(t, "\"\r")
	out = tm.Expect(t, "(global) # ", 10*time.Second)
	if !strings.Contains(out, "at most 32768 allowed") {
		t.Errorf("a 40 KB statement over several lines is not refused:\n%.300q", out)
	}
	tm.line(t, "end")
}

func TestLongLinePlainShell(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.mustDial(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := heapInuse()
	h := sampleHeap()
	s.Stdin = strings.NewReader("set comment " + strings.Repeat("\xff", megaLine) + "\nget system status | grep Hostname\n")
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("wait: %v", err)
	}
	peak := h.end()
	after := heapInuse()
	t.Logf("1 MiB line without a pty: HeapInuse %.1f MiB before, peak %.1f MiB, %.1f MiB after", float64(before)/mib, float64(peak)/mib, float64(after)/mib)
	want := `input too long: 1048588 bytes, at most 8192 allowed: "set comment \xff\xff`
	if !strings.Contains(out.String(), want) || !strings.HasSuffix(out.String(), "Hostname: FortiGate-VM64\n") {
		t.Fatalf("regression: a 1 MiB line without a pty ends the session (bufio.Scanner: token too long) or is not refused clearly; output:\n%.400q", out.String())
	}
	if out.Len() > 400 {
		t.Errorf("error quotes too much of the line: %d bytes", out.Len())
	}
	if after > before+8*mib {
		t.Errorf("HeapInuse %.1f MiB after, %.1f MiB before: memory kept", float64(after)/mib, float64(before)/mib)
	}
}

func TestLongLineExec(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.mustDial(t)
	out := run(t, c, "set comment "+strings.Repeat("b", 100000)+"\nget system status | grep Hostname")
	if !strings.Contains(out, `input too long: 100012 bytes, at most 8192 allowed: "set comment bbbb`) ||
		!strings.HasSuffix(out, "Hostname: FortiGate-VM64\n") || len(out) > 400 {
		t.Errorf("exec with a 100 KB line:\n%.400q", out)
	}
}
