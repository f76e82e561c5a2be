package cmdb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fosim/fosim/grammar"
)

// Session is one admin's editing context: the stack of config / edit levels
// and, in batch mode, the entries saved but not yet committed. The CLI, a
// script, a restore and the SSH exec channel all edit through a Session.
//
// FortiOS semantics: "next" saves the entry, "end" saves it and leaves the
// level, "abort" leaves without saving. Interactively every save is a
// commit. In batch mode (scripts) saves accumulate and are committed in one
// transaction when the outermost "end" closes the config block, so a
// million-line file does not cost a million fsyncs; an entry that fails its
// checks is refused on its own and the rest of the block still lands.
type Session struct {
	store  *Store
	schema *Schema
	User   string
	Source string
	Batch  bool
	// HoldCommits keeps a batch's saved entries until Flush, even across
	// top-level blocks (one transaction for a whole file).
	HoldCommits bool

	stack   []*frame
	pending []Change
	ov      *overlay
	// detached sessions (restore) build a configuration in their overlay
	// and never commit it themselves.
	detached bool
	// checkedAt is the store revision every check of the pending batch ran
	// against (checked tells it is set): if no other commit landed since,
	// the commit need not check references again.
	checkedAt uint64
	checked   bool
	committed int
	// access is the admin's profile; nil for a system session.
	access *Access
	// saved lists, in a detached session, the keys saved per table in the
	// order the script saved them (a restore's table order).
	saved map[string][]string
}

// frame is one level of the config stack.
type frame struct {
	table  *Table
	entry  *Entry // the candidate at an edit level or in a singleton
	before *Entry // the saved entry being edited (nil when new)
	rows   *Rows  // a nested keyed table's rows, inside the parent candidate
	parent *frame // the edit level owning a nested table
}

func (f *frame) isEntry() bool { return f.entry != nil }

// NewSession opens an editing session on the store for the administrator
// user, limited by the access profile the admin has now (an unknown user
// may do nothing).
func (s *Store) NewSession(user, source string) *Session {
	s.mu.RLock()
	access := s.accessOf(user)
	s.mu.RUnlock()
	return &Session{store: s, schema: s.schema, User: user, Source: source, ov: newOverlay(runningView{s}), access: access}
}

// NewSystemSession opens a session with every right, for fosim's own host
// tools (fosim apply, show, backup on the data directory, whose files the
// caller owns already) and for what the appliance does itself (an admin
// changing their own password at login). user names who it is for.
func (s *Store) NewSystemSession(user, source string) *Session {
	return &Session{store: s, schema: s.schema, User: user, Source: source, ov: newOverlay(runningView{s})}
}

// Store returns the session's store.
func (s *Session) Store() *Store { return s.store }

// Depth is the number of open levels (0 at the top).
func (s *Session) Depth() int { return len(s.stack) }

// Prompt returns the context word FortiOS shows in the prompt: the table's
// last path word, or the entry name; "" at the top.
func (s *Session) Prompt() string {
	if len(s.stack) == 0 {
		return ""
	}
	f := s.stack[len(s.stack)-1]
	if f.isEntry() && !f.table.Singleton {
		return f.entry.Key
	}
	return f.table.Name()
}

// Context returns the table and candidate entry of the innermost level (entry
// nil at a table level, both nil at the top).
func (s *Session) Context() (*Table, *Entry) {
	if len(s.stack) == 0 {
		return nil, nil
	}
	f := s.stack[len(s.stack)-1]
	return f.table, f.entry
}

// Level tells what the innermost level is: 0 the top, 1 a table level
// (edit / delete …), 2 an entry or singleton (set / unset …).
func (s *Session) Level() int {
	f := s.top()
	switch {
	case f == nil:
		return 0
	case f.isEntry():
		return 2
	}
	return 1
}

// Keys lists the entry names of the table at the innermost level (or of the
// table the edited entry belongs to), for '?' and completion.
func (s *Session) Keys() []string {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	f := s.top()
	if f == nil {
		return nil
	}
	if f.isEntry() && f.parent != nil && f.rows == nil {
		return nil
	}
	return slices.Clone(s.rowsOf(f).Keys)
}

