package sshd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	loadSessions = 50
	// Each session: config firewall address, 66 × (edit, set subnet,
	// next), end = 200 statements, 66 saved entries (one commit each).
	loadEntries    = 66
	loadStatements = 2 + 3*loadEntries
)

func loadName(tag string, s, e int) string { return fmt.Sprintf("%s-s%02d-e%02d", tag, s, e) }

// loadSubnet is unique per (session, entry), so an entry carrying another
// session's value shows interleaving.
func loadSubnet(round, s, e int) (in, out string) {
	return fmt.Sprintf("10.%d.%d.%d/32", round%250, s, e), fmt.Sprintf("10.%d.%d.%d 255.255.255.255", round%250, s, e)
}

func loadScript(tag string, round, s int) string {
	var b strings.Builder
	b.WriteString("config firewall address\n")
	for e := 0; e < loadEntries; e++ {
		in, _ := loadSubnet(round, s, e)
		fmt.Fprintf(&b, "edit %s\nset subnet %s\nnext\n", loadName(tag, s, e), in)
	}
	b.WriteString("end\n")
	return b.String()
}

// loadSession applies one session's statements: even sessions paste them
// into an interactive pty shell, odd ones send them as one exec.
func loadSession(addr, tag string, round, s int) error {
	c, err := ssh.Dial("tcp", addr, clientConfig("admin"))
	if err != nil {
		return fmt.Errorf("session %d: dial: %w", s, err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return fmt.Errorf("session %d: %w", s, err)
	}
	defer sess.Close()
	script := loadScript(tag, round, s)
	var out bytes.Buffer
	if s%2 == 1 {
		var errb bytes.Buffer
		sess.Stdout, sess.Stderr = &out, &errb
		// (Stdout and Stderr must not share a bytes.Buffer: both are
		// filled by io.Copy → ReadFrom from separate goroutines.)
		if err := sess.Run(script); err != nil {
			return fmt.Errorf("session %d: exec: %w", s, err)
		}
		if errb.Len() > 0 {
			return fmt.Errorf("session %d: stderr %q", s, errb.String())
		}
	} else {
		if err := sess.RequestPty("xterm", 40, 120, nil); err != nil {
			return err
		}
		sess.Stdin = strings.NewReader(script + "exit\n")
		sess.Stdout = &out
		if err := sess.Shell(); err != nil {
			return err
		}
		if err := sess.Wait(); err != nil {
			return fmt.Errorf("session %d: shell: %w", s, err)
		}
	}
	if strings.Contains(out.String(), "Command fail") {
		return fmt.Errorf("session %d: %s", s, out.String())
	}
	// Every entry this session announces is its own, in its own order.
	if n := strings.Count(out.String(), "new entry '"); n != loadEntries ||
		strings.Count(out.String(), fmt.Sprintf("new entry '%s-s%02d-", tag, s)) != loadEntries {
		return fmt.Errorf("session %d: %d entries announced, want %d; output:\n%.600q", s, n, loadEntries, out.String())
	}
	return nil
}

type loadFigures struct {
	wall     time.Duration
	peakHeap uint64
	alloc    uint64 // bytes allocated by the process meanwhile (server and clients)
}

// runLoad runs loadSessions sessions at once and samples the heap.
func runLoad(tb testing.TB, ts *testServer, tag string, round int) loadFigures {
	tb.Helper()
	stopSample := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stopSample:
				sampled <- peak
				return
			case <-tick.C:
			}
		}
	}()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	errs := make(chan error, loadSessions)
	var wg sync.WaitGroup
	for s := 0; s < loadSessions; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- loadSession(ts.addr, tag, round, s)
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(stopSample)
	peak := <-sampled
	close(errs)
	for err := range errs {
		if err != nil {
			tb.Error(err)
		}
	}
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	return loadFigures{wall: wall, peakHeap: peak, alloc: ms1.TotalAlloc - ms0.TotalAlloc}
}

// checkLoad verifies every entry of a round is present with its own value.
func checkLoad(tb testing.TB, ts *testServer, tag string, round int) {
	tb.Helper()
	t := ts.st.Schema().Table("firewall address")
	subnet := t.Attr("subnet")
	missing, wrong := 0, 0
	for s := 0; s < loadSessions; s++ {
		for e := 0; e < loadEntries; e++ {
			name := loadName(tag, s, e)
			ent := ts.st.Lookup("firewall address", name)
			if ent == nil {
				missing++
				if missing <= 5 {
					tb.Errorf("lost commit: %s missing", name)
				}
				continue
			}
			_, want := loadSubnet(round, s, e)
			if got := strings.Join(ent.Get(subnet), " "); got != want {
				wrong++
				if wrong <= 5 {
					tb.Errorf("interleaved commit: %s has subnet %q, want %q", name, got, want)
				}
			}
		}
	}
	if missing+wrong > 0 {
		tb.Errorf("%d entries missing, %d with another session's values", missing, wrong)
	}
}

