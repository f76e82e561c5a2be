package cmdb

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fosim/fosim/grammar"
)

// Session is one admin's editing context: the stack of config / edit levels
// and, in batch mode, the entries saved but not yet committed. The CLI, a
// script, a restore and the SSH exec channel all edit through a Session:
// its text path (Exec) is a thin adapter over the structured edit API of
// edit.go (OpenTable, Edit, Set, Save …), which a REST API calls directly.
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
	// basedOn is the store revision ov was started at; inView counts the
	// pending changes ov holds (an interactive change skips it). While no
	// other commit lands, ov with them is exactly what the commit makes.
	basedOn uint64
	inView  int
	// detached sessions (restore) build a configuration in their overlay
	// and never commit it themselves.
	detached  bool
	committed int
	// access is the admin's profile; nil for a system session.
	access *Access
	// saved lists, in a detached session, the keys saved per table in the
	// order the script saved them (a restore's table order).
	saved map[string][]string
}

// frame is one level of the text path's config stack: an open table
// ("config <table>") or an open entry ("edit", or a singleton's "config").
type frame struct {
	tbl *TableEdit
	ent *EntryEdit
}

func (f *frame) isEntry() bool { return f.ent != nil }

// table is the schema table of the level.
func (f *frame) table() *Table {
	if f.ent != nil {
		return f.ent.table
	}
	return f.tbl.table
}

// NewSession opens an editing session on the store for the administrator
// user, limited by the access profile the admin has now (an unknown user
// may do nothing).
func (s *Store) NewSession(user, source string) *Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess := &Session{store: s, schema: s.schema, User: user, Source: source, access: s.accessOf(user)}
	sess.newView()
	return sess
}

// NewSystemSession opens a session with every right, for fosim's own host
// tools (fosim apply, show, backup on the data directory, whose files the
// caller owns already) and for what the appliance does itself (an admin
// changing their own password at login). user names who it is for.
func (s *Store) NewSystemSession(user, source string) *Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess := &Session{store: s, schema: s.schema, User: user, Source: source}
	sess.newView()
	return sess
}

// newView starts the session's view afresh on the running configuration
// (called with the store's read lock held).
func (s *Session) newView() {
	s.ov, s.basedOn, s.inView = newOverlay(runningView{s.store}), s.store.revision, 0
}

// Store returns the session's store.
func (s *Session) Store() *Store { return s.store }

// Depth is the number of open levels (0 at the top).
func (s *Session) Depth() int { return len(s.stack) }

// Prompt returns the context word FortiOS shows in the prompt: the table's
// last path word, or the entry name; "" at the top.
func (s *Session) Prompt() string {
	f := s.top()
	if f == nil {
		return ""
	}
	if f.isEntry() && !f.ent.table.Singleton {
		return f.ent.entry.Key
	}
	return f.table().Name()
}

// Context returns the table and candidate entry of the innermost level (entry
// nil at a table level, both nil at the top).
func (s *Session) Context() (*Table, *Entry) {
	f := s.top()
	if f == nil {
		return nil, nil
	}
	if f.isEntry() {
		return f.ent.table, f.ent.entry
	}
	return f.tbl.table, nil
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
	defer s.lock()()
	f := s.top()
	if f == nil {
		return nil
	}
	if f.isEntry() {
		e := f.ent
		if e.parent != nil && e.rows == nil {
			return nil
		}
		return slices.Clone((&TableEdit{sess: s, table: e.table, rows: e.rows, parent: e.parent}).current().Keys)
	}
	return slices.Clone(f.tbl.current().Keys)
}

// View is the configuration as this session sees it: running plus its own
// saved-but-uncommitted entries.
func (s *Session) View() View { return s.ov }

