package cmdb

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/fosim/fosim/grammar"
)

// VDOM is the only virtual domain modelled so far.
const VDOM = "root"

// Change is one entry's change in a commit. Before is nil for a creation,
// After nil for a deletion. Order, when set, is the table's new key order
// (a move).
type Change struct {
	VDOM   string
	Table  string
	Key    string
	Before *Entry
	After  *Entry
	Order  []string
}

// ChangeSet is what one commit changed, published to subscribers (the
// appliance daemons) after it is durable.
type ChangeSet struct {
	Revision uint64
	Time     time.Time
	User     string
	Source   string
	Changes  []Change
}

// Tables lists the distinct tables a change set touches.
func (cs *ChangeSet) Tables() []string {
	var out []string
	for _, c := range cs.Changes {
		if !slices.Contains(out, c.Table) {
			out = append(out, c.Table)
		}
	}
	return out
}

// Validator may refuse a change set before it is written (a daemon's
// Validate phase); its error is printed to the admin. after is the whole
// configuration as it will be if the commit lands. A validator runs under
// the commit lock: it must not call the Store, nor keep after.
type Validator func(cs *ChangeSet, after View) error

// Store is the persistent CMDB: the running configuration in memory, a bbolt
// file on disk, written in one transaction per commit.
type Store struct {
	schema *Schema
	db     *bolt.DB
	now    func() time.Time

	mu       sync.RWMutex
	tables   map[string]*Rows // running config of VDOM root, by table path
	revision uint64
	secrets  *Secrets
	seq      uint64   // last entry sequence number handed out
	verbatim []string // unmodelled config blocks kept by a lenient restore
	serial   string   // the appliance serial number, made on first start

	// Subscribers see commits in revision order: a commit waits, holding
	// no other lock, until published is its revision - 1.
	publishMu   sync.Mutex
	publishCond *sync.Cond
	published   uint64

	hookMu     sync.Mutex
	hookID     int
	validators map[int]Validator
	subs       map[int]func(*ChangeSet)
}

var (
	bMeta = []byte("meta")
	bCfg  = []byte("cfg")
	// bOldJournal held per-commit before-images (fosim before configuration
	// revisions); a store that still has it drops it on open.
	bOldJournal = []byte("rev")

	kRevision = []byte("revision")
	kFormat   = []byte("format")
	kPrivKey  = []byte("private-key")
	kSeq      = []byte("seq")
	kSerial   = []byte("serial")
)

const storeFormat = 1

// Options tune Open.
type Options struct {
	// Now is the appliance clock; time.Now when nil.
	Now func() time.Time
	// NoSync skips fsync (tests and benchmarks only: a crash may lose commits).
	NoSync bool
}

// DBFile is the store's file name inside the data directory.
const DBFile = "cmdb.db"

// Open opens (creating if needed) the store in dir. A new store is empty:
// the caller applies the factory configuration (see Factory).
func Open(dir string, schema *Schema, opt Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A large initial mmap (address space only) spares bbolt the remaps that
	// copy every node while a big restore grows the file.
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{
		Timeout:         2 * time.Second,
		NoSync:          opt.NoSync,
		InitialMmapSize: 1 << 30,
		FreelistType:    bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("data directory %s is in use by another fosim process", dir)
		}
		return nil, err
	}
	db.AllocSize = 64 << 20
	s := &Store{schema: schema, db: db, now: opt.Now, tables: map[string]*Rows{}}
	s.publishCond = sync.NewCond(&s.publishMu)
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Serial is the appliance's serial number ("FGVMEV…"), made on first start.
func (s *Store) Serial() string { return s.serial }

func newSerial() string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return "FGVMEV" + string(b)
}

// Close closes the bbolt file.
func (s *Store) Close() error { return s.db.Close() }

// Schema returns the store's schema.
func (s *Store) Schema() *Schema { return s.schema }

