package cmdb

import (
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The structured API gives the text path's return codes.
func TestStructuredEditCodes(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "api")
	addr, err := sess.OpenTable("firewall address")
	if err != nil {
		t.Fatal(err)
	}
	e, err := addr.Edit("h1")
	if err != nil || !e.Created() {
		t.Fatalf("edit h1: %v created=%v", err, e.Created())
	}
	if err := e.Set("subnet", Prefix(netip.MustParsePrefix("10.9.0.0/16"))); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("comment", Words("first")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"unknown attribute", e.Set("colour", Words("red")), CodeParse},
		{"a prefix is not the attribute name", e.Set("sub", Words("10.0.0.0/8")), CodeParse},
		{"bad value", e.Set("subnet", Words("10.0.0.300/8")), CodeValue},
		{"append to a single value", e.Append("comment", Words("x")), CodeParse},
	} {
		if code(c.err) != c.want {
			t.Errorf("%s: %v, want %d", c.name, c.err, c.want)
		}
	}
	if err := e.Save(); err != nil {
		t.Fatal(err)
	}
	got := st.Lookup("firewall address", "h1")
	if got == nil || strings.Join(got.Values["subnet"], " ") != "10.9.0.0 255.255.0.0" || got.Values["comment"][0] != "first" {
		t.Fatalf("saved %+v", got)
	}
	// The handle stays open: a second save saves again.
	if err := e.Set("comment", Words("second")); err != nil {
		t.Fatal(err)
	}
	if err := e.Save(); err != nil {
		t.Fatal(err)
	}
	if c := st.Lookup("firewall address", "h1").Values["comment"]; c[0] != "second" {
		t.Fatalf("second save: %q", c)
	}

	grp, _ := sess.OpenTable("firewall addrgrp")
	g, _ := grp.Edit("g1")
	if err := g.Set("member", Words("nosuch")); code(err) != CodeValue {
		t.Errorf("member nosuch: %v", err)
	}
	if err := g.Set("member", Words("h1")); err != nil {
		t.Fatal(err)
	}
	if err := g.Unselect("member", Words("all")); code(err) != CodeValue {
		t.Errorf("unselect a word not held: %v", err)
	}
	if err := g.Save(); err != nil {
		t.Fatal(err)
	}
	if err := addr.Delete("h1"); code(err) != CodeInUse {
		t.Errorf("delete a referenced address: %v", err)
	}
	if err := addr.Delete("nosuch"); code(err) != CodeNotFound {
		t.Errorf("delete nosuch: %v", err)
	}
	if err := addr.Rename("h1", "h2"); err != nil {
		t.Fatal(err)
	}
	if m := st.Lookup("firewall addrgrp", "g1").Values["member"]; m[0] != "h2" {
		t.Errorf("rename did not rewrite the member: %q", m)
	}
	if err := addr.Clone("h2", "all"); code(err) != CodeDuplicate {
		t.Errorf("clone onto an existing name: %v", err)
	}
	if err := addr.Clone("h2", "h3"); err != nil {
		t.Fatal(err)
	}
	if a, b := st.Lookup("firewall address", "h2"), st.Lookup("firewall address", "h3"); a.Values["uuid"][0] == b.Values["uuid"][0] {
		t.Error("a clone kept the uuid")
	}
	if _, err := sess.OpenTable("firewall nosuch"); code(err) != CodeParse {
		t.Errorf("open an unknown table: %v", err)
	}
	// A read-only admin may open but not change.
	mustRun(t, st.NewSession("admin", "t"), "config system accprofile\nedit ro\nset fwgrp read\nnext\nend\nconfig system admin\nedit ro\nset accprofile ro\nset password Fortinet-123\nnext\nend\n")
	ro := st.NewSession("ro", "api")
	rt, err := ro.OpenTable("firewall address")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Edit("new"); code(err) != CodePermission {
		t.Errorf("read-only create: %v", err)
	}
	if err := rt.Delete("h3"); code(err) != CodePermission {
		t.Errorf("read-only delete: %v", err)
	}
	re, _ := rt.Edit("h3")
	if err := re.Set("comment", Words("x")); code(err) != CodePermission {
		t.Errorf("read-only set: %v", err)
	}
}