// Exec runs one statement. The returned text is what the CLI prints on
// success (show output, "new entry 'x' added"); an *Error carries FortiOS's
// message and return code.
func (s *Session) Exec(st grammar.Stmt) (string, error) {
	defer s.lock()()
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
		return "", s.onTable("delete", func(t *TableEdit) error { return t.delete(st.Args[0].Text) })
	case grammar.Purge:
		return "", s.onTable(st.Verb, (*TableEdit).purge)
	case grammar.Rename:
		return "", s.copyTo("rename", st.Args[0], st.Args[1], (*TableEdit).rename)
	case grammar.Clone:
		return "", s.copyTo("clone", st.Args[0], st.Args[1], (*TableEdit).clone)
	case grammar.Move:
		return "", s.onTable("move", func(t *TableEdit) error { return t.move(st.Args[0].Text, st.Args[1].Text, st.Before) })
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

func (s *Session) push(f *frame) { s.stack = append(s.stack, f) }

// pop leaves n levels.
func (s *Session) pop(n int) { s.stack = s.stack[:len(s.stack)-n] }

// config opens a table: a top-level path at the top, a nested table's
// attribute inside an entry. A singleton opens its entry at once.
func (s *Session) config(args []grammar.Word) error {
	f := s.top()
	var t *TableEdit
	switch {
	case f == nil:
		words := texts(args)
		tb, n, err := s.schema.Resolve(words)
		if err != nil {
			return cliErr(err)
		}
		if n < len(words) {
			return parseErr(words[n])
		}
		if t, err = s.openTable(tb); err != nil {
			return err
		}
	case !f.isEntry():
		return parseErr("config")
	case len(args) != 1:
		if len(args) == 0 {
			return incomplete()
		}
		return parseErr(args[1].Text)
	default:
		var err error
		if t, err = f.ent.openChild(f.ent.table.ResolveAttr(args[0].Text), args[0].Text); err != nil {
			return err
		}
	}
	if t.table.Singleton {
		e, err := t.edit("")
		if err != nil {
			return err
		}
		s.push(&frame{ent: e})
		return nil
	}
	s.push(&frame{tbl: t})
	return nil
}

func (s *Session) edit(w grammar.Word) (string, error) {
	f := s.top()
	if f == nil || f.isEntry() {
		return "", parseErr("edit")
	}
	if w.Placeholder() != "" {
		return "", placeholderErr(w.Placeholder())
	}
	e, err := f.tbl.edit(w.Text)
	if err != nil {
		return "", err
	}
	s.push(&frame{ent: e})
	if e.created {
		return fmt.Sprintf("new entry '%s' added\n", e.entry.Key), nil
	}
	return "", nil
}

func (s *Session) entryFrame(verb string) (*EntryEdit, error) {
	f := s.top()
	if f == nil || !f.isEntry() {
		return nil, parseErr(verb)
	}
	return f.ent, nil
}

func (s *Session) set(args []grammar.Word, op setOp) error {
	e, err := s.entryFrame(args[0].Text)
	if err != nil {
		return err
	}
	a := e.table.ResolveAttr(args[0].Text)
	if err := e.settable(a, args[0].Text); err != nil {
		return err
	}
	words := make([]string, len(args)-1)
	for i, w := range args[1:] {
		if w.Placeholder() != "" && a.Type != TText {
			return placeholderErr(w.Placeholder())
		}
		words[i] = w.Text
	}
	return e.set(a, args[0].Text, op, words)
}

func (s *Session) unset(w grammar.Word) error {
	e, err := s.entryFrame(w.Text)
	if err != nil {
		return err
	}
	return e.unset(e.table.ResolveAttr(w.Text), w.Text)
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
	s.inView += len(cs)
	if s.detached {
		for _, c := range cs {
			if c.After != nil && c.Order == nil {
				s.noteSaved(c.Table, c.Key)
			}
		}
		return nil
	}
	s.pending = append(s.pending, cs...)
	return nil
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

// Flush commits the pending changes of a batch (Commit).
func (s *Session) Flush() error { return s.Commit() }

// flushLocked is called with the store's read lock held; the commit needs
// the write lock, so the read lock is released around it.
func (s *Session) flushLocked() error {
	if len(s.pending) == 0 {
		return nil
	}
	req := commitRequest{changes: s.pending, user: s.User, source: s.Source, basedOn: s.basedOn, access: s.access}
	if s.inView == len(s.pending) {
		req.view = s.ov
	}
	pending := s.pending
	s.pending = nil
	s.store.mu.RUnlock()
	cs, err := s.store.commit(req)
	s.store.mu.RLock()
	s.newView()
	if cs != nil {
		s.committed += len(pending)
	}
	return err
}

// Discard drops a batch's saved but uncommitted changes.
func (s *Session) Discard() {
	defer s.lock()()
	s.pending = nil
	s.newView()
}

// Committed counts the changes this session has committed.
func (s *Session) Committed() int { return s.committed }

// Pending reports how many saved changes wait for a batch commit.
func (s *Session) Pending() int { return len(s.pending) }

func (s *Session) next(st grammar.Stmt) error {
	f := s.top()
	if f == nil || !f.isEntry() || f.ent.table.Singleton {
		return parseErr(st.Verb)
	}
	// A save that fails its checks leaves the admin where they were; a
	// script drops the entry and goes on.
	if err := f.ent.save(); err != nil {
		if s.Batch {
			s.pop(1)
		}
		return err
	}
	s.pop(1)
	return nil
}

func (s *Session) end(st grammar.Stmt) error {
	f := s.top()
	if f == nil {
		return parseErr(st.Verb)
	}
	if f.isEntry() {
		err := f.ent.save()
		if err != nil && !s.Batch {
			return err
		}
		s.pop(1)
		if !f.ent.table.Singleton {
			s.pop(1) // and leave the table level
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
		s.pop(1)
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
	s.pop(1)
	if f.isEntry() && !f.ent.table.Singleton {
		s.pop(1)
	}
	return nil
}

// Reset leaves every level without saving (logout, Ctrl-D).
func (s *Session) Reset() {
	s.stack = nil
}

// onTable runs a table-level statement (delete, purge, move).
func (s *Session) onTable(verb string, fn func(*TableEdit) error) error {
	f := s.top()
	if f == nil || f.isEntry() {
		return parseErr(verb)
	}
	return fn(f.tbl)
}

// copyTo runs rename / clone, whose new name may not be a placeholder.
func (s *Session) copyTo(verb string, from, to grammar.Word, fn func(*TableEdit, string, string) error) error {
	return s.onTable(verb, func(t *TableEdit) error {
		if to.Placeholder() != "" {
			if err := s.mayWrite(t.table); err != nil {
				return err
			}
			return placeholderErr(to.Placeholder())
		}
		return fn(t, from.Text, to.Text)
	})
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
		case f.isEntry():
			e := f.ent
			title := e.table.Path
			if e.parent != nil && !e.table.Singleton {
				title = e.table.Path[len(e.parent.table.Path)+1:]
			}
			r := NewRows()
			r.Put(e.entry)
			writeBlock(&b, e.table, r, st.Full, 0, title)
		default:
			writeBlock(&b, f.tbl.table, f.tbl.current(), st.Full, 0, f.tbl.table.Path)
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
			return "", notFound()
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
			WriteGet(&b, f.ent.table, f.ent.entry)
		default:
			WriteGetTable(&b, f.tbl.table, f.tbl.current())
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
			return "", notFound()
		}
		WriteGet(&b, t, e)
	default:
		WriteGetTable(&b, t, rows)
	}
	return b.String(), nil
}
