package cmdb

import (
	"net/netip"
	"slices"
	"strconv"
)

// The structured edit API: the one implementation of every change a
// session makes. The text path (Session.Exec: the CLI, scripts, restore)
// is a thin adapter over it, and any other front end (a REST API) calls it
// directly. The contract is in doc.go.

// Value is what Set, Append and Unselect take: the words an admin types
// after "set <attr>", checked and made canonical by Attr.Canon.
type Value []string

// Words is a value of one or more words: Words("ping", "https", "ssh").
func Words(words ...string) Value { return Value(words) }

// Int is an integer value.
func Int(n int64) Value { return Value{strconv.FormatInt(n, 10)} }

// Addr is an IP address value.
func Addr(a netip.Addr) Value { return Value{a.String()} }

// Prefix is an "address mask" value (ip, subnet): 10.0.0.1/24 is
// "10.0.0.1 255.255.255.0".
func Prefix(p netip.Prefix) Value { return Value{p.Addr().String(), maskString(p.Bits())} }

// Enable is an enable / disable option.
func Enable(on bool) Value {
	if on {
		return Value{"enable"}
	}
	return Value{"disable"}
}

// TableEdit is a table open in a session: a top-level table
// (Session.OpenTable) or a table nested in an open entry
// (EntryEdit.OpenTable). Delete, Purge, Rename, Clone and Move take effect
// at once: committed in an interactive session, pending in a batch, and
// made in the owning entry's candidate for a nested table (saved with it).
type TableEdit struct {
	sess   *Session
	table  *Table
	rows   *Rows      // nested table: the rows inside the owner's candidate
	parent *EntryEdit // nested table: the open entry that owns it
}

// EntryEdit is an entry open in a session: a copy (the candidate) that
// Set, Unset, Append and Unselect change and Save saves. Dropping it
// without Save is FortiOS's "abort".
type EntryEdit struct {
	sess    *Session
	table   *Table
	entry   *Entry     // the candidate
	before  *Entry     // the saved entry it was copied from (nil when new)
	rows    *Rows      // nested keyed table: the rows inside the owner's candidate
	parent  *EntryEdit // nested table: the open entry that owns it
	created bool
}

// lock takes the store's read lock for one operation; a save that commits
// releases it around the commit (flushLocked).
func (s *Session) lock() (unlock func()) {
	s.store.mu.RLock()
	return s.store.mu.RUnlock
}

// OpenTable opens a top-level table by its exact path ("firewall
// address", "system global"). A singleton's entry is then opened with
// Edit("").
func (s *Session) OpenTable(path string) (*TableEdit, error) {
	defer s.lock()()
	t := s.schema.Table(path)
	if t == nil {
		return nil, parseErr(path)
	}
	return s.openTable(t)
}

func (s *Session) openTable(t *Table) (*TableEdit, error) {
	if err := s.mayRead(t); err != nil {
		return nil, err
	}
	return &TableEdit{sess: s, table: t}, nil
}

// Table is the schema table.
func (t *TableEdit) Table() *Table { return t.table }

// Keys lists the entry names in order, as the session sees them.
func (t *TableEdit) Keys() []string {
	defer t.sess.lock()()
	return slices.Clone(t.current().Keys)
}

// current returns the rows the table's operations work on.
func (t *TableEdit) current() *Rows {
	if t.parent != nil {
		if t.rows == nil {
			return NewRows()
		}
		return t.rows
	}
	if r := t.sess.ov.Table(t.table.Path); r != nil {
		return r
	}
	return NewRows()
}

// Edit opens an entry ("edit"), a new one when the key names none
// (Created tells). In a table with numeric keys "0" takes the next free
// id; a singleton's entry is Edit(""). Nothing is saved until Save.
func (t *TableEdit) Edit(key string) (*EntryEdit, error) {
	defer t.sess.lock()()
	return t.edit(key)
}

func (t *TableEdit) edit(key string) (*EntryEdit, error) {
	s := t.sess
	if t.table.Singleton {
		if key != "" {
			return nil, parseErr(key)
		}
		cur := t.current().ByKey[""]
		return &EntryEdit{sess: s, table: t.table, entry: cloneOrNew(cur, ""), before: cur, parent: t.parent}, nil
	}
	key, err := t.checkKey(key)
	if err != nil {
		return nil, err
	}
	cur := t.current().ByKey[key]
	e := &EntryEdit{sess: s, table: t.table, before: cur, rows: t.rows, parent: t.parent}
	if cur != nil {
		e.entry = cur.Clone()
		return e, nil
	}
	if err := s.mayWrite(t.table); err != nil {
		return nil, err
	}
	e.entry, e.created = NewEntry(key), true
	s.initEntry(t.table, e.entry)
	return e, nil
}