// View is the configuration as this session sees it: running plus its own
// saved-but-uncommitted entries.
func (s *Session) View() View { return s.ov }

// Exec runs one statement. The returned text is what the CLI prints on
// success (show output, "new entry 'x' added"); an *Error carries FortiOS's
// message and return code.
func (s *Session) Exec(st grammar.Stmt) (string, error) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	if !s.checked {
		s.checkedAt, s.checked = s.store.revision, true
	}
	switch st.Kind {
	case grammar.Comment:
		return "", nil
	case grammar.Config:
		return "", s.config(st.Args)
	case grammar.Edit:
		return s.edit(st.Args[0])
	case grammar.Set:
		return "", s.set(st.Args, opSet)
	case grammar.Append:
		return "", s.set(st.Args, opAppend)
	case grammar.Unselect:
		return "", s.set(st.Args, opUnselect)
	case grammar.Unset:
		return "", s.unset(st.Args[0])
	case grammar.Next:
		return "", s.next(st)
	case grammar.End:
		return "", s.end(st)
	case grammar.Abort:
		return "", s.abort(st)
	case grammar.Delete:
		return "", s.delete(st.Args[0])
	case grammar.Purge:
		return "", s.purge(st)
	case grammar.Rename:
		return "", s.rename(st.Args[0], st.Args[1])
	case grammar.Clone:
		return "", s.clone(st.Args[0], st.Args[1])
	case grammar.Move:
		return "", s.move(st.Args[0], st.Args[1], st.Before)
	case grammar.Show:
		return s.show(st)
	case grammar.Get:
		return s.get(st)
	}
	return "", parseErr(st.Verb)
}

func (s *Session) top() *frame {
	if len(s.stack) == 0 {
		return nil
	}
	return s.stack[len(s.stack)-1]
}

func (s *Session) config(args []grammar.Word) error {
	f := s.top()
	if f == nil {
		words := texts(args)
		t, n, err := s.schema.Resolve(words)
		if err != nil {
			return cliErr(err)
		}
		if n < len(words) {
			return parseErr(words[n])
		}
		if err := s.mayRead(t); err != nil {
			return err
		}
		if t.Singleton {
			cur := s.ov.Entry(t.Path, "")
			s.stack = append(s.stack, &frame{table: t, entry: cloneOrNew(cur, ""), before: cur})
		} else {
			s.stack = append(s.stack, &frame{table: t})
		}
		return nil
	}
	if !f.isEntry() {
		return parseErr("config")
	}
	if len(args) != 1 {
		if len(args) == 0 {
			return incomplete()
		}
		return parseErr(args[1].Text)
	}
	a := f.table.ResolveAttr(args[0].Text)
	if a == nil || a.Child == nil || !condHolds(f.table, f.entry, a) {
		return parseErr(args[0].Text)
	}
	if f.entry.Children == nil {
		f.entry.Children = map[string]*Rows{}
	}
	rows := f.entry.Children[a.Name]
	if rows == nil {
		rows = NewRows()
	}
	if a.Child.Singleton {
		cur := rows.ByKey[""]
		s.stack = append(s.stack, &frame{table: a.Child, entry: cloneOrNew(cur, ""), before: cur, parent: f})
		return nil
	}
	f.entry.Children[a.Name] = rows
	s.stack = append(s.stack, &frame{table: a.Child, rows: rows, parent: f})
	return nil
}

func cloneOrNew(e *Entry, key string) *Entry {
	if e != nil {
		return e.Clone()
	}
	return NewEntry(key)
}

// rowsOf returns the rows an edit at table level f works on.
func (s *Session) rowsOf(f *frame) *Rows {
	if f.rows != nil {
		return f.rows
	}
	if r := s.ov.Table(f.table.Path); r != nil {
		return r
	}
	return NewRows()
}