func (s *Store) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return err
		}
		if tx.Bucket(bOldJournal) != nil {
			if err := tx.DeleteBucket(bOldJournal); err != nil {
				return err
			}
		}
		cfg, err := tx.CreateBucketIfNotExists(bCfg)
		if err != nil {
			return err
		}
		if v := meta.Get(kFormat); v == nil {
			if err := meta.Put(kFormat, u64(storeFormat)); err != nil {
				return err
			}
		} else if binary.BigEndian.Uint64(v) != storeFormat {
			return fmt.Errorf("cmdb: store format %d, this fosim reads %d", binary.BigEndian.Uint64(v), storeFormat)
		}
		if v := meta.Get(kRevision); v != nil {
			s.revision = binary.BigEndian.Uint64(v)
			s.published = s.revision
		}
		if v := meta.Get(kSerial); v != nil {
			s.serial = string(v)
		} else {
			s.serial = newSerial()
			if err := meta.Put(kSerial, []byte(s.serial)); err != nil {
				return err
			}
		}
		if v := meta.Get(kSeq); v != nil {
			s.seq = binary.BigEndian.Uint64(v)
		}
		s.secrets = NewSecrets(nil)
		if k := meta.Get(kPrivKey); k != nil {
			s.secrets = NewSecrets(slices.Clone(k))
		}
		if s.verbatim, err = getVerbatim(meta); err != nil {
			return err
		}
		return cfg.ForEach(func(name, _ []byte) error {
			path := string(name)
			t := s.schema.Table(path)
			if t == nil {
				return fmt.Errorf("cmdb: stored table %q is not in the schema", path)
			}
			rows := NewRows()
			err := cfg.Bucket(name).ForEach(func(k, v []byte) error {
				e, err := decodeEntry(v)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				e.seq = binary.BigEndian.Uint64(k)
				rows.Put(e)
				return nil
			})
			s.tables[path] = rows
			return err
		})
	})
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// Revision returns the last committed revision number.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.revision
}

// Secrets returns the encrypter for the current key.
func (s *Store) Secrets() *Secrets {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.secrets
}

// Lookup returns a running entry (shared: callers must not modify it).
func (s *Store) Lookup(table, key string) *Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r := s.tables[table]; r != nil {
		return r.ByKey[key]
	}
	return nil
}

// Rows returns a copy of a running table's rows (entries shared, read-only).
func (s *Store) Rows(table string) *Rows {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.tables[table]
	if r == nil {
		return NewRows()
	}
	c := &Rows{Keys: slices.Clone(r.Keys), ByKey: make(map[string]*Entry, len(r.ByKey))}
	for k, e := range r.ByKey {
		c.ByKey[k] = e
	}
	return c
}

// Read runs fn with a consistent read-only view of the running config.
// fn must not call the Store: Go's read locks are not re-entrant, and a
// second RLock behind a waiting commit would deadlock.
func (s *Store) Read(fn func(v View)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(runningView{s})
}

// ReadCommitted is Read with the revision the view is at and the secrets
// key that decrypts it, taken under the same lock (a daemon's reload).
func (s *Store) ReadCommitted(fn func(v View, revision uint64, secrets *Secrets)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(runningView{s}, s.revision, s.secrets)
}

// View is read access to a configuration.
type View interface {
	Entry(table, key string) *Entry
	Table(table string) *Rows
}

type runningView struct{ s *Store }

func (v runningView) Entry(table, key string) *Entry {
	if r := v.s.tables[table]; r != nil {
		return r.ByKey[key]
	}
	return nil
}

func (v runningView) Table(table string) *Rows { return v.s.tables[table] }

// AddValidator registers a Validate-phase hook that sees the change set
// only (AddConfigValidator gives it the resulting configuration too); the
// returned function removes it.
func (s *Store) AddValidator(fn func(*ChangeSet) error) (remove func()) {
	return s.AddConfigValidator(func(cs *ChangeSet, _ View) error { return fn(cs) })
}

// AddConfigValidator registers a Validate-phase hook; the returned
// function removes it.
func (s *Store) AddConfigValidator(v Validator) (remove func()) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	if s.validators == nil {
		s.validators = map[int]Validator{}
	}
	s.hookID++
	id := s.hookID
	s.validators[id] = v
	return func() {
		s.hookMu.Lock()
		defer s.hookMu.Unlock()
		delete(s.validators, id)
	}
}

// Subscribe registers fn to receive every committed change set, in commit
// order, after it is durable; the returned function removes it. fn may
// read the Store but must not commit: the next commit waits for it.
func (s *Store) Subscribe(fn func(*ChangeSet)) (remove func()) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	return s.subscribeLocked(fn)
}

func (s *Store) subscribeLocked(fn func(*ChangeSet)) (remove func()) {
	if s.subs == nil {
		s.subs = map[int]func(*ChangeSet){}
	}
	s.hookID++
	id := s.hookID
	s.subs[id] = fn
	return func() {
		s.hookMu.Lock()
		defer s.hookMu.Unlock()
		delete(s.subs, id)
	}
}

