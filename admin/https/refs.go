package https

import (
	"slices"

	"github.com/fosim/fosim/cmdb"
)

// countRefs counts the values naming entry key of table, nested tables
// included: FortiOS's q_ref, the number "delete" would report in use.
func countRefs(schema *cmdb.Schema, v cmdb.View, table, key string) int {
	n := 0
	var walk func(t *cmdb.Table, e *cmdb.Entry)
	walk = func(t *cmdb.Table, e *cmdb.Entry) {
		for _, a := range t.Attrs {
			if a.Child != nil {
				for _, c := range e.Children[a.Name].Ordered() {
					walk(a.Child, c)
				}
				continue
			}
			if slices.Contains(a.Refs, table) && slices.Contains(e.Get(a), key) {
				n++
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
