package cmdb

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fosim/fosim/grammar"
)

// The model test runs random sequences of the operations admins do
// (create, update, delete, rename, clone, move, purge, batch scripts,
// restores of the unit's own backup, reopening the store), each through the
// text path or the structured edit API at random, against the store
// and against a simple in-memory model of three related tables, and
// compares the two after every step. The model knows FortiOS's rules: a
// referenced entry cannot be deleted, a rename rewrites the references, a
// move changes the order and nothing else, an entry keeps its uuid.

// modelEntry is what the model tracks of an entry.
type modelEntry struct {
	key    string
	values map[string][]string // tracked attribute → canonical words
	uuid   string              // "" until the store's first uuid is seen
}

type modelTable struct {
	path    string
	entries []*modelEntry
}

func (t *modelTable) find(key string) *modelEntry {
	for _, e := range t.entries {
		if e.key == key {
			return e
		}
	}
	return nil
}

func (t *modelTable) index(key string) int {
	return slices.IndexFunc(t.entries, func(e *modelEntry) bool { return e.key == key })
}

// model is the expected configuration of the tables under test.
type model struct {
	tables map[string]*modelTable
	// refs lists, per referencing table, the attributes naming entries of
	// the referenced tables.
	refs map[string][]string
	// ports are system settings ike-tcp-port and system global
	// auth-ike-saml-port, which must differ (a check across two tables).
	ports map[string]string
}

// The two ports of the cross-table check, as the model names them.
var modelPorts = map[string][2]string{
	"ike":  {"system settings", "ike-tcp-port"},
	"saml": {"system global", "auth-ike-saml-port"},
}

// tracked are the tables and attributes the model compares.
var tracked = map[string][]string{
	"firewall address": {"subnet", "comment"},
	"firewall addrgrp": {"member", "comment"},
	"firewall policy":  {"name", "srcaddr", "dstaddr", "comments"},
}

func newModel(st *Store) *model {
	m := &model{tables: map[string]*modelTable{}, refs: map[string][]string{
		"firewall addrgrp": {"member"},
		"firewall policy":  {"srcaddr", "dstaddr"},
	}, ports: map[string]string{}}
	for name, p := range modelPorts {
		m.ports[name] = st.SingletonValue(p[0], p[1])
	}
	for path, attrs := range tracked {
		mt := &modelTable{path: path}
		rows := st.Rows(path)
		for _, k := range rows.Keys {
			e := rows.ByKey[k]
			me := &modelEntry{key: k, values: map[string][]string{}, uuid: strings.Join(e.Values["uuid"], " ")}
			for _, a := range attrs {
				if v := e.Values[a]; len(v) > 0 {
					me.values[a] = slices.Clone(v)
				}
			}
			mt.entries = append(mt.entries, me)
		}
		m.tables[path] = mt
	}
	return m
}

func (m *model) clone() *model {
	c := &model{tables: map[string]*modelTable{}, refs: m.refs, ports: maps.Clone(m.ports)}
	for p, t := range m.tables {
		nt := &modelTable{path: p}
		for _, e := range t.entries {
			ne := &modelEntry{key: e.key, uuid: e.uuid, values: map[string][]string{}}
			for k, v := range e.values {
				ne.values[k] = slices.Clone(v)
			}
			nt.entries = append(nt.entries, ne)
		}
		c.tables[p] = nt
	}
	return c
}

// names are the address/group names an entry of the model refers to.
func (m *model) referrers(key string) int {
	n := 0
	for table, attrs := range m.refs {
		for _, e := range m.tables[table].entries {
			for _, a := range attrs {
				if slices.Contains(e.values[a], key) {
					n++
					break
				}
			}
		}
	}
	return n
}

func (m *model) renameRefs(from, to string) {
	for table, attrs := range m.refs {
		for _, e := range m.tables[table].entries {
			for _, a := range attrs {
				if i := slices.Index(e.values[a], from); i >= 0 {
					e.values[a][i] = to
				}
			}
		}
	}
}