// SubscribeFrom is Subscribe for a subscriber that loads the configuration
// first (a daemon starting): start is called with the committed
// configuration, its revision and the secrets key that decrypts it,
// atomically with the registration, so fn then receives exactly the
// commits after that revision, in order: none lost between the load and
// the subscription, none seen twice. start runs under the store's read
// lock: it must not call the Store, nor keep v. fn is not called before
// start returns.
func (s *Store) SubscribeFrom(start func(v View, revision uint64, secrets *Secrets), fn func(*ChangeSet)) (remove func()) {
	// A commit picks its subscribers and moves the revision under the
	// write lock, so under the read lock both are settled together.
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.hookMu.Lock()
	remove = s.subscribeLocked(fn)
	s.hookMu.Unlock()
	start(runningView{s}, s.revision, s.secrets)
	return remove
}

// Commit validates and writes changes in one bbolt transaction. On any error
// nothing is written and the running configuration is unchanged.
func (s *Store) Commit(changes []Change, user, source string) (*ChangeSet, error) {
	return s.commit(commitRequest{changes: changes, user: user, source: source, basedOn: ^uint64(0)})
}

// commitRequest is what one commit is asked to do.
type commitRequest struct {
	changes []Change
	// target (restore) is the configuration to end at: the changes are
	// computed under the commit lock.
	target View
	// verbatim, when set, replaces the unmodelled blocks a lenient
	// restore keeps.
	verbatim     *[]string
	user, source string
	// basedOn is the revision the changes were made against; view, when
	// set, is that revision with the changes applied (a batch's own view).
	// While no other commit lands, neither a rebase nor a new view is
	// needed.
	basedOn uint64
	view    *overlay
	// access is the committing session's profile (nil: every right); its
	// super_admin rule is checked again on rebased changes.
	access *Access
}

// commit is the one commit path. With a target (restore) the changes are
// the difference between the running configuration and it, computed under
// the commit lock so that no commit in between is undone unseen;
// otherwise changes made against entries that other sessions committed
// since are rebased on them. Every whole-configuration check (checkConfig)
// and every validator runs on the configuration as it will be, whatever
// path built the changes.
func (s *Store) commit(req commitRequest) (*ChangeSet, error) {
	if len(req.changes) == 0 && req.verbatim == nil && req.target == nil {
		return nil, nil
	}
	cs, subs, err := s.commitLocked(req)
	if cs == nil || err != nil {
		return nil, err
	}
	s.publish(cs, subs)
	return cs, nil
}

