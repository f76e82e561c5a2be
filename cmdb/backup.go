package cmdb

import (
	"crypto/rand"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

var kVerbatim = []byte("verbatim")

func putVerbatim(meta *bolt.Bucket, blocks []string) error {
	if len(blocks) == 0 {
		return meta.Delete(kVerbatim)
	}
	var buf []byte
	for _, b := range blocks {
		buf = putStr(buf, b)
	}
	return meta.Put(kVerbatim, buf)
}

func getVerbatim(meta *bolt.Bucket) ([]string, error) {
	v := meta.Get(kVerbatim)
	d := decoder{b: v}
	var out []string
	for len(d.b) > 0 && d.err == nil {
		out = append(out, d.str())
	}
	return out, d.err
}

// Verbatim returns the unmodelled config blocks a lenient restore kept.
func (s *Store) Verbatim() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.verbatim)
}

// Backup returns the configuration as a FortiOS backup file: the
// #config-version header, every non-default value, then the unmodelled
// blocks a lenient restore kept.
func (s *Store) Backup(user string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	v := runningView{s}
	b.WriteString(ConfigHeader(v, s.schema, user, s.revision))
	WriteConfig(&b, s.schema, v, false)
	for _, blk := range s.verbatim {
		b.WriteString(blk)
	}
	return b.String()
}

// RestoreResult reports a restore.
type RestoreResult struct {
	Errors   []ScriptError
	Kept     int // unmodelled blocks kept verbatim (lenient)
	Changes  int
	Revision uint64
}

// Restore replaces the whole configuration with a backup text in one
// commit. In strict mode any error (an unmodelled table included) leaves
// the configuration untouched; with lenient, unmodelled config blocks are
// kept verbatim and bad statements are reported but skipped.
func (s *Store) Restore(text, user string, lenient bool) (*RestoreResult, error) {
	sess := &Session{store: s, schema: s.schema, User: user, Source: "restore", ov: newOverlay(emptyView{}), detached: true}
	res := RunScript(sess, text, ScriptOptions{Lenient: lenient})
	out := &RestoreResult{Errors: res.Errors, Kept: len(res.Verbatim)}
	if len(res.Errors) > 0 && !lenient {
		return out, &Error{Msg: "restore failed: configuration unchanged", Code: CodeParse}
	}
	verbatim := res.Verbatim
	if verbatim == nil {
		verbatim = []string{}
	}
	cs, err := s.commit(nil, sess.ov, user, "restore", &verbatim, ^uint64(0))
	if err != nil {
		return out, err
	}
	if cs != nil {
		out.Changes = len(cs.Changes)
		out.Revision = cs.Revision
	}
	return out, nil
}

// diffTable computes the changes turning old into new (gobgp style: config
// changes are a diff applied through the one commit path).
func diffTable(table string, old, new *Rows) []Change {
	var cs []Change
	if old != nil {
		for _, k := range old.Keys {
			if new == nil || new.ByKey[k] == nil {
				cs = append(cs, Change{Table: table, Key: k, Before: old.ByKey[k]})
			}
		}
	}
	if new == nil {
		return cs
	}
	for _, k := range new.Keys {
		n := new.ByKey[k]
		var o *Entry
		if old != nil {
			o = old.ByKey[k]
		}
		if o != nil && o.Equal(n) {
			continue
		}
		n.seq = 0
		cs = append(cs, Change{Table: table, Key: k, Before: o, After: n})
	}
	// Keys kept in both must end in the new order.
	if old != nil {
		var kept []string
		for _, k := range old.Keys {
			if new.ByKey[k] != nil {
				kept = append(kept, k)
			}
		}
		var want []string
		for _, k := range new.Keys {
			if old.ByKey[k] != nil {
				want = append(want, k)
			}
		}
		if !slices.Equal(kept, want) {
			e := new.ByKey[new.Keys[0]]
			cs = append(cs, Change{Table: table, Key: e.Key, Before: e, After: e, Order: slices.Clone(new.Keys)})
		}
	}
	return cs
}

type emptyView struct{}

func (emptyView) Entry(string, string) *Entry { return nil }
func (emptyView) Table(string) *Rows          { return nil }

// rekeyIfNeeded tells whether this commit switches private-data-encryption,
// and returns the new secrets and (when enabling) the new appliance key.
func (s *Store) rekeyIfNeeded(v View, changes []Change) (*Secrets, []byte, bool) {
	t := s.schema.Table("system global")
	if t == nil || t.Attr("private-data-encryption") == nil {
		return s.secrets, nil, false
	}
	touched := false
	for _, c := range changes {
		if c.Table == "system global" {
			touched = true
		}
	}
	if !touched {
		return s.secrets, nil, false
	}
	was := singletonValue(runningView{s}, s.schema, "system global", "private-data-encryption")
	now := singletonValue(v, s.schema, "system global", "private-data-encryption")
	if was == now {
		return s.secrets, nil, false
	}
	if now != "enable" {
		return NewSecrets(nil), nil, true
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	return NewSecrets(key), key, true
}

// reencrypt returns changes re-encrypting every secret of v from old to new.
func (s *Store) reencrypt(v *overlay, old, new *Secrets) []Change {
	var cs []Change
	for _, t := range s.schema.order {
		rows := v.Table(t.Path)
		if rows == nil {
			continue
		}
		for _, k := range rows.Keys {
			e := rows.ByKey[k]
			upd := e.Clone()
			if rekeyEntry(t, upd, old, new) {
				cs = append(cs, Change{Table: t.Path, Key: k, Before: s.tables[t.Path].ByKey[k], After: upd})
				v.apply(cs[len(cs)-1])
			}
		}
	}
	return cs
}

func rekeyEntry(t *Table, e *Entry, old, new *Secrets) bool {
	changed := false
	for _, a := range t.Attrs {
		if a.Child != nil {
			for _, c := range e.Children[a.Name].Ordered() {
				if rekeyEntry(a.Child, c, old, new) {
					changed = true
				}
			}
			continue
		}
		v := e.Values[a.Name]
		if a.Type != TPassword || len(v) != 2 || v[0] != "ENC" {
			continue
		}
		plain, err := old.Decrypt(v[1])
		if err != nil {
			continue
		}
		e.Values[a.Name] = []string{"ENC", new.Encrypt(plain)}
		changed = true
	}
	return changed
}