// TestLoadConcurrentSessions: 50 concurrent SSH sessions × 200 statements
// against one store that fsyncs every commit, as fosim serve does.
func TestLoadConcurrentSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: not in -short")
	}
	ts := startServer(t, serverOpts{sync: true})
	rev0 := ts.st.Revision()
	n0 := len(ts.st.Rows("firewall address").Keys)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f := runLoad(t, ts, "load", 0)
	checkLoad(t, ts, "load", 0)
	saved := loadSessions * loadEntries
	if got := ts.st.Revision() - rev0; got != uint64(saved) {
		t.Errorf("store revision went up by %d, want exactly %d (one per saved entry)", got, saved)
	}
	if got := len(ts.st.Rows("firewall address").Keys) - n0; got != saved {
		t.Errorf("%d addresses added, want %d", got, saved)
	}
	stmts := loadSessions * loadStatements
	t.Logf("load: %d sessions × %d statements = %d statements, %d commits (fsync on), wall %v, "+
		"%.0f statements/s, %.0f commits/s, peak HeapInuse %.1f MiB (%.1f MiB before), "+
		"%.0f MiB allocated (%.0f KiB per statement, clients included)",
		loadSessions, loadStatements, stmts, saved, f.wall.Round(time.Millisecond),
		float64(stmts)/f.wall.Seconds(), float64(saved)/f.wall.Seconds(),
		float64(f.peakHeap)/(1<<20), float64(before.HeapInuse)/(1<<20),
		float64(f.alloc)/(1<<20), float64(f.alloc)/1024/float64(stmts))
}

// BenchmarkLoad50x200 is TestLoadConcurrentSessions as a benchmark: one
// op is 50 concurrent sessions of 200 statements each.
func BenchmarkLoad50x200(b *testing.B) {
	ts := startServer(b, serverOpts{sync: true})
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tag := fmt.Sprintf("b%d", i)
		f := runLoad(b, ts, tag, i)
		peak = max(peak, f.peakHeap)
		b.StopTimer()
		checkLoad(b, ts, tag, i)
		b.StartTimer()
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(loadSessions*b.N)/sec, "sessions/s")
	b.ReportMetric(float64(loadSessions*loadStatements*b.N)/sec, "statements/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// TestShellStartTime measures `fosim run` on an existing data directory:
// from exec to exit with "exit" on stdin.
func TestShellStartTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: not in -short")
	}
	bin := buildFosim(t)
	data := filepath.Join(t.TempDir(), "data")
	// First start: creates the store with factory defaults.
	first := exec.Command(bin, "--data", data, "run")
	first.Stdin = strings.NewReader("exit\n")
	start := time.Now()
	if out, err := first.CombinedOutput(); err != nil {
		t.Fatalf("first start: %v\n%s", err, out)
	}
	t.Logf("first start (factory defaults written, fsync on) to exit: %v", time.Since(start).Round(10*time.Microsecond))
	if _, err := os.Stat(filepath.Join(data, "cmdb.db")); err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for i := 0; i < 7; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, bin, "--data", data, "run")
		cmd.Stdin = strings.NewReader("exit\n")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		el := time.Since(start)
		cancel()
		if err != nil {
			t.Fatalf("fosim run: %v\n%s", err, out.String())
		}
		times = append(times, el)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("shell start to exit (fosim run, existing data dir, stdin \"exit\"): min %v, median %v, max %v over %d runs",
		times[0].Round(10*time.Microsecond), times[len(times)/2].Round(10*time.Microsecond),
		times[len(times)-1].Round(10*time.Microsecond), len(times))
	if times[len(times)/2] > 2*time.Second {
		t.Errorf("median shell start %v exceeds 2s", times[len(times)/2])
	}
	// The shell really ran: a command before exit gives its output.
	cmd := exec.Command(bin, "--data", data, "run")
	cmd.Stdin = strings.NewReader("get system status | grep Version\nexit\n")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "Version: FortiGate-VM64 v7.6.1") {
		t.Errorf("fosim run with a command: %v %q", err, out)
	}
}