func (s *Store) commitLocked(req commitRequest) (*ChangeSet, []func(*ChangeSet), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changes, verbatim := req.changes, req.verbatim
	current := req.target == nil && req.basedOn == s.revision
	switch {
	case req.target != nil:
		changes = nil
		for _, t := range s.schema.order {
			changes = append(changes, diffTable(t.Path, s.tables[t.Path], req.target.Table(t.Path))...)
		}
	case !current:
		var err error
		changes, err = rebase(s.schema, changes, runningView{s}.Entry, func(table string) []string {
			if r := s.tables[table]; r != nil {
				return r.Keys
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		// A rebase may have put this session's edit on an entry another
		// admin changed since (made super_admin, say): check it again.
		if a := req.access; a != nil && !a.super {
			for _, c := range changes {
				if err := a.mayTouchAdmin(c, req.user); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if len(changes) == 0 && verbatim == nil {
		return nil, nil, nil
	}
	cs := &ChangeSet{Revision: s.revision + 1, Time: s.now(), User: req.user, Source: req.source, Changes: changes}
	for i := range changes {
		if changes[i].VDOM == "" {
			changes[i].VDOM = VDOM
		}
	}
	// after is the configuration as it will be; its tables are copied only
	// when a check reads one whole (an overlay is lazy), so a big batch
	// and an interactive save on a big table both stay cheap.
	after := req.view
	if !current || after == nil {
		after = newOverlay(runningView{s})
		for _, c := range changes {
			after.apply(c)
		}
	}
	secrets, newKey, rekeyed := s.rekeyIfNeeded(after, changes)
	if rekeyed {
		changes = append(changes, s.reencrypt(after, s.secrets, secrets)...)
		cs.Changes = changes
	}
	if err := checkConfig(s.schema, runningView{s}, after, changes); err != nil {
		return nil, nil, err
	}
	s.hookMu.Lock()
	validators := sortedHooks(s.validators)
	subs := sortedHooks(s.subs)
	s.hookMu.Unlock()
	for _, v := range validators {
		if err := v(cs, after); err != nil {
			return nil, nil, err
		}
	}
	plan := planWrite(changes, after, s.seq)
	err := s.db.Update(func(tx *bolt.Tx) error {
		if rekeyed {
			meta := tx.Bucket(bMeta)
			var err error
			if newKey != nil {
				err = meta.Put(kPrivKey, newKey)
			} else {
				err = meta.Delete(kPrivKey)
			}
			if err != nil {
				return err
			}
		}
		if verbatim != nil {
			if err := putVerbatim(tx.Bucket(bMeta), *verbatim); err != nil {
				return err
			}
		}
		return s.write(tx, cs, plan)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cmdb: commit failed, nothing written: %w", err)
	}
	s.seq = plan.seq
	for _, c := range plan.changes {
		if plan.reordered[c.Table] != nil {
			continue
		}
		rows := s.tables[c.Table]
		if rows == nil {
			rows = NewRows()
			s.tables[c.Table] = rows
		}
		if c.After == nil {
			rows.Remove(c.Key)
		} else {
			rows.Put(c.After)
		}
	}
	for t, rows := range plan.reordered {
		s.tables[t] = rows
	}
	cs.Changes = plan.changes
	s.revision = cs.Revision
	if rekeyed {
		s.secrets = secrets
	}
	if verbatim != nil {
		s.verbatim = *verbatim
	}
	return cs, subs, nil
}

// publish hands cs to the subscribers once every earlier revision has been
// handed out. No store lock is held meanwhile: subscribers read the store.
func (s *Store) publish(cs *ChangeSet, subs []func(*ChangeSet)) {
	s.publishMu.Lock()
	for s.published != cs.Revision-1 {
		s.publishCond.Wait()
	}
	s.publishMu.Unlock()
	for _, fn := range subs {
		fn(cs)
	}
	s.publishMu.Lock()
	s.published = cs.Revision
	s.publishCond.Broadcast()
	s.publishMu.Unlock()
}

// writePlan is what a commit writes, decided before the transaction: the
// bucket key (seq) of every entry written is set on a copy, so a failed
// transaction leaves the running entries and the counter as they were.
type writePlan struct {
	changes   []Change         // the commit's changes, After entries copied with their seq
	deletes   []uint64         // per change: the bucket key to delete (After == nil)
	reordered map[string]*Rows // tables whose order changed: rewritten whole
	seq       uint64           // the counter after the commit
}

// planWrite assigns bucket keys. A table whose order changed (move,
// rename) is rewritten in its new order with fresh keys, as bbolt keeps a
// bucket sorted by key; other entries keep their key across updates. A key
// given out earlier in the same commit is found by table and name.
func planWrite(changes []Change, ov *overlay, seq uint64) *writePlan {
	p := &writePlan{changes: slices.Clone(changes), deletes: make([]uint64, len(changes)), seq: seq}
	for _, c := range changes {
		if c.Order != nil && p.reordered[c.Table] == nil {
			if p.reordered == nil {
				p.reordered = map[string]*Rows{}
			}
			final := ov.Table(c.Table)
			r := &Rows{Keys: slices.Clone(final.Keys), ByKey: make(map[string]*Entry, len(final.Keys))}
			for _, k := range final.Keys {
				e := *final.ByKey[k]
				p.seq++
				e.seq = p.seq
				r.ByKey[k] = &e
			}
			p.reordered[c.Table] = r
		}
	}
	given := map[tableKey]uint64{}
	for i := range p.changes {
		c := &p.changes[i]
		if r := p.reordered[c.Table]; r != nil {
			if c.After != nil && r.ByKey[c.Key] != nil {
				c.After = r.ByKey[c.Key]
			}
			continue
		}
		tk := tableKey{c.Table, c.Key}
		cur, ok := given[tk]
		if !ok && c.Before != nil {
			cur = c.Before.seq
		}
		if c.After == nil {
			p.deletes[i] = cur
			delete(given, tk)
			continue
		}
		if cur == 0 {
			p.seq++
			cur = p.seq
		}
		given[tk] = cur
		a := *c.After
		a.seq = cur
		c.After = &a
	}
	return p
}

func (s *Store) write(tx *bolt.Tx, cs *ChangeSet, p *writePlan) error {
	cfg := tx.Bucket(bCfg)
	var arena valueArena
	for t, rows := range p.reordered {
		if cfg.Bucket([]byte(t)) != nil {
			if err := cfg.DeleteBucket([]byte(t)); err != nil {
				return err
			}
		}
		b, err := cfg.CreateBucket([]byte(t))
		if err != nil {
			return err
		}
		for _, k := range rows.Keys {
			e := rows.ByKey[k]
			if err := b.Put(u64(e.seq), arena.encode(e)); err != nil {
				return err
			}
		}
	}
	for i, c := range p.changes {
		if p.reordered[c.Table] != nil {
			continue
		}
		b, err := cfg.CreateBucketIfNotExists([]byte(c.Table))
		if err != nil {
			return err
		}
		if c.After == nil {
			if p.deletes[i] != 0 {
				if err := b.Delete(u64(p.deletes[i])); err != nil {
					return err
				}
			}
			continue
		}
		if err := b.Put(u64(c.After.seq), arena.encode(c.After)); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bMeta)
	if err := meta.Put(kRevision, u64(cs.Revision)); err != nil {
		return err
	}
	if err := meta.Put(kSeq, u64(p.seq)); err != nil {
		return err
	}
	return nil
}

// valueArena holds encoded values until the transaction commits: bbolt
// keeps the slices given to Put until then, so they must not be reused.
type valueArena struct{ buf []byte }

func (a *valueArena) encode(e *Entry) []byte {
	if cap(a.buf)-len(a.buf) < 4096 {
		// grow with the commit: 8 KiB for one entry, up to 1 MiB chunks
		a.buf = make([]byte, 0, min(max(2*cap(a.buf), 8192), 1<<20))
	}
	start := len(a.buf)
	a.buf = encodeEntry(a.buf, e)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// checkConfig is the commit's check of the configuration as it will be
// (after; before is the running one): every entry the commit leaves
// changed passes its table's save checks (checkEntry: required attributes,
// node checks, cross-table checks such as ike-tcp-port against
// auth-ike-saml-port, subnet overlap), nested entries included, and names
// existing entries only; no entry deleted is still named. An interactive
// save, a script, a restore and a rebased concurrent change all pass here,
// so no path can get round a check that another enforces.
func checkConfig(schema *Schema, before, after View, changes []Change) error {
	// An entry changed twice in a batch is checked once, as it ends: by
	// the change that wrote its final copy.
	var deleted []tableKey
	seen := map[tableKey]bool{}
	for _, c := range changes {
		t := schema.Table(c.Table)
		if t == nil {
			return fmt.Errorf("cmdb: unknown table %q", c.Table)
		}
		e := after.Entry(c.Table, c.Key)
		if e == nil {
			tk := tableKey{c.Table, c.Key}
			if before.Entry(c.Table, c.Key) != nil && !seen[tk] {
				seen[tk] = true
				deleted = append(deleted, tk)
			}
			continue
		}
		if e != c.After || c.Order != nil {
			continue
		}
		if err := checkEntryTree(after, t, e); err != nil {
			return err
		}
	}
	for _, tk := range deleted {
		if n := countRefs(schema, after, tk.table, tk.key); n > 0 {
			return inUseErr(n)
		}
	}
	if err := keepSuperAdmin(schema, before, after, changes); err != nil {
		return err
	}
	return recheckDependents(schema, after, changes)
}

// keepSuperAdmin refuses a change that leaves no administrator with the
// super_admin profile, whatever path it took (a delete, a rename, a
// profile change): no one could manage the unit any more.
func keepSuperAdmin(schema *Schema, before, after View, changes []Change) error {
	touched := false
	for _, c := range changes {
		touched = touched || c.Table == "system admin"
	}
	if !touched || checkLoginPossible(schema, before) != nil {
		return nil
	}
	if checkLoginPossible(schema, after) != nil {
		return &Error{Msg: "at least one administrator with the super_admin profile must remain", Code: CodeCheck}
	}
	return nil
}

// checkEntryTree runs an entry's save checks and reference checks, and
// those of its nested entries.
func checkEntryTree(v View, t *Table, e *Entry) error {
	if err := checkEntry(v, t, e); err != nil {
		return err
	}
	for _, a := range t.Attrs {
		if a.Child != nil {
			for _, c := range e.Children[a.Name].Ordered() {
				if err := checkEntryTree(v, a.Child, c); err != nil {
					return err
				}
			}
			continue
		}
		if a.Type != TRef && a.Type != TRefs {
			continue
		}
		for _, name := range e.Values[a.Name] {
			if !refExists(v, a, name) {
				return notFoundInDatasource(name)
			}
		}
	}
	return nil
}

func inUseErr(n int) *Error {
	return &Error{Msg: fmt.Sprintf("The entry is used by other %d entries", n), Code: CodeInUse}
}

func notFoundInDatasource(word string) *Error {
	return &Error{Msg: "entry not found in datasource\nvalue parse error before '" + grammar.Excerpt(word) + "'", Code: CodeValue}
}

// refExists tells whether name is a key of one of the attribute's targets.
func refExists(v View, a *Attr, name string) bool {
	for _, t := range a.Refs {
		if v.Entry(t, name) != nil {
			return true
		}
	}
	return false
}

// countRefs counts the entries whose references name table/key.
func countRefs(s *Schema, v View, table, key string) int {
	n := 0
	forEachRef(s, v, func(_ *Table, _ *Entry, a *Attr, e *Entry) {
		if slices.Contains(a.Refs, table) && slices.Contains(e.Get(a), key) {
			n++
		}
	})
	return n
}

// forEachRef visits every reference attribute of every entry (children
// included): top is the top-level entry the value lives in.
func forEachRef(s *Schema, v View, fn func(t *Table, top *Entry, a *Attr, e *Entry)) {
	for _, t := range s.order {
		rows := v.Table(t.Path)
		if rows == nil {
			continue
		}
		for _, k := range rows.Keys {
			top := rows.ByKey[k]
			walkRefs(t, top, func(a *Attr, e *Entry) { fn(t, top, a, e) })
		}
	}
}

func walkRefs(t *Table, e *Entry, fn func(a *Attr, e *Entry)) {
	for _, a := range t.Attrs {
		if a.Child != nil {
			for _, c := range e.Children[a.Name].Ordered() {
				walkRefs(a.Child, c, fn)
			}
			continue
		}
		// Defaults count: a default may name an entry (admin-server-cert).
		if (a.Type == TRef || a.Type == TRefs) && len(e.Get(a)) > 0 {
			fn(a, e)
		}
	}
}

// overlay is a View of a base configuration with uncommitted changes on
// top. It is lazy: a change is queued per table, and the table is copied
// and the changes replayed only when someone reads the whole table; an
// entry is looked up without copying anything.
type overlay struct {
	base    View
	tables  map[string]*Rows    // tables copied, changes applied
	queued  map[string][]Change // changes of tables not copied yet
	entries map[tableKey]*Entry // the queued entries by key (nil: deleted)
}

func newOverlay(base View) *overlay { return &overlay{base: base, tables: map[string]*Rows{}} }

func (o *overlay) Table(table string) *Rows {
	if r, ok := o.tables[table]; ok {
		return r
	}
	q, ok := o.queued[table]
	if !ok {
		return o.base.Table(table)
	}
	r := o.own(table)
	for _, c := range q {
		applyChange(r, c)
	}
	delete(o.queued, table)
	return r
}

func (o *overlay) Entry(table, key string) *Entry {
	if r, ok := o.tables[table]; ok {
		return r.ByKey[key]
	}
	if e, ok := o.entries[tableKey{table, key}]; ok {
		return e
	}
	return o.base.Entry(table, key)
}

// own returns a private copy of a table's rows to modify (entries shared).
func (o *overlay) own(table string) *Rows {
	if r, ok := o.tables[table]; ok {
		return r
	}
	r := NewRows()
	if b := o.base.Table(table); b != nil {
		r.Keys = slices.Clone(b.Keys)
		r.ByKey = make(map[string]*Entry, len(b.ByKey))
		for k, e := range b.ByKey {
			r.ByKey[k] = e
		}
	}
	o.tables[table] = r
	return r
}

func (o *overlay) apply(c Change) {
	if r, ok := o.tables[c.Table]; ok {
		applyChange(r, c)
		return
	}
	if o.queued == nil {
		o.queued, o.entries = map[string][]Change{}, map[tableKey]*Entry{}
	}
	o.queued[c.Table] = append(o.queued[c.Table], c)
	if c.Order == nil {
		o.entries[tableKey{c.Table, c.Key}] = c.After
	}
}

func applyChange(r *Rows, c Change) {
	switch {
	case c.Order != nil:
		r.Keys = slices.Clone(c.Order)
	case c.After == nil:
		r.Remove(c.Key)
	default:
		r.Put(c.After)
	}
}

// SingletonValue reads one attribute of a singleton table of the running
// configuration ("system global", "hostname"), default included.
func (s *Store) SingletonValue(table, attr string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return singletonValue(runningView{s}, s.schema, table, attr)
}

// sortedHooks returns hooks in registration order.
func sortedHooks[T any](m map[int]T) []T {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}