func (s *Session) edit(w grammar.Word) (string, error) {
	f := s.top()
	if f == nil || f.isEntry() {
		return "", parseErr("edit")
	}
	key, err := s.checkKey(f, w)
	if err != nil {
		return "", err
	}
	rows := s.rowsOf(f)
	cur := rows.ByKey[key]
	nf := &frame{table: f.table, before: cur, rows: f.rows, parent: f.parent}
	msg := ""
	if cur != nil {
		nf.entry = cur.Clone()
	} else {
		if err := s.mayWrite(f.table); err != nil {
			return "", err
		}
		nf.entry = NewEntry(key)
		s.initEntry(f.table, nf.entry)
		msg = fmt.Sprintf("new entry '%s' added\n", key)
	}
	s.stack = append(s.stack, nf)
	return msg, nil
}

// initEntry fills what FortiOS generates for a new entry (uuid).
func (s *Session) initEntry(t *Table, e *Entry) {
	for _, a := range t.genAttrs {
		e.Values[a.Name] = []string{newUUID()}
	}
}

// checkKey validates an entry name; "edit 0" in a numbered table takes the
// next free id.
func (s *Session) checkKey(f *frame, w grammar.Word) (string, error) {
	if w.Placeholder() != "" {
		return "", placeholderErr(w.Placeholder())
	}
	t := f.table
	if t.KeyType == TInt {
		n, err := strconv.ParseInt(w.Text, 10, 64)
		if err != nil || n < t.KeyMin || n > t.KeyTop {
			return "", valueErr(w.Text)
		}
		if n == 0 {
			var max int64
			for _, k := range s.rowsOf(f).Keys {
				if v, _ := strconv.ParseInt(k, 10, 64); v > max {
					max = v
				}
			}
			n = max + 1
		}
		return strconv.FormatInt(n, 10), nil
	}
	if w.Text == "" || (t.KeyMax > 0 && len(w.Text) > t.KeyMax) {
		return "", valueErr(w.Text)
	}
	return w.Text, nil
}

type setOp int

const (
	opSet setOp = iota
	opAppend
	opUnselect
)

func (s *Session) entryFrame(verb string) (*frame, error) {
	f := s.top()
	if f == nil || !f.isEntry() {
		return nil, parseErr(verb)
	}
	return f, nil
}

