package cmdb

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/fosim/fosim/grammar"
	"github.com/fosim/fosim/internal/fixed"
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
	return s.backupLocked(user)
}

func (s *Store) backupLocked(user string) string {
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
//
// A restore checks the file as FortiOS does first (CheckBackupHeader), keeps
// what a FortiGate keeps whatever the file says (its physical ports, its
// factory certificates), and refuses a configuration that would leave the
// unit with no super_admin administrator.
func (s *Store) Restore(text, user string, lenient bool) (*RestoreResult, error) {
	text = grammar.StripBOM(text)
	if err := CheckBackupHeader(text, lenient); err != nil {
		return &RestoreResult{}, err
	}
	// The configuration restored over stays in the revision list, so that
	// the restore can be undone ("execute restore config flash <id>").
	if s.Revision() > 0 {
		if _, err := s.SaveConfigRevision(user, "Automatically backed up before restore"); err != nil {
			return &RestoreResult{}, err
		}
	}
	return s.restore(text, user, lenient)
}

func (s *Store) restore(text, user string, lenient bool) (*RestoreResult, error) {
	// The file's entries arrive in file order, so a save-time check that
	// reads another table would see it half restored: over an empty view
	// those checks find no schema and pass, and the commit checks the
	// whole result (checkConfig) instead.
	sess := &Session{store: s, schema: s.schema, User: user, Source: "restore", ov: newOverlay(emptyView{}), detached: true}
	s.seedBuiltIn(sess.ov)
	res := RunScript(sess, text, ScriptOptions{Lenient: lenient})
	out := &RestoreResult{Errors: res.Errors, Kept: len(res.Verbatim)}
	if len(res.Errors) > 0 && !lenient {
		return out, &Error{Msg: "restore failed: configuration unchanged", Code: CodeParse}
	}
	// The file's order first, then the built-in entries it did not name.
	for _, table := range []string{"system interface", "vpn certificate local", "system accprofile"} {
		rows := sess.ov.Table(table)
		if rows == nil {
			continue
		}
		var order []string
		named := map[string]bool{}
		for _, k := range sess.saved[table] {
			if !named[k] && rows.ByKey[k] != nil {
				named[k] = true
				order = append(order, k)
			}
		}
		for _, k := range rows.Keys {
			if !named[k] {
				order = append(order, k)
			}
		}
		sess.ov.apply(Change{Table: table, Order: order})
	}
	if err := checkLoginPossible(s.schema, sess.ov); err != nil {
		return out, err
	}
	verbatim := res.Verbatim
	if verbatim == nil {
		verbatim = []string{}
	}
	cs, err := s.commit(commitRequest{target: sess.ov, verbatim: &verbatim, user: user, source: "restore"})
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

// CodeFileCheck is the return code of a refused restore file.
const CodeFileCheck = -4

// fileCheckErr is FortiOS's "File check failed" with fosim's reason.
func fileCheckErr(format string, args ...any) *Error {
	return &Error{Msg: "File check failed: " + fmt.Sprintf(format, args...) + "\nconfiguration unchanged", Code: CodeFileCheck}
}

// CheckBackupHeader checks the "#config-version=" line a FortiOS backup
// starts with: a file without one is a script, not a backup (fosim apply
// runs scripts); a file of another model (not a FortiGate-VM) is refused
// unless lenient; a file of a newer FortiOS than this unit's, or of a
// multi-VDOM unit, is refused.
func CheckBackupHeader(text string, lenient bool) error {
	first, _, _ := strings.Cut(strings.TrimLeft(text, " \t\r\n"), "\n")
	first = strings.TrimRight(first, "\r")
	hdr, ok := strings.CutPrefix(first, "#config-version=")
	if !ok {
		return fileCheckErr("not a configuration backup (no #config-version line); run a script with fosim apply")
	}
	fields := strings.Split(hdr, ":")
	// FGVMK6-7.6.1-FW-build3462-241022
	parts := strings.Split(fields[0], "-")
	if len(parts) < 2 {
		return fileCheckErr("bad #config-version line '%s'", grammar.Excerpt(first))
	}
	model, version := parts[0], parts[1]
	ownModel, ownVersion, _ := strings.Cut(Firmware, "-")
	ownVersion, _, _ = strings.Cut(ownVersion, "-")
	if !strings.HasPrefix(model, "FGVM") && !lenient {
		return fileCheckErr("the file is for model %s, this unit is %s (%s)", grammar.Excerpt(model), ownModel, fixed.Platform)
	}
	v, ok1 := parseVersion(version)
	own, _ := parseVersion(ownVersion)
	if !ok1 {
		return fileCheckErr("bad firmware version '%s'", grammar.Excerpt(version))
	}
	if slices.Compare(v, own) > 0 {
		return fileCheckErr("the file is from FortiOS %s, newer than this unit's %s", version, ownVersion)
	}
	for _, f := range fields[1:] {
		if f == "vdom=1" {
			return fileCheckErr("the file is a multi-VDOM configuration (vdom=1); fosim models one VDOM")
		}
	}
	return nil
}

func parseVersion(v string) ([]int, bool) {
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, len(out) == 3
}

// seedBuiltIn gives a restore the entries a FortiGate has whatever file
// it is given: its physical ports (bare: the file's values, if any, are
// set on them), its factory certificates and the super_admin profile
// (read-only on a FortiGate). A file that lacks them does not remove them,
// and a file may refer to them.
func (s *Store) seedBuiltIn(target *overlay) {
	seed := func(table string, builtin func(*Entry) bool, bare bool) {
		running := s.Rows(table)
		for _, k := range running.Keys {
			e := running.ByKey[k]
			if !builtin(e) {
				continue
			}
			c := e.Clone()
			if bare {
				c = NewEntry(k)
				for _, a := range []string{"type", "vdom", "snmp-index"} {
					if v := e.Values[a]; v != nil {
						c.Values[a] = slices.Clone(v)
					}
				}
			}
			c.seq = 0
			target.apply(Change{Table: table, Key: k, After: c})
		}
	}
	seed("system interface", func(e *Entry) bool {
		return slices.Equal(e.Values["type"], []string{"physical"})
	}, true)
	seed("vpn certificate local", func(e *Entry) bool { return strings.HasPrefix(e.Key, "Fortinet_") }, false)
	seed("system accprofile", func(e *Entry) bool { return e.Key == "super_admin" }, false)
}

// checkLoginPossible refuses a configuration in which no administrator
// has the super_admin profile: the unit could not be managed any more.
func checkLoginPossible(schema *Schema, v View) error {
	admins := v.Table("system admin")
	if admins != nil {
		t := schema.Table("system admin")
		for _, k := range admins.Keys {
			if slices.Equal(admins.ByKey[k].Get(t.Attr("accprofile")), []string{"super_admin"}) {
				return nil
			}
		}
	}
	return &Error{Msg: "restore refused: the configuration has no administrator with the super_admin profile (no one could log in to manage the unit)\nconfiguration unchanged", Code: CodeFileCheck}
}