// Nested tables, singletons and move through the API.
func TestStructuredEditNestedAndMove(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "api")
	glob, _ := sess.OpenTable("system global")
	g, err := glob.Edit("")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Set("hostname", Words("FGT-API")); err != nil {
		t.Fatal(err)
	}
	if err := g.Save(); err != nil {
		t.Fatal(err)
	}
	if h := st.SingletonValue("system global", "hostname"); h != "FGT-API" {
		t.Fatalf("hostname %q", h)
	}
	pol, _ := sess.OpenTable("firewall policy")
	for range 3 {
		p, err := pol.Edit("0")
		if err != nil {
			t.Fatal(err)
		}
		for attr, v := range map[string]Value{"srcintf": Words("port1"), "dstintf": Words("port2"), "srcaddr": Words("all"), "dstaddr": Words("all"), "schedule": Words("always"), "service": Words("ALL")} {
			if err := p.Set(attr, v); err != nil {
				t.Fatalf("%s: %v", attr, err)
			}
		}
		if err := p.Save(); err != nil {
			t.Fatal(err)
		}
	}
	if err := pol.Move("3", "1", true); err != nil {
		t.Fatal(err)
	}
	if k := strings.Join(st.Rows("firewall policy").Keys, " "); k != "3 1 2" {
		t.Fatalf("order after move: %s", k)
	}
	// A policy missing what FortiOS requires is refused at save (-7610).
	p, _ := pol.Edit("0")
	if err := p.Save(); code(err) != CodeCheck {
		t.Errorf("save of an empty policy: %v", err)
	}
	// A nested table: a user group's match entries are saved into the
	// group's candidate and reach the store with the group.
	grp, _ := sess.OpenTable("user group")
	ge, _ := grp.Edit("grp1")
	mt, err := ge.OpenTable("match")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mt.Edit("0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set("group-name", Words("staff")); err != nil {
		t.Fatal(err)
	}
	if err := m.Set("server-name", Words("nosuch")); code(err) != CodeValue {
		t.Errorf("nested reference to nothing: %v", err)
	}
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	if st.Lookup("user group", "grp1") != nil {
		t.Fatal("a nested save committed its owner")
	}
	if err := ge.Save(); err != nil {
		t.Fatal(err)
	}
	saved := st.Lookup("user group", "grp1")
	if saved == nil || saved.Children["match"].Len() != 1 || saved.Children["match"].ByKey["1"].Values["group-name"][0] != "staff" {
		t.Fatalf("group saved as %+v", saved)
	}
	if _, err := ge.OpenTable("member"); code(err) != CodeParse {
		t.Errorf("open a plain attribute as a table: %v", err)
	}
}

// Issue 9: a restore is checked as interactive editing is; here
// ike-tcp-port (system settings) equal to auth-ike-saml-port (system
// global), which each entry alone passes against the other's old value.
func TestRestoreRunsCrossTableChecks(t *testing.T) {
	st := newTestStore(t)
	backup := st.Backup("admin")
	rev := st.Revision()
	// the port equal to the current SAML port, and the SAML port moved to
	// the current ike-tcp-port: each against the other's old value passes
	text := backup + "config system settings\n    set ike-tcp-port 8443\nend\nconfig system global\n    set auth-ike-saml-port 8443\nend\n"
	if _, err := st.Restore(text, "admin", false); code(err) != CodeCheck {
		t.Fatalf("restore with ike-tcp-port == auth-ike-saml-port: %v", err)
	}
	if st.Revision() != rev+1 { // the automatic revision backup only
		t.Logf("revision %d -> %d", rev, st.Revision())
	}
	if got := st.SingletonValue("system settings", "ike-tcp-port"); got != "443" {
		t.Fatalf("ike-tcp-port %s after a refused restore", got)
	}
	// The same as a script (fosim apply runs it as one transaction) …
	sess := st.NewSystemSession("admin", "apply")
	res := RunScript(sess, "config system settings\nset ike-tcp-port 8443\nend\nconfig system global\nset auth-ike-saml-port 8443\nend\n", ScriptOptions{Atomic: true})
	if len(res.Errors) == 0 || res.Errors[0].Code() != CodeCheck {
		t.Fatalf("apply with ike-tcp-port == auth-ike-saml-port: %v", res.Errors)
	}
	// … and in the other order, global first.
	res = RunScript(st.NewSystemSession("admin", "apply"), "config system global\nset auth-ike-saml-port 8443\nend\nconfig system settings\nset ike-tcp-port 8443\nend\n", ScriptOptions{Atomic: true})
	if len(res.Errors) == 0 || res.Errors[0].Code() != CodeCheck {
		t.Fatalf("apply (global first) with ike-tcp-port == auth-ike-saml-port: %v", res.Errors)
	}
	if got := st.SingletonValue("system global", "auth-ike-saml-port"); got != "1001" {
		t.Fatalf("auth-ike-saml-port %s after refused applies", got)
	}
	// A valid restore of both still lands.
	ok := backup + "config system settings\n    set ike-tcp-port 8443\nend\nconfig system global\n    set auth-ike-saml-port 9443\nend\n"
	if res, err := st.Restore(ok, "admin", false); err != nil {
		t.Fatalf("valid restore: %v %v", err, res.Errors)
	}
}

