package iked

import (
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

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
