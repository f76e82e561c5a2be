package cmdb

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/grammar"
)

// TestCrashSafety kills a child process with SIGKILL in the middle of a
// stream of commits, reopens its store and checks that every commit the
// child acknowledged is there, whole, and that nothing half-written is.
func TestCrashSafety(t *testing.T) {
	if dir := os.Getenv("FOSIM_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	for round, killAfter := range []int{5, 40, 120} {
		t.Run(fmt.Sprintf("kill-after-%d", killAfter), func(t *testing.T) {
			dir := t.TempDir()
			// Factory defaults first, so the child only commits.
			st, err := Open(dir, testSchema(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.EnsureFactory(st.Serial()); err != nil {
				t.Fatal(err)
			}
			base := st.Revision()
			st.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$")
			cmd.Env = append(os.Environ(), "FOSIM_CRASH_CHILD="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := -1
			sc := bufio.NewScanner(out)
			deadline := time.After(60 * time.Second)
			for acked < killAfter+round && sc.Scan() {
				if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
					acked, _ = strconv.Atoi(n)
				}
				select {
				case <-deadline:
					t.Fatal("child too slow")
				default:
				}
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Acks the child wrote before it died are still in the pipe:
			// those commits were acknowledged too.
			for sc.Scan() {
				if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
					acked, _ = strconv.Atoi(n)
				}
			}
			cmd.Wait()
			if acked < 0 {
				t.Fatal("child acknowledged nothing")
			}

			st, err = Open(dir, testSchema(t), Options{})
			if err != nil {
				t.Fatalf("reopen after SIGKILL: %v", err)
			}
			defer st.Close()
			rows := st.Rows("firewall address")
			present := 0
			for i := 0; ; i++ {
				e := rows.ByKey[fmt.Sprintf("crash%d", i)]
				if e == nil {
					if i <= acked {
						t.Fatalf("acknowledged commit %d lost (acked up to %d)", i, acked)
					}
					break
				}
				present++
				if got := e.Values["comment"]; len(got) != 1 || got[0] != fmt.Sprintf("commit %d", i) {
					t.Fatalf("entry crash%d half-written: comment %q", i, got)
				}
				if got := e.Values["subnet"]; len(got) != 2 || got[0] != fmt.Sprintf("10.%d.%d.0", i/256, i%256) {
					t.Fatalf("entry crash%d half-written: subnet %q", i, got)
				}
			}
			if present < acked+1 || present > acked+2 {
				t.Fatalf("%d entries present, %d acknowledged", present, acked+1)
			}
			if got, want := st.Revision(), base+uint64(present); got != want {
				t.Fatalf("revision %d, want %d (one per commit)", got, want)
			}
		})
	}
}

// crashChild commits one address per transaction and acknowledges each on
// stdout once Commit has returned, until it is killed.
func crashChild(dir string) {
	st, err := Open(dir, MustLoadSchema(), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sess := st.NewSession("admin", "crash")
	w := bufio.NewWriter(os.Stdout)
	for i := 0; i < 100000; i++ {
		script := fmt.Sprintf("config firewall address\nedit crash%d\nset subnet 10.%d.%d.0/24\nset comment \"commit %d\"\nnext\nend\n", i, i/256, i%256, i)
		for _, r := range grammar.Parse(script) {
			if r.Err != nil {
				fmt.Fprintln(os.Stderr, r.Err)
				os.Exit(1)
			}
			if _, err := sess.Exec(r.Stmt); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(w, "ack %d\n", i)
		w.Flush()
	}
	os.Exit(0)
}
