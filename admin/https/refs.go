package https

import (
	"slices"

	"github.com/fosim/fosim/cmdb"
)

// refCounts counts, for every entry of table, the values naming it,
// nested tables included: FortiOS's q_ref, the number "delete" would
// report in use. One pass over the configuration for a whole table.
func refCounts(schema *cmdb.Schema, v cmdb.View, table string) map[string]int {
	n := map[string]int{}
	var walk func(t *cmdb.Table, e *cmdb.Entry)
	walk = func(t *cmdb.Table, e *cmdb.Entry) {
		for _, a := range t.Attrs {
			if a.Child != nil {
				for _, c := range e.Children[a.Name].Ordered() {
					walk(a.Child, c)
				}
				continue
			}
			if !slices.Contains(a.Refs, table) {
				continue
			}
			seen := map[string]bool{}
			for _, name := range e.Get(a) {
				if !seen[name] {
					seen[name] = true
					n[name]++
				}
			}
		}
	}
	for _, t := range schema.Tables() {
		for _, e := range v.Table(t.Path).Ordered() {
			walk(t, e)
		}
	}
	return n
}
