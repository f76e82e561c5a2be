package cmdb

import (
	"slices"
)

// Entry is one row of a table (or the single row of a singleton): its
// non-default attribute values in canonical words, and its nested tables.
// Values absent from Values are at their default.
type Entry struct {
	Key      string
	Values   map[string][]string
	Children map[string]*Rows // by child attribute name
	seq      uint64           // storage order of a top-level entry
}

// NewEntry returns an empty entry.
func NewEntry(key string) *Entry { return &Entry{Key: key, Values: map[string][]string{}} }

// Clone returns a deep copy: sessions edit copies, never the running config.
func (e *Entry) Clone() *Entry {
	if e == nil {
		return nil
	}
	c := &Entry{Key: e.Key, Values: make(map[string][]string, len(e.Values)), seq: e.seq}
	for k, v := range e.Values {
		c.Values[k] = v // value slices are never mutated in place
	}
	if len(e.Children) > 0 {
		c.Children = make(map[string]*Rows, len(e.Children))
		for k, r := range e.Children {
			c.Children[k] = r.Clone()
		}
	}
	return c
}

// Get returns the attribute's words: the stored value or the default.
func (e *Entry) Get(a *Attr) []string {
	if v, ok := e.Values[a.Name]; ok {
		return v
	}
	return a.Default
}

// Value returns the first word of an attribute (or of its default).
func (e *Entry) Value(a *Attr) string {
	v := e.Get(a)
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Equal reports whether two entries hold the same values and children.
func (e *Entry) Equal(o *Entry) bool {
	if e == nil || o == nil {
		return e == o
	}
	if e.Key != o.Key || len(e.Values) != len(o.Values) {
		return false
	}
	for k, v := range e.Values {
		w, ok := o.Values[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	if len(e.Children) != len(o.Children) {
		return false
	}
	for k, r := range e.Children {
		if !r.Equal(o.Children[k]) {
			return false
		}
	}
	return true
}

// Rows is an ordered keyed table body.
type Rows struct {
	Keys  []string
	ByKey map[string]*Entry
}

// NewRows returns an empty table body.
func NewRows() *Rows { return &Rows{ByKey: map[string]*Entry{}} }

// Clone deep-copies the rows.
func (r *Rows) Clone() *Rows {
	if r == nil {
		return nil
	}
	c := &Rows{Keys: slices.Clone(r.Keys), ByKey: make(map[string]*Entry, len(r.ByKey))}
	for k, e := range r.ByKey {
		c.ByKey[k] = e.Clone()
	}
	return c
}

// Equal compares order and content.
func (r *Rows) Equal(o *Rows) bool {
	if r == nil || o == nil {
		return r.Len() == 0 && o.Len() == 0
	}
	if !slices.Equal(r.Keys, o.Keys) {
		return false
	}
	for k, e := range r.ByKey {
		if !e.Equal(o.ByKey[k]) {
			return false
		}
	}
	return true
}

// Len is the number of rows (0 for nil).
func (r *Rows) Len() int {
	if r == nil {
		return 0
	}
	return len(r.Keys)
}

// Put inserts or replaces an entry; a new key goes to the end.
func (r *Rows) Put(e *Entry) {
	if _, ok := r.ByKey[e.Key]; !ok {
		r.Keys = append(r.Keys, e.Key)
	}
	r.ByKey[e.Key] = e
}

// Remove deletes a key.
func (r *Rows) Remove(key string) {
	if _, ok := r.ByKey[key]; !ok {
		return
	}
	delete(r.ByKey, key)
	if i := slices.Index(r.Keys, key); i >= 0 {
		r.Keys = slices.Delete(r.Keys, i, i+1)
	}
}

// Move puts key before or after other.
func (r *Rows) Move(key, other string, before bool) {
	i := slices.Index(r.Keys, key)
	if i < 0 || key == other {
		return
	}
	r.Keys = slices.Delete(r.Keys, i, i+1)
	j := slices.Index(r.Keys, other)
	if j < 0 {
		r.Keys = slices.Insert(r.Keys, i, key)
		return
	}
	if !before {
		j++
	}
	r.Keys = slices.Insert(r.Keys, j, key)
}

// Ordered returns the entries in order.
func (r *Rows) Ordered() []*Entry {
	if r == nil {
		return nil
	}
	out := make([]*Entry, len(r.Keys))
	for i, k := range r.Keys {
		out[i] = r.ByKey[k]
	}
	return out
}
