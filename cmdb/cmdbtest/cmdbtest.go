// Package cmdbtest gives other packages' tests an appliance store with
// factory defaults, and a way to apply configuration to it.
package cmdbtest

import (
	"testing"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// factory is the factory configuration every test store starts from.
var factory = cmdb.SharedFactoryBackup

// Store opens a store with factory defaults in a temporary directory,
// closed when the test ends.
func Store(t testing.TB) *cmdb.Store {
	t.Helper()
	return StoreIn(t, t.TempDir(), cmdb.Options{NoSync: true})
}

// StoreIn is Store in dir with options (fsync on, for instance). The store
// is closed when the test ends.
func StoreIn(t testing.TB, dir string, opt cmdb.Options) *cmdb.Store {
	t.Helper()
	text, err := factory()
	if err != nil {
		t.Fatal(err)
	}
	schema, err := cmdb.LoadSchema()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cmdb.Open(dir, schema, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if res, err := st.Restore(text, "admin", false); err != nil {
		t.Fatalf("factory configuration: %v %v", err, res.Errors)
	}
	return st
}

// Apply runs a configuration script statement by statement, as an admin
// typing it, and fails the test on the first error.
func Apply(t testing.TB, st *cmdb.Store, script string) {
	t.Helper()
	sess := st.NewSession("admin", "test")
	for _, r := range grammar.Parse(script) {
		if r.Err != nil {
			t.Fatalf("%v", r.Err)
		}
		if _, err := sess.Exec(r.Stmt); err != nil {
			t.Fatalf("line %d: %s: %v", r.Stmt.Pos.Line, r.Stmt.Verb, err)
		}
	}
}
