package daemons

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/grammar"
)

// recorder is a test daemon: it runs a goroutine until stopped, refuses
// addresses named "refused" and fails to apply ones named "broken".
type recorder struct {
	mu      sync.Mutex
	applied []string
	stop    chan struct{}
	done    chan struct{}
}

func (r *recorder) Name() string     { return "ike" }
func (r *recorder) Tables() []string { return []string{"firewall address"} }

func (r *recorder) Start(ctx context.Context, rt *Runtime) error {
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.done)
		select {
		case <-ctx.Done():
		case <-r.stop:
		}
	}()
	return nil
}

func (r *recorder) Validate(cs *cmdb.ChangeSet, _ cmdb.View) error {
	for _, c := range cs.Changes {
		if c.Key == "refused" {
			return &cmdb.Error{Msg: "refused by ike", Code: cmdb.CodeCheck}
		}
	}
	return nil
}

func (r *recorder) Apply(cs *cmdb.ChangeSet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs.Changes {
		if c.Key == "broken" {
			return errors.New("cannot use it")
		}
		r.applied = append(r.applied, c.Key)
	}
	return nil
}

func (r *recorder) Stop(ctx context.Context) error {
	close(r.stop)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestSupervisorTwoPhases(t *testing.T) {
	before := runtime.NumGoroutine()
	st := cmdbtest.Store(t)
	c := clock.New(time.UTC)
	hub := debuglog.New(c.Now)
	var dbg strings.Builder
	ds := hub.Attach(&dbg)
	ds.Enable(true)
	ds.SetLevel("ike", -1)
	rec := &recorder{}
	sup := NewSupervisor(&Runtime{Store: st, Clock: c, Debug: hub}, rec)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sess := st.NewSession("admin", "test")
	exec := func(script string) error {
		var last error
		for _, r := range grammar.Parse(script) {
			if _, err := sess.Exec(r.Stmt); err != nil {
				last = err
			}
		}
		return last
	}
	if err := exec("config firewall address\nedit ok\nset subnet 10.0.0.0/8\nnext\nend\n"); err != nil {
		t.Fatal(err)
	}
	rev := st.Revision()
	err := exec("config firewall address\nedit refused\nset subnet 10.0.0.0/8\nnext\nabort\n")
	if err == nil || err.Error() != "refused by ike" || st.Revision() != rev || st.Lookup("firewall address", "refused") != nil {
		t.Fatalf("validate refusal: %v (revision %d → %d)", err, rev, st.Revision())
	}
	if err := exec("config firewall address\nedit broken\nset subnet 10.0.0.0/8\nnext\nend\n"); err != nil {
		t.Fatalf("an apply failure must not fail the commit: %v", err)
	}
	if st.Lookup("firewall address", "broken") == nil {
		t.Fatal("commit lost")
	}
	if !strings.Contains(dbg.String(), "not applied, keeping the previous configuration: cannot use it") {
		t.Fatalf("apply failure not logged: %q", dbg.String())
	}
	// Changes to tables it does not watch do not reach it.
	exec("config system global\nset hostname x\nend\n")
	rec.mu.Lock()
	got := strings.Join(rec.applied, ",")
	rec.mu.Unlock()
	if got != "ok" {
		t.Fatalf("applied %q", got)
	}
	if err := sup.Stop(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	// After Stop nothing reaches it.
	exec("config firewall address\nedit refused\nset subnet 10.0.0.0/8\nnext\nend\n")
	if st.Lookup("firewall address", "refused") == nil {
		t.Fatal("a stopped daemon still validates")
	}
	ds.Detach()
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines leaked: %d before, %d after", before, n)
	}
}
