package iked

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// TestConcurrentSavesOnWatchedTable is issue 8's lock-up: many sessions
// saving firewall addresses (a table iked reloads on) while iked reads the
// store from its Apply. Before the fix, iked's reload took the store's read
// lock twice and a waiting commit blocked the second, freezing everything.
// Every subscriber must also see the revisions in order, none missing.
func TestConcurrentSavesOnWatchedTable(t *testing.T) {
	l := newLabTB(t, "", false)
	var mu sync.Mutex
	var seen []uint64
	unsub := l.st.Subscribe(func(cs *cmdb.ChangeSet) {
		mu.Lock()
		seen = append(seen, cs.Revision)
		mu.Unlock()
	})
	defer unsub()
	start := l.st.Revision()
	const sessions, saves = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess := l.st.NewSession("admin", fmt.Sprintf("ssh %d", i))
			exec := func(line string) error {
				for _, r := range grammar.ParseLine(line) {
					if r.Err != nil {
						return r.Err
					}
					if _, err := sess.Exec(r.Stmt); err != nil {
						return fmt.Errorf("%s: %w", line, err)
					}
				}
				return nil
			}
			if err := exec("config firewall address"); err != nil {
				errs <- err
				return
			}
			for j := range saves {
				for _, line := range []string{
					fmt.Sprintf("edit h%d-%d", i, j),
					fmt.Sprintf("set subnet 10.%d.%d.1/32", i, j),
					"next",
				} {
					if err := exec(line); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- exec("end")
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the appliance locked up: sessions still saving after 60 s")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rows := l.st.Rows("firewall address")
	for i := range sessions {
		for j := range saves {
			if e := rows.ByKey[fmt.Sprintf("h%d-%d", i, j)]; e == nil {
				t.Fatalf("h%d-%d lost", i, j)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != sessions*saves {
		t.Fatalf("subscriber saw %d commits, want %d", len(seen), sessions*saves)
	}
	for i, r := range seen {
		if r != start+uint64(i)+1 {
			t.Fatalf("subscriber saw revision %d at position %d, want %d (out of order or missing)", r, i, start+uint64(i)+1)
		}
	}
	// iked's own configuration follows the last commit.
	l.d.mu.Lock()
	rev := l.d.cfg.Revision
	l.d.mu.Unlock()
	if rev != l.st.Revision() {
		t.Fatalf("iked at revision %d, store at %d", rev, l.st.Revision())
	}
}