// compare checks the store against the model; it learns the uuid of new
// entries and checks that known ones did not change.
func (m *model) compare(st *Store) error {
	for name, p := range modelPorts {
		if got := st.SingletonValue(p[0], p[1]); got != m.ports[name] {
			return fmt.Errorf("%s %s is %s, model %s", p[0], p[1], got, m.ports[name])
		}
	}
	for path, mt := range m.tables {
		rows := st.Rows(path)
		var want []string
		for _, e := range mt.entries {
			want = append(want, e.key)
		}
		if !slices.Equal(rows.Keys, want) {
			return fmt.Errorf("%s: keys %q, model %q", path, rows.Keys, want)
		}
		for _, me := range mt.entries {
			e := rows.ByKey[me.key]
			for _, a := range tracked[path] {
				got := e.Values[a]
				if !slices.Equal(got, me.values[a]) {
					return fmt.Errorf("%s %q: %s is %q, model %q", path, me.key, a, got, me.values[a])
				}
			}
			u := strings.Join(e.Values["uuid"], " ")
			if me.uuid == "" {
				me.uuid = u
			} else if u != me.uuid {
				return fmt.Errorf("%s %q: uuid changed from %s to %s", path, me.key, me.uuid, u)
			}
		}
	}
	return nil
}

// modelOp is one generated operation: the script an admin types, whether
// it runs in batch mode (a pasted file), and what the model predicts.
type modelOp struct {
	script string
	batch  bool
	// apply changes the model as the operation should; it returns the
	// return code the store must answer (0 for success).
	apply func(m *model) int
	// special operations instead of a script
	reopen, restore bool
	// restoreWith restores the unit's own backup with this text appended.
	restoreWith string
	// concurrent: session A runs [0], session B runs [1], A runs [2]
	concurrent [3]string
	// api is the same operation through the structured edit API (nil:
	// text only); it returns the first error.
	api func(sess *Session) error
}

// attrValue is one Set of an API operation.
type attrValue struct {
	attr  string
	value Value
}

// apiSave opens table and key, sets the values in order and saves: the
// API's "config table / edit key / set … / next / end".
func apiSave(sess *Session, table, key string, sets ...attrValue) error {
	t, err := sess.OpenTable(table)
	if err != nil {
		return err
	}
	e, err := t.Edit(key)
	if err != nil {
		return err
	}
	for _, s := range sets {
		if err := e.Set(s.attr, s.value); err != nil {
			return err
		}
	}
	return e.Save()
}

// apiTable runs fn on an opened table.
func apiTable(sess *Session, table string, fn func(t *TableEdit) error) error {
	t, err := sess.OpenTable(table)
	if err != nil {
		return err
	}
	return fn(t)
}

type opGen struct {
	r *rand.Rand
	n int // counter for new names
}

func (g *opGen) newName(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%d", prefix, g.n)
}

func (g *opGen) pick(t *modelTable) *modelEntry {
	if len(t.entries) == 0 {
		return nil
	}
	return t.entries[g.r.IntN(len(t.entries))]
}