// Two sessions each pass the check against the running configuration
// they saw; the second commit is checked against the first's result.
func TestConcurrentSavesCheckedAgainstTheResult(t *testing.T) {
	st := newTestStore(t)
	a, b := st.NewSession("admin", "A"), st.NewSession("admin", "B")
	at, _ := a.OpenTable("system settings")
	ae, _ := at.Edit("")
	bt, _ := b.OpenTable("system global")
	be, _ := bt.Edit("")
	if err := ae.Set("ike-tcp-port", Int(8443)); err != nil {
		t.Fatal(err)
	}
	if err := be.Set("auth-ike-saml-port", Int(8443)); err != nil {
		t.Fatal(err)
	}
	if err := ae.Save(); err != nil {
		t.Fatal(err)
	}
	// b's candidate was checked against nothing yet; its save checks the
	// session view, which is the running configuration with a's commit.
	if err := be.Save(); code(err) != CodeCheck {
		t.Fatalf("second save: %v", err)
	}
	// A batch saved before another session's commit is checked at its
	// commit against the result, not against what it saw.
	batch := st.NewSession("admin", "batch")
	batch.Batch, batch.HoldCommits = true, true
	mustRun(t, batch, "config system global\nset auth-ike-saml-port 9443\nend\n")
	mustRun(t, st.NewSession("admin", "C"), "config system settings\nset ike-tcp-port 9443\nend\n")
	if err := batch.Commit(); code(err) != CodeCheck {
		t.Fatalf("batch commit after a conflicting commit: %v", err)
	}
	if got := st.SingletonValue("system global", "auth-ike-saml-port"); got != "1001" {
		t.Fatalf("auth-ike-saml-port %s", got)
	}
	// A change built by hand goes through the same checks.
	g := st.Lookup("system global", "")
	upd := cloneOrNew(g, "")
	upd.Values["auth-ike-saml-port"] = []string{"9443"}
	if _, err := st.Commit([]Change{{Table: "system global", Before: g, After: upd}}, "admin", "raw"); code(err) != CodeCheck {
		t.Fatalf("Store.Commit of a conflicting port: %v", err)
	}
}

// Validators see the configuration as it will be.
func TestValidatorSeesTheResult(t *testing.T) {
	st := newTestStore(t)
	var seen string
	remove := st.AddConfigValidator(func(cs *ChangeSet, after View) error {
		seen = singletonValue(after, st.Schema(), "system settings", "ike-tcp-port")
		if seen == "4444" {
			return &Error{Msg: "refused by the validator", Code: CodeCheck}
		}
		return nil
	})
	defer remove()
	mustRun(t, st.NewSession("admin", "t"), "config system settings\nset ike-tcp-port 8443\nend\n")
	if seen != "8443" {
		t.Fatalf("validator saw ike-tcp-port %q", seen)
	}
	if _, err := run(t, st.NewSession("admin", "t"), "config system settings\nset ike-tcp-port 4444\nend\n"); err == nil {
		t.Fatal("the validator's refusal did not refuse the commit")
	}
	if got := st.SingletonValue("system settings", "ike-tcp-port"); got != "8443" {
		t.Fatalf("ike-tcp-port %s after a refused commit", got)
	}
	// The old form (change set only) still works.
	called := false
	defer st.AddValidator(func(*ChangeSet) error { called = true; return nil })()
	mustRun(t, st.NewSession("admin", "t"), "config system settings\nset ike-tcp-port 8444\nend\n")
	if !called {
		t.Fatal("AddValidator's hook not called")
	}
}

