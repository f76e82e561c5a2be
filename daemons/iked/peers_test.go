package iked

import (
	"os"
	"testing"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// missingPeer fails the test when a third-party peer it needs is missing
// under FOSIM_REQUIRE_PEERS=1 (CI), and skips it loudly otherwise.
func missingPeer(t testing.TB, need string) {
	t.Helper()
	if os.Getenv("FOSIM_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s (FOSIM_REQUIRE_PEERS=1)", need)
	}
	t.Log("!!!!!!!! SKIPPED: " + need)
	t.Skip("!!!!!!!! SKIPPED: " + need)
}

// firstRefusal runs a configuration script as an admin would type it and
// returns the first error (a commit iked's Validate refused).
func firstRefusal(st *cmdb.Store, script string) error {
	sess := st.NewSession("admin", "test")
	var refused error
	for _, r := range grammar.Parse(script) {
		if _, err := sess.Exec(r.Stmt); err != nil && refused == nil {
			refused = err
		}
	}
	return refused
}