func (s *Session) set(args []grammar.Word, op setOp) error {
	f, err := s.entryFrame(args[0].Text)
	if err != nil {
		return err
	}
	if err := s.mayWrite(f.table); err != nil {
		return err
	}
	a := f.table.ResolveAttr(args[0].Text)
	if a == nil || a.Child != nil || !condHolds(f.table, f.entry, a) {
		return parseErr(args[0].Text)
	}
	words := make([]string, len(args)-1)
	for i, w := range args[1:] {
		if w.Placeholder() != "" && a.Type != TText {
			return placeholderErr(w.Placeholder())
		}
		words[i] = w.Text
	}
	if op != opSet && !a.Type.Multi() {
		return parseErr(args[0].Text)
	}
	if op == opSet && len(words) == 1 && words[0] == "" && !a.Type.Multi() {
		delete(f.entry.Values, a.Name) // set x "" empties it, as show full prints
		return nil
	}
	canon, err := a.Canon(words, s.store.secrets)
	if err != nil {
		return err
	}
	if a.Type == TPassword || a.Type == TPasswordHash {
		if err := s.checkSecretPolicy(f.table, a, f, words); err != nil {
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
		cur := f.entry.Get(a)
		merged := slices.Clone(cur)
		for _, w := range canon {
			if !slices.Contains(merged, w) {
				merged = append(merged, w)
			}
		}
		canon = merged
	case opUnselect:
		cur := f.entry.Get(a)
		var kept []string
		for _, w := range cur {
			if !slices.Contains(canon, w) {
				kept = append(kept, w)
			}
		}
		for _, w := range canon {
			if !slices.Contains(cur, w) {
				return valueErr(w)
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
	setValue(f.entry, a, canon)
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

func (s *Session) unset(w grammar.Word) error {
	f, err := s.entryFrame(w.Text)
	if err != nil {
		return err
	}
	if err := s.mayWrite(f.table); err != nil {
		return err
	}
	a := f.table.ResolveAttr(w.Text)
	if a == nil || a.Child != nil || !condHolds(f.table, f.entry, a) {
		return parseErr(w.Text)
	}
	if a.Type == TUUID {
		return nil // FortiOS keeps the uuid
	}
	delete(f.entry.Values, a.Name)
	return nil
}

// condHolds evaluates an attribute's existence condition on a candidate.
func condHolds(t *Table, e *Entry, a *Attr) bool {
	for _, c := range a.When {
		other := t.byName[c.Attr]
		v := e.Get(other)
		match := false
		for _, want := range c.Values {
			if slices.Contains(v, want) || (want == "" && len(v) == 0) {
				match = true
				break
			}
		}
		if match == c.Not {
			return false
		}
		if !condHolds(t, e, other) {
			return false
		}
	}
	return true
}

// prune drops values of attributes whose condition no longer holds.
func prune(t *Table, e *Entry) {
	// Only values that are set can be dropped: walk those, not the schema.
	for name := range e.Values {
		if a := t.byName[name]; a != nil && len(a.When) > 0 && !condHolds(t, e, a) {
			delete(e.Values, name)
		}
	}
	for name := range e.Children {
		if a := t.byName[name]; a != nil && len(a.When) > 0 && !condHolds(t, e, a) {
			delete(e.Children, name)
		}
	}
	for name, rows := range e.Children {
		if rows.Len() == 0 {
			delete(e.Children, name)
		}
	}
}

// save stores the candidate of an entry level: into the parent candidate for
// nested tables, else as a change (committed now, or at the end of the
// block in batch mode).
func (s *Session) save(f *frame) error {
	prune(f.table, f.entry)
	if err := checkEntry(s.ov, f.table, f.entry); err != nil {
		return err
	}
	if f.parent != nil {
		// nested: the parent's candidate carries it
		name := f.table.Path[len(f.parent.table.Path)+1:]
		pe := f.parent.entry
		if f.table.Singleton {
			if len(f.entry.Values) == 0 && len(f.entry.Children) == 0 {
				delete(pe.Children, name)
				return nil
			}
			r := NewRows()
			r.Put(f.entry)
			pe.Children[name] = r
			return nil
		}
		f.rows.Put(f.entry)
		return nil
	}
	if f.before != nil && f.before.Equal(f.entry) {
		s.noteSaved(f.table.Path, f.entry.Key)
		return nil
	}
	return s.change(Change{Table: f.table.Path, Key: f.entry.Key, Before: f.before, After: f.entry})
}

// change records a change and commits it unless in batch mode. An
// interactive change goes straight to the store: copying the table into
// the overlay first would cost a whole table per save.
func (s *Session) change(cs ...Change) error {
	for _, c := range cs {
		if err := s.mayChange(c); err != nil {
			return err
		}
	}
	if !s.Batch && !s.detached {
		s.pending = append(s.pending, cs...)
		return s.flushLocked()
	}
	for _, c := range cs {
		s.ov.apply(c)
	}
	if s.detached {
		for _, c := range cs {
			if c.After != nil && c.Order == nil {
				s.noteSaved(c.Table, c.Key)
			}
		}
		return nil
	}
	s.pending = append(s.pending, cs...)
	if s.Batch {
		return nil
	}
	return s.flushLocked()
}

// noteSaved records, in a detached session, the order entries are saved.
func (s *Session) noteSaved(table, key string) {
	if !s.detached {
		return
	}
	if s.saved == nil {
		s.saved = map[string][]string{}
	}
	s.saved[table] = append(s.saved[table], key)
}

// Flush commits the pending changes of a batch.
func (s *Session) Flush() error {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	return s.flushLocked()
}

// flushLocked is called with the store's read lock held; Commit needs the
// write lock, so the read lock is released around it.
func (s *Session) flushLocked() error {
	if len(s.pending) == 0 {
		return nil
	}
	pending := s.pending
	s.pending = nil
	checkedAt := s.checkedAt
	if !s.checked {
		checkedAt = ^uint64(0)
	}
	s.checked = false
	s.store.mu.RUnlock()
	cs, err := s.store.commitChecked(pending, s.User, s.Source, checkedAt)
	s.store.mu.RLock()
	s.ov = newOverlay(runningView{s.store})
	if cs != nil {
		s.committed += len(pending)
	}
	return err
}

// Discard drops a batch's saved but uncommitted changes.
func (s *Session) Discard() {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	s.pending, s.checked = nil, false
	s.ov = newOverlay(runningView{s.store})
}

// Committed counts the changes this session has committed.
func (s *Session) Committed() int { return s.committed }

// Pending reports how many saved changes wait for a batch commit.
func (s *Session) Pending() int { return len(s.pending) }

func (s *Session) next(st grammar.Stmt) error {
	f := s.top()
	if f == nil || !f.isEntry() || f.table.Singleton {
		return parseErr(st.Verb)
	}
	// A save that fails its checks leaves the admin where they were; a
	// script drops the entry and goes on.
	if err := s.save(f); err != nil {
		if s.Batch {
			s.stack = s.stack[:len(s.stack)-1]
		}
		return err
	}
	s.stack = s.stack[:len(s.stack)-1]
	return nil
}

func (s *Session) end(st grammar.Stmt) error {
	f := s.top()
	if f == nil {
		return parseErr(st.Verb)
	}
	if f.isEntry() {
		err := s.save(f)
		if err != nil && !s.Batch {
			return err
		}
		s.stack = s.stack[:len(s.stack)-1]
		if !f.table.Singleton {
			s.stack = s.stack[:len(s.stack)-1] // and leave the table level
		}
		if err != nil {
			if len(s.stack) == 0 && !s.HoldCommits {
				if ferr := s.flushLocked(); ferr != nil {
					return fmt.Errorf("%w\n%v", err, ferr)
				}
			}
			return err
		}
	} else {
		s.stack = s.stack[:len(s.stack)-1]
	}
	if len(s.stack) == 0 && s.Batch && !s.HoldCommits {
		return s.flushLocked()
	}
	return nil
}

func (s *Session) abort(st grammar.Stmt) error {
	f := s.top()
	if f == nil {
		return parseErr(st.Verb)
	}
	s.stack = s.stack[:len(s.stack)-1]
	if f.isEntry() && !f.table.Singleton {
		s.stack = s.stack[:len(s.stack)-1]
	}
	return nil
}

// Reset leaves every level without saving (logout, Ctrl-D).
func (s *Session) Reset() {
	s.stack = nil
}

// tableFrame is the table level of delete, purge, rename, clone and move,
// which all change the table.
func (s *Session) tableFrame(verb string) (*frame, error) {
	f := s.top()
	if f == nil || f.isEntry() {
		return nil, parseErr(verb)
	}
	if err := s.mayWrite(f.table); err != nil {
		return nil, err
	}
	return f, nil
}

func (s *Session) delete(w grammar.Word) error {
	f, err := s.tableFrame("delete")
	if err != nil {
		return err
	}
	rows := s.rowsOf(f)
	cur := rows.ByKey[w.Text]
	if cur == nil {
		return &Error{Msg: "entry not found in datasource", Code: CodeNotFound}
	}
	if f.rows != nil {
		f.rows.Remove(w.Text)
		return nil
	}
	if n := countRefs(s.schema, s.ov, f.table.Path, w.Text); n > 0 {
		return inUseErr(n)
	}
	return s.change(Change{Table: f.table.Path, Key: w.Text, Before: cur})
}

func (s *Session) purge(st grammar.Stmt) error {
	f, err := s.tableFrame(st.Verb)
	if err != nil {
		return err
	}
	if f.rows != nil {
		f.rows.Keys, f.rows.ByKey = nil, map[string]*Entry{}
		return nil
	}
	rows := s.rowsOf(f)
	var cs []Change
	for _, e := range rows.Ordered() {
		cs = append(cs, Change{Table: f.table.Path, Key: e.Key, Before: e})
	}
	// References from inside the purged table itself do not count.
	ov := newOverlay(s.ov)
	for _, c := range cs {
		ov.apply(c)
	}
	for _, c := range cs {
		if n := countRefs(s.schema, ov, f.table.Path, c.Key); n > 0 {
			return inUseErr(n)
		}
	}
	return s.change(cs...)
}

// copySource checks the two names of rename / clone: from must exist, to
// must be a valid new name.
func (s *Session) copySource(f *frame, from, to grammar.Word) (*Rows, *Entry, string, error) {
	rows := s.rowsOf(f)
	cur := rows.ByKey[from.Text]
	if cur == nil {
		return nil, nil, "", &Error{Msg: "entry not found in datasource", Code: CodeNotFound}
	}
	newKey, err := s.checkKey(f, to)
	if err != nil {
		return nil, nil, "", err
	}
	if rows.ByKey[newKey] != nil {
		return nil, nil, "", &Error{Msg: "entry '" + newKey + "' already exists", Code: CodeDuplicate}
	}
	return rows, cur, newKey, nil
}

func (s *Session) rename(from, to grammar.Word) error {
	f, err := s.tableFrame("rename")
	if err != nil {
		return err
	}
	rows, cur, newKey, err := s.copySource(f, from, to)
	if err != nil {
		return err
	}
	renamed := cur.Clone()
	renamed.Key = newKey
	if f.rows != nil {
		i := slices.Index(f.rows.Keys, from.Text)
		f.rows.Remove(from.Text)
		f.rows.Put(renamed)
		f.rows.Move(newKey, keyAt(f.rows.Keys, i), true)
		return nil
	}
	order := slices.Clone(rows.Keys)
	order[slices.Index(order, from.Text)] = newKey
	renamed.seq = 0
	cs := []Change{
		{Table: f.table.Path, Key: from.Text, Before: cur},
		{Table: f.table.Path, Key: newKey, After: renamed},
		{Table: f.table.Path, Key: newKey, Before: renamed, After: renamed, Order: order},
	}
	// Rewrite every reference to the old name, once per entry; only the
	// values that name it change (a default that names it becomes explicit).
	rewritten := map[*Entry]bool{}
	forEachRef(s.schema, s.ov, func(t *Table, top *Entry, a *Attr, e *Entry) {
		if rewritten[top] || !slices.Contains(a.Refs, f.table.Path) || !slices.Contains(e.Get(a), from.Text) {
			return
		}
		if t.Path == f.table.Path && top.Key == from.Text {
			return // the renamed entry itself is replaced above
		}
		rewritten[top] = true
		upd := top.Clone()
		walkRefs(t, upd, func(a2 *Attr, e2 *Entry) {
			if v := e2.Get(a2); slices.Contains(a2.Refs, f.table.Path) && slices.Contains(v, from.Text) {
				v = slices.Clone(v)
				v[slices.Index(v, from.Text)] = newKey
				setValue(e2, a2, v)
			}
		})
		cs = append(cs, Change{Table: t.Path, Key: top.Key, Before: top, After: upd})
	})
	return s.change(cs...)
}

func keyAt(keys []string, i int) string {
	if i >= 0 && i < len(keys) {
		return keys[i]
	}
	return ""
}

func (s *Session) clone(from, to grammar.Word) error {
	f, err := s.tableFrame("clone")
	if err != nil {
		return err
	}
	_, cur, newKey, err := s.copySource(f, from, to)
	if err != nil {
		return err
	}
	c := cur.Clone()
	c.Key, c.seq = newKey, 0
	s.initEntry(f.table, c)
	if f.rows != nil {
		f.rows.Put(c)
		return nil
	}
	return s.change(Change{Table: f.table.Path, Key: newKey, After: c})
}

func (s *Session) move(a, b grammar.Word, before bool) error {
	f, err := s.tableFrame("move")
	if err != nil {
		return err
	}
	rows := s.rowsOf(f)
	if rows.ByKey[a.Text] == nil {
		return &Error{Msg: "entry not found in datasource", Code: CodeNotFound}
	}
	if rows.ByKey[b.Text] == nil {
		return &Error{Msg: "entry not found in datasource", Code: CodeNotFound}
	}
	if f.rows != nil {
		f.rows.Move(a.Text, b.Text, before)
		return nil
	}
	r := &Rows{Keys: slices.Clone(rows.Keys), ByKey: rows.ByKey}
	r.Move(a.Text, b.Text, before)
	e := rows.ByKey[a.Text]
	return s.change(Change{Table: f.table.Path, Key: a.Text, Before: e, After: e, Order: r.Keys})
}

func texts(ws []grammar.Word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Text
	}
	return out
}

// placeholderErr is the same text the grammar gives a bare placeholder.
func placeholderErr(p string) *Error {
	return &Error{Msg: "placeholder " + p + " must be replaced with a real value", Code: CodeValue}
}

func cliErr(err error) error {
	if _, ok := err.(*Error); ok {
		return err
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "incomplete") {
		return incomplete()
	}
	return &Error{Msg: msg, Code: CodeParse}
}

// show implements "show [full-configuration] [path… [entry]]".
func (s *Session) show(st grammar.Stmt) (string, error) {
	var b strings.Builder
	if len(st.Args) == 0 {
		f := s.top()
		switch {
		case f == nil:
			if !s.access.Can("sysgrp", LevelRead) {
				return "", permissionDenied()
			}
			if st.Full {
				b.WriteString(ConfigHeader(s.ov, s.schema, s.User, s.store.revision))
			}
			WriteConfig(&b, s.schema, s.ov, st.Full)
		case f.isEntry() && !f.table.Singleton:
			title := f.table.Path
			if f.parent != nil {
				title = f.table.Path[len(f.parent.table.Path)+1:]
			}
			r := NewRows()
			r.Put(f.entry)
			writeBlock(&b, f.table, r, st.Full, 0, title)
		case f.isEntry():
			r := NewRows()
			r.Put(f.entry)
			writeBlock(&b, f.table, r, st.Full, 0, f.table.Path)
		default:
			writeBlock(&b, f.table, s.rowsOf(f), st.Full, 0, f.table.Path)
		}
		return b.String(), nil
	}
	t, key, err := s.resolveShowPath(st.Args)
	if err != nil {
		return "", err
	}
	if err := s.mayRead(t); err != nil {
		return "", err
	}
	rows := s.ov.Table(t.Path)
	if rows == nil {
		rows = NewRows()
	}
	if key != nil {
		e := rows.ByKey[key.Text]
		if e == nil {
			return "", &Error{Msg: "entry not found in datasource", Code: CodeNotFound}
		}
		WriteEntry(&b, t, e, st.Full)
		return b.String(), nil
	}
	WriteTable(&b, t, rows, st.Full)
	return b.String(), nil
}

// resolveShowPath reads "<table path> [entry]" at the top level.
func (s *Session) resolveShowPath(args []grammar.Word) (*Table, *grammar.Word, error) {
	words := texts(args)
	t, n, err := s.schema.Resolve(words)
	if err != nil {
		return nil, nil, cliErr(err)
	}
	switch {
	case n == len(words):
		return t, nil, nil
	case n == len(words)-1 && !t.Singleton:
		return t, &args[n], nil
	}
	return nil, nil, parseErr(words[n])
}

// get implements "get" in a context and "get <path> [entry]".
func (s *Session) get(st grammar.Stmt) (string, error) {
	var b strings.Builder
	if len(st.Args) == 0 {
		f := s.top()
		switch {
		case f == nil:
			return "", incomplete()
		case f.isEntry():
			WriteGet(&b, f.table, f.entry)
		default:
			WriteGetTable(&b, f.table, s.rowsOf(f))
		}
		return b.String(), nil
	}
	t, key, err := s.resolveShowPath(st.Args)
	if err != nil {
		return "", err
	}
	if err := s.mayRead(t); err != nil {
		return "", err
	}
	rows := s.ov.Table(t.Path)
	if rows == nil {
		rows = NewRows()
	}
	switch {
	case t.Singleton:
		e := rows.ByKey[""]
		if e == nil {
			e = NewEntry("")
		}
		WriteGet(&b, t, e)
	case key != nil:
		e := rows.ByKey[key.Text]
		if e == nil {
			return "", &Error{Msg: "entry not found in datasource", Code: CodeNotFound}
		}
		WriteGet(&b, t, e)
	default:
		WriteGetTable(&b, t, rows)
	}
	return b.String(), nil
}
