package cmdb

import (
	"fmt"
	"slices"
)

// Concurrent sessions: every session edits a copy of an entry taken when
// it typed "edit", and another admin may commit the same entry meanwhile.
// At commit each change is rebased on the entry as it is now: the
// attributes this session changed (set, unset, a nested table edited) take
// its values, every other attribute keeps the committed one, so no
// committed change is dropped and the entry keeps its uuid. When both
// sessions set the same attribute, the later save wins, as on a FortiGate
// where the second "next" writes the values that admin typed. An entry
// another session deleted is not brought back: the save is refused.

// rebase rewrites changes made against stale entries onto the current ones
// (cur looks an entry up as the commit has it so far); changes made
// against the current entries come back as they are.
func rebase(schema *Schema, changes []Change, cur func(table, key string) *Entry, keys func(table string) []string) ([]Change, error) {
	latest := map[tableKey]*Entry{}
	seen := map[tableKey]bool{}
	lookup := func(tk tableKey) *Entry {
		if seen[tk] {
			return latest[tk]
		}
		return cur(tk.table, tk.key)
	}
	rebased := false
	out := changes
	for i, c := range changes {
		tk := tableKey{c.Table, c.Key}
		now := lookup(tk)
		if c.Order != nil {
			if order := rebaseOrder(c.Order, keys(c.Table), latest, seen, c.Table); order != nil {
				out = cloneOnce(out, changes, &rebased)
				out[i].Order = order
			}
		}
		if now != c.Before {
			switch {
			case c.After == nil:
				// a delete deletes whatever the entry has become
				out = cloneOnce(out, changes, &rebased)
				out[i].Before = now
			case c.Before != nil && now == nil:
				return nil, &Error{Msg: fmt.Sprintf("entry '%s' was deleted by another admin session: not saved", c.Key), Code: CodeNotFound}
			default:
				t := schema.Table(c.Table)
				if t == nil {
					return nil, fmt.Errorf("cmdb: unknown table %q", c.Table)
				}
				merged := mergeEntry(t, c.Before, c.After, now)
				prune(t, merged)
				out = cloneOnce(out, changes, &rebased)
				out[i].Before, out[i].After = now, merged
			}
		}
		seen[tk] = true
		latest[tk] = out[i].After
	}
	return out, nil
}

type tableKey struct{ table, key string }

func cloneOnce(out, orig []Change, done *bool) []Change {
	if !*done {
		*done = true
		return slices.Clone(orig)
	}
	return out
}

// rebaseOrder keeps a move's order valid when other sessions added or
// removed entries since: keys gone are dropped, keys new are kept after
// the moved ones in their current order. It returns nil when order needs
// no change.
func rebaseOrder(order, current []string, latest map[tableKey]*Entry, seen map[tableKey]bool, table string) []string {
	have := map[string]bool{}
	for _, k := range current {
		have[k] = true
	}
	// entries created or deleted earlier in this commit
	for tk := range seen {
		if tk.table == table {
			have[tk.key] = latest[tk] != nil
		}
	}
	inOrder := map[string]bool{}
	var out []string
	changed := false
	for _, k := range order {
		inOrder[k] = true
		if have[k] {
			out = append(out, k)
		} else {
			changed = true
		}
	}
	for _, k := range current {
		if !inOrder[k] && have[k] {
			out = append(out, k)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return out
}

// mergeEntry applies what mine changed from base onto theirs.
func mergeEntry(t *Table, base, mine, theirs *Entry) *Entry {
	if base == nil {
		base = NewEntry(mine.Key)
	}
	out := theirs.Clone()
	out.Key = mine.Key
	for _, name := range unionKeys(base.Values, mine.Values) {
		if a := t.Attr(name); a != nil && a.Type == TUUID && len(theirs.Values[name]) > 0 {
			continue // an entry keeps the uuid it has
		}
		if slices.Equal(base.Values[name], mine.Values[name]) {
			continue
		}
		if v, ok := mine.Values[name]; ok {
			out.Values[name] = slices.Clone(v)
		} else {
			delete(out.Values, name)
		}
	}
	for _, name := range unionKeys(base.Children, mine.Children) {
		if base.Children[name].Equal(mine.Children[name]) {
			continue
		}
		if out.Children == nil {
			out.Children = map[string]*Rows{}
		}
		if r, ok := mine.Children[name]; ok {
			out.Children[name] = r.Clone()
		} else {
			delete(out.Children, name)
		}
	}
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