func cloneOrNew(e *Entry, key string) *Entry {
	if e != nil {
		return e.Clone()
	}
	return NewEntry(key)
}

// initEntry fills what FortiOS generates for a new entry (uuid).
func (s *Session) initEntry(t *Table, e *Entry) {
	for _, a := range t.genAttrs {
		e.Values[a.Name] = []string{newUUID()}
	}
}

// checkKey validates an entry name; "0" in a numbered table takes the
// next free id.
func (t *TableEdit) checkKey(key string) (string, error) {
	tb := t.table
	if tb.KeyType == TInt {
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil || n < tb.KeyMin || n > tb.KeyTop {
			return "", valueErr(key)
		}
		if n == 0 {
			var max int64
			for _, k := range t.current().Keys {
				if v, _ := strconv.ParseInt(k, 10, 64); v > max {
					max = v
				}
			}
			n = max + 1
		}
		return strconv.FormatInt(n, 10), nil
	}
	if key == "" || (tb.KeyMax > 0 && len(key) > tb.KeyMax) {
		return "", valueErr(key)
	}
	return key, nil
}

func notFound() *Error { return &Error{Msg: "entry not found in datasource", Code: CodeNotFound} }

// Delete deletes an entry ("delete"); one that other entries name is
// refused (-23).
func (t *TableEdit) Delete(key string) error {
	defer t.sess.lock()()
	return t.delete(key)
}

func (t *TableEdit) delete(key string) error {
	s := t.sess
	if err := s.mayWrite(t.table); err != nil {
		return err
	}
	cur := t.current().ByKey[key]
	if cur == nil {
		return notFound()
	}
	if t.parent != nil {
		t.rows.Remove(key)
		return nil
	}
	if n := countRefs(s.schema, s.ov, t.table.Path, key); n > 0 {
		return inUseErr(n)
	}
	return s.change(Change{Table: t.table.Path, Key: key, Before: cur})
}

// Purge deletes every entry ("purge"); references from inside the table
// itself do not count.
func (t *TableEdit) Purge() error {
	defer t.sess.lock()()
	return t.purge()
}

func (t *TableEdit) purge() error {
	s := t.sess
	if err := s.mayWrite(t.table); err != nil {
		return err
	}
	if t.parent != nil {
		if t.rows != nil {
			t.rows.Keys, t.rows.ByKey = nil, map[string]*Entry{}
		}
		return nil
	}
	var cs []Change
	for _, e := range t.current().Ordered() {
		cs = append(cs, Change{Table: t.table.Path, Key: e.Key, Before: e})
	}
	ov := newOverlay(s.ov)
	for _, c := range cs {
		ov.apply(c)
	}
	for _, c := range cs {
		if n := countRefs(s.schema, ov, t.table.Path, c.Key); n > 0 {
			return inUseErr(n)
		}
	}
	return s.change(cs...)
}

// copySource checks the two names of rename / clone: from must exist, to
// must be a valid new name.
func (t *TableEdit) copySource(from, to string) (*Rows, *Entry, string, error) {
	if err := t.sess.mayWrite(t.table); err != nil {
		return nil, nil, "", err
	}
	rows := t.current()
	cur := rows.ByKey[from]
	if cur == nil {
		return nil, nil, "", notFound()
	}
	newKey, err := t.checkKey(to)
	if err != nil {
		return nil, nil, "", err
	}
	if rows.ByKey[newKey] != nil {
		return nil, nil, "", &Error{Msg: "entry '" + newKey + "' already exists", Code: CodeDuplicate}
	}
	return rows, cur, newKey, nil
}

// Rename renames an entry in place ("rename … to …") and rewrites every
// reference to it.
func (t *TableEdit) Rename(from, to string) error {
	defer t.sess.lock()()
	return t.rename(from, to)
}

func (t *TableEdit) rename(from, to string) error {
	s := t.sess
	rows, cur, newKey, err := t.copySource(from, to)
	if err != nil {
		return err
	}
	renamed := cur.Clone()
	renamed.Key = newKey
	if t.parent != nil {
		i := slices.Index(t.rows.Keys, from)
		t.rows.Remove(from)
		t.rows.Put(renamed)
		t.rows.Move(newKey, keyAt(t.rows.Keys, i), true)
		return nil
	}
	path := t.table.Path
	order := slices.Clone(rows.Keys)
	order[slices.Index(order, from)] = newKey
	renamed.seq = 0
	cs := []Change{
		{Table: path, Key: from, Before: cur},
		{Table: path, Key: newKey, After: renamed},
		{Table: path, Key: newKey, Before: renamed, After: renamed, Order: order},
	}
	// Rewrite every reference to the old name, once per entry; only the
	// values that name it change (a default that names it becomes explicit).
	rewritten := map[*Entry]bool{}
	forEachRef(s.schema, s.ov, func(tb *Table, top *Entry, a *Attr, e *Entry) {
		if rewritten[top] || !slices.Contains(a.Refs, path) || !slices.Contains(e.Get(a), from) {
			return
		}
		if tb.Path == path && top.Key == from {
			return // the renamed entry itself is replaced above
		}
		rewritten[top] = true
		upd := top.Clone()
		walkRefs(tb, upd, func(a2 *Attr, e2 *Entry) {
			if v := e2.Get(a2); slices.Contains(a2.Refs, path) && slices.Contains(v, from) {
				v = slices.Clone(v)
				v[slices.Index(v, from)] = newKey
				setValue(e2, a2, v)
			}
		})
		cs = append(cs, Change{Table: tb.Path, Key: top.Key, Before: top, After: upd})
	})
	return s.change(cs...)
}