// SubscribeFrom: a subscriber that starts while commits race it sees the
// revision it loaded and then every later commit, none missing, none twice.
func TestSubscribeFromLosesNoCommit(t *testing.T) {
	st := newTestStore(t)
	// Writers commit until every subscriber has started (and at least a
	// few times), so that the starts race the commits.
	const writers, subscribers, minCommits = 4, 100, 10
	var subscribed atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess := st.NewSession("admin", "w")
			at, _ := sess.OpenTable("firewall address")
			for i := 0; i < minCommits || !subscribed.Load(); i++ {
				e, err := at.Edit("w" + string(rune('a'+w)))
				if err == nil {
					err = e.Set("comment", Int(int64(i)))
				}
				if err == nil {
					err = e.Save()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Each subscriber keeps the writers' comments as a daemon keeps its
	// configuration: loaded from the view, then updated by change sets.
	type sub struct {
		mu       sync.Mutex
		start    uint64
		got      []uint64
		comments map[string]string
	}
	var subs []*sub
	for range subscribers {
		runtime.Gosched()
		s := &sub{comments: map[string]string{}}
		remove := st.SubscribeFrom(func(v View, rev uint64, _ *Secrets) {
			s.start = rev
			if rows := v.Table("firewall address"); rows != nil {
				for _, e := range rows.Ordered() {
					s.comments[e.Key] = strings.Join(e.Values["comment"], " ")
				}
			}
		}, func(cs *ChangeSet) {
			s.mu.Lock()
			s.got = append(s.got, cs.Revision)
			for _, c := range cs.Changes {
				if c.Table == "firewall address" && c.After != nil {
					s.comments[c.Key] = strings.Join(c.After.Values["comment"], " ")
				}
			}
			s.mu.Unlock()
		})
		defer remove()
		subs = append(subs, s)
	}
	subscribed.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := st.Revision()
	for i, s := range subs {
		s.mu.Lock()
		want := s.start + 1
		for _, r := range s.got {
			if r != want {
				t.Fatalf("subscriber %d (from %d): got %v", i, s.start, s.got)
			}
			want++
		}
		if want != last+1 {
			t.Fatalf("subscriber %d (from %d) stopped at %d of %d", i, s.start, want-1, last)
		}
		for w := range writers {
			k := "w" + string(rune('a'+w))
			if got, now := s.comments[k], strings.Join(st.Lookup("firewall address", k).Values["comment"], " "); got != now {
				t.Fatalf("subscriber %d (from %d): %s comment %q, store %q", i, s.start, k, got, now)
			}
		}
		s.mu.Unlock()
	}
}

func TestErrorsAreFortiOSCodes(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "api")
	tb, _ := sess.OpenTable("firewall address")
	e, _ := tb.Edit("x")
	err := e.Set("subnet", Words("nope"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeValue {
		t.Fatalf("%T %v", err, err)
	}
}

// The text path is an adapter: the same refusal gives the same message
// and code through either.
func TestTextAndAPIRefuseAlike(t *testing.T) {
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "t"), "config firewall address\nedit used\nset subnet 10.1.0.0/16\nnext\nend\nconfig firewall addrgrp\nedit g\nset member used\nnext\nend\n")
	for _, c := range []struct {
		name, script string
		api          func(sess *Session) error
	}{
		{"bad value", "config firewall address\nedit x\nset subnet 10.0.0.300/8\n", func(sess *Session) error {
			return apiSave(sess, "firewall address", "x", attrValue{"subnet", Words("10.0.0.300/8")})
		}},
		{"reference to nothing", "config firewall addrgrp\nedit g2\nset member nosuch\n", func(sess *Session) error {
			return apiSave(sess, "firewall addrgrp", "g2", attrValue{"member", Words("nosuch")})
		}},
		{"delete in use", "config firewall address\ndelete used\n", func(sess *Session) error {
			return apiTable(sess, "firewall address", func(t *TableEdit) error { return t.Delete("used") })
		}},
		{"rename onto an entry", "config firewall address\nrename used to all\n", func(sess *Session) error {
			return apiTable(sess, "firewall address", func(t *TableEdit) error { return t.Rename("used", "all") })
		}},
		{"move a missing entry", "config firewall policy\nmove 7 before 8\n", func(sess *Session) error {
			return apiTable(sess, "firewall policy", func(t *TableEdit) error { return t.Move("7", "8", true) })
		}},
		{"required attribute", "config vpn ipsec phase2-interface\nedit p2\nnext\n", func(sess *Session) error {
			return apiSave(sess, "vpn ipsec phase2-interface", "p2")
		}},
	} {
		_, textErr := run(t, st.NewSession("admin", "text"), c.script)
		apiErr := c.api(st.NewSession("admin", "api"))
		if textErr == nil || apiErr == nil || textErr.Error() != apiErr.Error() || code(textErr) != code(apiErr) {
			t.Errorf("%s: text %v (%d), api %v (%d)", c.name, textErr, code(textErr), apiErr, code(apiErr))
		}
	}
}