// addrNames are the names a group member or policy address may take.
func (g *opGen) someAddrs(m *model, max int) []string {
	var pool []string
	for _, e := range m.tables["firewall address"].entries {
		pool = append(pool, e.key)
	}
	for _, e := range m.tables["firewall addrgrp"].entries {
		pool = append(pool, e.key)
	}
	n := 1 + g.r.IntN(max)
	var out []string
	for range n {
		w := pool[g.r.IntN(len(pool))]
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func (g *opGen) next(m *model) modelOp {
	addr, grp, pol := m.tables["firewall address"], m.tables["firewall addrgrp"], m.tables["firewall policy"]
	switch g.r.IntN(18) {
	case 16, 17: // one of the two ports, through any path: they must differ
		name, other := "ike", "saml"
		if g.r.IntN(2) == 0 {
			name, other = other, name
		}
		port := []string{"443", "1001", "8443", "9443"}[g.r.IntN(4)]
		table, attr := modelPorts[name][0], modelPorts[name][1]
		script := fmt.Sprintf("config %s\nset %s %s\nend\n", table, attr, port)
		apply := func(m *model) int {
			if m.ports[other] == port {
				return CodeCheck
			}
			m.ports[name] = port
			return 0
		}
		if g.r.IntN(3) == 0 {
			return modelOp{restoreWith: script, apply: apply}
		}
		return modelOp{script: script, batch: g.r.IntN(2) == 0, api: func(sess *Session) error {
			t, err := sess.OpenTable(table)
			if err != nil {
				return err
			}
			e, err := t.Edit("")
			if err != nil {
				return err
			}
			if err := e.Set(attr, Words(port)); err != nil {
				return err
			}
			return e.Save()
		}, apply: apply}
	case 0, 1: // a new address
		k := g.newName("a")
		ip := fmt.Sprintf("10.%d.%d.0", g.r.IntN(256), g.r.IntN(256))
		return modelOp{script: fmt.Sprintf("config firewall address\nedit %s\nset subnet %s/24\nnext\nend\n", k, ip), api: func(sess *Session) error {
			return apiSave(sess, "firewall address", k, attrValue{"subnet", Prefix(netip.MustParsePrefix(ip + "/24"))})
		}, apply: func(m *model) int {
			m.tables["firewall address"].entries = append(m.tables["firewall address"].entries,
				&modelEntry{key: k, values: map[string][]string{"subnet": {ip, "255.255.255.0"}}})
			return 0
		}}
	case 2: // an update
		e := g.pick(addr)
		c := g.newName("c")
		return modelOp{script: fmt.Sprintf("config firewall address\nedit %q\nset comment %s\nnext\nend\n", e.key, c), api: func(sess *Session) error {
			return apiSave(sess, "firewall address", e.key, attrValue{"comment", Words(c)})
		}, apply: func(m *model) int {
			m.tables["firewall address"].find(e.key).values["comment"] = []string{c}
			return 0
		}}
	case 3: // delete an address
		e := g.pick(addr)
		return modelOp{script: fmt.Sprintf("config firewall address\ndelete %q\nend\n", e.key), api: func(sess *Session) error {
			return apiTable(sess, "firewall address", func(t *TableEdit) error { return t.Delete(e.key) })
		}, apply: func(m *model) int {
			if m.referrers(e.key) > 0 {
				return CodeInUse
			}
			t := m.tables["firewall address"]
			t.entries = slices.Delete(t.entries, t.index(e.key), t.index(e.key)+1)
			return 0
		}}
	case 4, 5: // rename an address or a group
		t := addr
		if g.r.IntN(3) == 0 && len(grp.entries) > 0 {
			t = grp
		}
		e := g.pick(t)
		to := g.newName("r")
		path := t.path
		return modelOp{script: fmt.Sprintf("config %s\nrename %q to %s\nend\n", path, e.key, to), api: func(sess *Session) error {
			return apiTable(sess, path, func(t *TableEdit) error { return t.Rename(e.key, to) })
		}, apply: func(m *model) int {
			m.tables[path].find(e.key).key = to
			m.renameRefs(e.key, to)
			return 0
		}}
	case 6: // clone
		e := g.pick(addr)
		to := g.newName("k")
		return modelOp{script: fmt.Sprintf("config firewall address\nclone %q to %s\nend\n", e.key, to), api: func(sess *Session) error {
			return apiTable(sess, "firewall address", func(t *TableEdit) error { return t.Clone(e.key, to) })
		}, apply: func(m *model) int {
			t := m.tables["firewall address"]
			src := t.find(e.key)
			c := &modelEntry{key: to, values: map[string][]string{}}
			for k, v := range src.values {
				c.values[k] = slices.Clone(v)
			}
			t.entries = append(t.entries, c)
			return 0
		}}
	case 7: // a group
		k := g.newName("g")
		var members []string
		for _, e := range addr.entries {
			if g.r.IntN(4) == 0 && len(members) < 3 {
				members = append(members, e.key)
			}
		}
		if len(members) == 0 {
			members = []string{addr.entries[0].key}
		}
		return modelOp{script: fmt.Sprintf("config firewall addrgrp\nedit %s\nset member %s\nnext\nend\n", k, quoteAll(members)), api: func(sess *Session) error {
			return apiSave(sess, "firewall addrgrp", k, attrValue{"member", Words(members...)})
		}, apply: func(m *model) int {
			m.tables["firewall addrgrp"].entries = append(m.tables["firewall addrgrp"].entries,
				&modelEntry{key: k, values: map[string][]string{"member": members}})
			return 0
		}}
	case 8: // a policy
		src, dst := g.someAddrs(m, 2), g.someAddrs(m, 2)
		name := g.newName("p")
		return modelOp{script: fmt.Sprintf("config firewall policy\nedit 0\nset name %s\nset srcintf port1\nset dstintf port2\nset srcaddr %s\nset dstaddr %s\nset schedule always\nset service ALL\nnext\nend\n", name, quoteAll(src), quoteAll(dst)), api: func(sess *Session) error {
			return apiSave(sess, "firewall policy", "0", attrValue{"name", Words(name)}, attrValue{"srcintf", Words("port1")}, attrValue{"dstintf", Words("port2")},
				attrValue{"srcaddr", Words(src...)}, attrValue{"dstaddr", Words(dst...)}, attrValue{"schedule", Words("always")}, attrValue{"service", Words("ALL")})
		}, apply: func(m *model) int {
			t := m.tables["firewall policy"]
			max := 0
			for _, e := range t.entries {
				n, _ := strconv.Atoi(e.key)
				max = maxInt(max, n)
			}
			t.entries = append(t.entries, &modelEntry{key: strconv.Itoa(max + 1), values: map[string][]string{
				"name": {name}, "srcaddr": src, "dstaddr": dst}})
			return 0
		}}
	case 9: // move a policy
		if len(pol.entries) < 2 {
			return g.next(m)
		}
		a, b := g.pick(pol), g.pick(pol)
		if a == b {
			return g.next(m)
		}
		before := g.r.IntN(2) == 0
		where := "after"
		if before {
			where = "before"
		}
		return modelOp{script: fmt.Sprintf("config firewall policy\nmove %s %s %s\nend\n", a.key, where, b.key), api: func(sess *Session) error {
			return apiTable(sess, "firewall policy", func(t *TableEdit) error { return t.Move(a.key, b.key, before) })
		}, apply: func(m *model) int {
			t := m.tables["firewall policy"]
			ia := t.index(a.key)
			ea := t.entries[ia]
			t.entries = slices.Delete(t.entries, ia, ia+1)
			ib := t.index(b.key)
			if !before {
				ib++
			}
			t.entries = slices.Insert(t.entries, ib, ea)
			return 0
		}}
	case 10: // delete a policy or a group
		t := pol
		if g.r.IntN(2) == 0 && len(grp.entries) > 0 {
			t = grp
		}
		e := g.pick(t)
		if e == nil {
			return g.next(m)
		}
		path := t.path
		return modelOp{script: fmt.Sprintf("config %s\ndelete %q\nend\n", path, e.key), api: func(sess *Session) error {
			return apiTable(sess, path, func(t *TableEdit) error { return t.Delete(e.key) })
		}, apply: func(m *model) int {
			if m.referrers(e.key) > 0 && path == "firewall addrgrp" {
				return CodeInUse
			}
			mt := m.tables[path]
			mt.entries = slices.Delete(mt.entries, mt.index(e.key), mt.index(e.key)+1)
			return 0
		}}
	case 11: // purge the groups
		return modelOp{script: "config firewall addrgrp\npurge\nend\n", api: func(sess *Session) error {
			return apiTable(sess, "firewall addrgrp", (*TableEdit).Purge)
		}, apply: func(m *model) int {
			t := m.tables["firewall addrgrp"]
			for _, e := range t.entries {
				// references from other groups do not count: they go too
				for _, p := range m.tables["firewall policy"].entries {
					if slices.Contains(p.values["srcaddr"], e.key) || slices.Contains(p.values["dstaddr"], e.key) {
						return CodeInUse
					}
				}
			}
			t.entries = nil
			return 0
		}}
	case 12: // a pasted script: rename then new entries, in batch mode
		e := g.pick(addr)
		to, k1, k2 := g.newName("r"), g.newName("b"), g.newName("b")
		return modelOp{batch: true, script: fmt.Sprintf("config firewall address\nrename %q to %s\nedit %s\nnext\nend\nconfig firewall address\nedit %s\nset comment x\nnext\nend\n", e.key, to, k1, k2), api: func(sess *Session) error {
			// one batch, one commit at the end
			sess.Batch = true
			err := apiTable(sess, "firewall address", func(t *TableEdit) error { return t.Rename(e.key, to) })
			if err == nil {
				err = apiSave(sess, "firewall address", k1)
			}
			if err == nil {
				err = apiSave(sess, "firewall address", k2, attrValue{"comment", Words("x")})
			}
			if err == nil {
				err = sess.Commit()
			}
			return err
		}, apply: func(m *model) int {
			t := m.tables["firewall address"]
			t.find(e.key).key = to
			m.renameRefs(e.key, to)
			t.entries = append(t.entries, &modelEntry{key: k1, values: map[string][]string{}},
				&modelEntry{key: k2, values: map[string][]string{"comment": {"x"}}})
			return 0
		}}
	case 14: // two admins on one entry: A edits, B edits and saves, A saves
		var subnets []*modelEntry // entries of type ipmask
		for _, e := range addr.entries {
			if e.values["subnet"] != nil {
				subnets = append(subnets, e)
			}
		}
		if len(subnets) == 0 {
			return g.next(m)
		}
		e := subnets[g.r.IntN(len(subnets))]
		c := g.newName("c")
		ip := fmt.Sprintf("10.%d.%d.0", g.r.IntN(256), g.r.IntN(256))
		return modelOp{concurrent: [3]string{
			fmt.Sprintf("config firewall address\nedit %q\nset comment %s\n", e.key, c),
			fmt.Sprintf("config firewall address\nedit %q\nset subnet %s/24\nnext\nend\n", e.key, ip),
			"next\nend\n"}, api: func(sess *Session) error {
			// A opens the entry and sets the comment; B sets the subnet and
			// saves; A saves: both changes land.
			ta, err := sess.OpenTable("firewall address")
			if err != nil {
				return err
			}
			ea, err := ta.Edit(e.key)
			if err != nil {
				return err
			}
			if err := ea.Set("comment", Words(c)); err != nil {
				return err
			}
			b := sess.Store().NewSession("admin", "B")
			if err := apiSave(b, "firewall address", e.key, attrValue{"subnet", Prefix(netip.MustParsePrefix(ip + "/24"))}); err != nil {
				return err
			}
			return ea.Save()
		}, apply: func(m *model) int {
			me := m.tables["firewall address"].find(e.key)
			me.values["comment"] = []string{c}
			me.values["subnet"] = []string{ip, "255.255.255.0"}
			return 0
		}}
	case 13:
		return modelOp{reopen: true, apply: func(*model) int { return 0 }}
	default:
		return modelOp{restore: true, apply: func(*model) int { return 0 }}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func quoteAll(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = strconv.Quote(w)
	}
	return strings.Join(q, " ")
}

// execScript runs a script in a session and returns the first error code.
func execScript(st *Store, script string, batch bool) int {
	sess := st.NewSession("admin", "model")
	sess.Batch = batch
	return execIn(sess, script)
}

func execIn(sess *Session, script string) int {
	first := 0
	for _, r := range grammar.Parse(script) {
		if r.Err != nil {
			return CodeParse
		}
		if _, err := sess.Exec(r.Stmt); err != nil && first == 0 {
			first = code(err)
			if first == 0 {
				first = -1
			}
		}
	}
	if err := sess.Flush(); err != nil && first == 0 {
		first = code(err)
	}
	return first
}

func TestRandomOperationsAgainstModel(t *testing.T) {
	sequences, steps := 30, 80
	if testing.Short() {
		sequences = 3
	}
	if s := os.Getenv("FOSIM_MODEL_SEQUENCES"); s != "" {
		sequences, _ = strconv.Atoi(s)
	}
	ops := 0
	for seqN := range sequences {
		seed := uint64(seqN) + 1
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			dir := t.TempDir()
			st := newTestStoreIn(t, dir)
			m := newModel(st)
			g := &opGen{r: rand.New(rand.NewPCG(seed, 8))}
			var history []string
			for step := range steps {
				op := g.next(m)
				want := m.clone()
				wantCode := op.apply(want)
				// half the operations go through the structured API
				useAPI := op.api != nil && g.r.IntN(2) == 0
				got := 0
				switch {
				case op.reopen:
					history = append(history, "(reopen)")
					st.Close()
					var err error
					st, err = Open(dir, testSchema(t), Options{NoSync: true})
					if err != nil {
						t.Fatalf("step %d: reopen: %v", step, err)
					}
				case op.restore:
					history = append(history, "(backup, restore)")
					if res, err := st.Restore(st.Backup("admin"), "admin", false); err != nil {
						t.Fatalf("step %d: the unit's own backup does not restore: %v %v\n%s", step, err, res.Errors, strings.Join(history, "\n"))
					}
				case op.restoreWith != "":
					history = append(history, "(restore of the backup and) "+op.restoreWith)
					_, err := st.Restore(st.Backup("admin")+op.restoreWith, "admin", false)
					got = code(err)
				case op.concurrent[0] != "" && !useAPI:
					history = append(history, "A: "+op.concurrent[0]+"B: "+op.concurrent[1]+"A: "+op.concurrent[2])
					a, b := st.NewSession("admin", "A"), st.NewSession("admin", "B")
					got = execIn(a, op.concurrent[0])
					if got == 0 {
						got = execIn(b, op.concurrent[1])
					}
					if got == 0 {
						got = execIn(a, op.concurrent[2])
					}
				case useAPI:
					history = append(history, "(api) "+op.script+strings.Join(op.concurrent[:], ""))
					got = code(op.api(st.NewSession("admin", "model-api")))
				default:
					history = append(history, op.script)
					got = execScript(st, op.script, op.batch)
				}
				ops++
				if got != wantCode {
					t.Fatalf("step %d: return code %d, model %d\nhistory:\n%s", step, got, wantCode, strings.Join(history, "\n"))
				}
				if got == 0 {
					m = want
				}
				if err := m.compare(st); err != nil {
					t.Fatalf("step %d: %v\nhistory:\n%s", step, err, strings.Join(history, "\n"))
				}
			}
			// and once more from the file
			st.Close()
			st2, err := Open(dir, testSchema(t), Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Close()
			if err := m.compare(st2); err != nil {
				t.Fatalf("after reopen: %v\nhistory:\n%s", err, strings.Join(history, "\n"))
			}
		})
	}
	if !t.Failed() {
		t.Logf("model test: %d sequences, %d operations, 0 divergences", sequences, ops)
	}
}

// newTestStoreIn is newTestStore in dir, closed by the caller.
func newTestStoreIn(t *testing.T, dir string) *Store {
	t.Helper()
	factory, err := factoryBackup()
	if err != nil {
		t.Fatal(err)
	}
	st, err := Open(dir, testSchema(t), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := st.Restore(factory, "admin", false); err != nil {
		t.Fatalf("factory: %v %v", err, res.Errors)
	}
	return st
}