func keyAt(keys []string, i int) string {
	if i >= 0 && i < len(keys) {
		return keys[i]
	}
	return ""
}

// Clone copies an entry under a new name ("clone … to …"), with a new uuid.
func (t *TableEdit) Clone(from, to string) error {
	defer t.sess.lock()()
	return t.clone(from, to)
}

func (t *TableEdit) clone(from, to string) error {
	_, cur, newKey, err := t.copySource(from, to)
	if err != nil {
		return err
	}
	c := cur.Clone()
	c.Key, c.seq = newKey, 0
	t.sess.initEntry(t.table, c)
	if t.parent != nil {
		t.rows.Put(c)
		return nil
	}
	return t.sess.change(Change{Table: t.table.Path, Key: newKey, After: c})
}

// Move puts entry key before (or after) entry other ("move").
func (t *TableEdit) Move(key, other string, before bool) error {
	defer t.sess.lock()()
	return t.move(key, other, before)
}

func (t *TableEdit) move(key, other string, before bool) error {
	if err := t.sess.mayWrite(t.table); err != nil {
		return err
	}
	rows := t.current()
	if rows.ByKey[key] == nil || rows.ByKey[other] == nil {
		return notFound()
	}
	if t.parent != nil {
		t.rows.Move(key, other, before)
		return nil
	}
	r := &Rows{Keys: slices.Clone(rows.Keys), ByKey: rows.ByKey}
	r.Move(key, other, before)
	e := rows.ByKey[key]
	return t.sess.change(Change{Table: t.table.Path, Key: key, Before: e, After: e, Order: r.Keys})
}

// Table is the schema table of the entry.
func (e *EntryEdit) Table() *Table { return e.table }

// Key is the entry's name ("" for a singleton).
func (e *EntryEdit) Key() string { return e.entry.Key }

// Created tells whether Edit made a new entry (not saved yet).
func (e *EntryEdit) Created() bool { return e.created }

// Entry is the candidate as it is now (read-only for the caller).
func (e *EntryEdit) Entry() *Entry { return e.entry }

// settable checks that attribute a (typed as typed) can be changed in the
// entry now: the session may write the table, the attribute exists and its
// condition holds.
func (e *EntryEdit) settable(a *Attr, typed string) error {
	if err := e.sess.mayWrite(e.table); err != nil {
		return err
	}
	if a == nil || a.Child != nil || !condHolds(e.table, e.entry, a) {
		return parseErr(typed)
	}
	return nil
}

type setOp int

const (
	opSet setOp = iota
	opAppend
	opUnselect
)

// Set sets an attribute (exact name) to v. Set(attr, Words("")) empties a
// single-valued attribute, as "set attr ”" does.
func (e *EntryEdit) Set(attr string, v Value) error {
	defer e.sess.lock()()
	return e.set(e.table.Attr(attr), attr, opSet, v)
}

// Append adds words to a multi-valued attribute ("append").
func (e *EntryEdit) Append(attr string, v Value) error {
	defer e.sess.lock()()
	return e.set(e.table.Attr(attr), attr, opAppend, v)
}

// Unselect removes words from a multi-valued attribute ("unselect"); a
// word it does not hold is refused.
func (e *EntryEdit) Unselect(attr string, v Value) error {
	defer e.sess.lock()()
	return e.set(e.table.Attr(attr), attr, opUnselect, v)
}

func (e *EntryEdit) set(a *Attr, typed string, op setOp, words []string) error {
	if err := e.settable(a, typed); err != nil {
		return err
	}
	s := e.sess
	if op != opSet && !a.Type.Multi() {
		return parseErr(typed)
	}
	if op == opSet && len(words) == 1 && words[0] == "" && !a.Type.Multi() {
		delete(e.entry.Values, a.Name) // set x "" empties it, as show full prints
		return nil
	}
	canon, err := a.Canon(words, s.store.secrets)
	if err != nil {
		return err
	}
	if a.Type == TPassword || a.Type == TPasswordHash {
		if err := s.checkSecretPolicy(e.table, a, e.before, words); err != nil {
			return err
		}
	}
	if a.Type == TRef || a.Type == TRefs {
		for _, name := range canon {
			if !refExists(s.ov, a, name) {
				return notFoundInDatasource(name)
			}
		}
	}
	switch op {
	case opAppend:
		merged := slices.Clone(e.entry.Get(a))
		for _, w := range canon {
			if !slices.Contains(merged, w) {
				merged = append(merged, w)
			}
		}
		canon = merged
	case opUnselect:
		cur := e.entry.Get(a)
		for _, w := range canon {
			if !slices.Contains(cur, w) {
				return valueErr(w)
			}
		}
		var kept []string
		for _, w := range cur {
			if !slices.Contains(canon, w) {
				kept = append(kept, w)
			}
		}
		canon = kept
	}
	if a.Type == TOptions {
		a.sortOptions(canon)
	}
	if a.Max > 0 && a.Type.Multi() && a.Type != TStrings && len(canon) > a.Max {
		return valueErr(canon[len(canon)-1])
	}
	setValue(e.entry, a, canon)
	return nil
}

// setValue stores canonical words, dropping them when they equal the default
// so that show prints only what differs.
func setValue(e *Entry, a *Attr, words []string) {
	if slices.Equal(words, a.Default) || (len(words) == 0 && len(a.Default) == 0) {
		delete(e.Values, a.Name)
		return
	}
	e.Values[a.Name] = words
}

// Unset puts an attribute back to its default ("unset"); the uuid stays.
func (e *EntryEdit) Unset(attr string) error {
	defer e.sess.lock()()
	return e.unset(e.table.Attr(attr), attr)
}

func (e *EntryEdit) unset(a *Attr, typed string) error {
	if err := e.settable(a, typed); err != nil {
		return err
	}
	if a.Type == TUUID {
		return nil // FortiOS keeps the uuid
	}
	delete(e.entry.Values, a.Name)
	return nil
}

// OpenTable opens the table nested in the entry under attribute attr
// ("config <attr>" inside an edit). Its entries are saved into this
// candidate, and reach the store when this entry is saved.
func (e *EntryEdit) OpenTable(attr string) (*TableEdit, error) {
	defer e.sess.lock()()
	return e.openChild(e.table.Attr(attr), attr)
}

func (e *EntryEdit) openChild(a *Attr, typed string) (*TableEdit, error) {
	if a == nil || a.Child == nil || !condHolds(e.table, e.entry, a) {
		return nil, parseErr(typed)
	}
	if e.entry.Children == nil {
		e.entry.Children = map[string]*Rows{}
	}
	rows := e.entry.Children[a.Name]
	if a.Child.Singleton {
		// a nested singleton is stored only when saved with values
		return &TableEdit{sess: e.sess, table: a.Child, rows: rows, parent: e}, nil
	}
	if rows == nil {
		rows = NewRows()
		e.entry.Children[a.Name] = rows
	}
	return &TableEdit{sess: e.sess, table: a.Child, rows: rows, parent: e}, nil
}

// Save saves the entry ("next"): its save-time checks run against the
// session's view; a nested entry goes into its owner's candidate, a
// top-level one is committed (interactive) or kept for the batch's commit.
// The handle stays open on a fresh copy: later changes need another Save.
// Tables opened from it before the Save belong to the saved copy.
func (e *EntryEdit) Save() error {
	defer e.sess.lock()()
	if err := e.save(); err != nil {
		return err
	}
	e.before, e.entry, e.created = e.entry, e.entry.Clone(), false
	return nil
}

// save is Save for the text path, which leaves the level after it.
func (e *EntryEdit) save() error {
	s := e.sess
	prune(e.table, e.entry)
	if err := checkEntry(s.ov, e.table, e.entry); err != nil {
		return err
	}
	if e.parent != nil {
		name := e.table.Path[len(e.parent.table.Path)+1:]
		owner := e.parent.entry
		if owner.Children == nil {
			owner.Children = map[string]*Rows{}
		}
		if e.table.Singleton {
			if len(e.entry.Values) == 0 && len(e.entry.Children) == 0 {
				delete(owner.Children, name)
				return nil
			}
			r := NewRows()
			r.Put(e.entry)
			owner.Children[name] = r
			return nil
		}
		e.rows.Put(e.entry)
		return nil
	}
	if e.before != nil && e.before.Equal(e.entry) {
		s.noteSaved(e.table.Path, e.entry.Key)
		return nil
	}
	return s.change(Change{Table: e.table.Path, Key: e.entry.Key, Before: e.before, After: e.entry})
}

// Commit commits a batch's saved changes in one transaction (an
// interactive session has none waiting: every save commits). The commit
// runs every whole-configuration check on the configuration as it will be.
func (s *Session) Commit() error {
	defer s.lock()()
	return s.flushLocked()
}
