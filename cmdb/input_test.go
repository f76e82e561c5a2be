package cmdb

import (
	"runtime"
	"strings"
	"testing"

	"github.com/fosim/fosim/grammar"
)

// Issue 8 row 5: entries missing what FortiOS requires are refused.
func TestRequiredAttributes(t *testing.T) {
	for _, c := range []struct{ script, attr string }{
		{"edit p1\nset psksecret secret123\nnext\n", "interface"},
		{"edit p2\nset interface port1\nnext\n", "psksecret"},
		{"edit p3\nset interface port1\nset authmethod signature\nnext\n", "certificate"},
	} {
		st := newTestStore(t)
		_, err := run(t, st.NewSession("admin", "test"), "config vpn ipsec phase1-interface\n"+c.script)
		if code(err) != CodeCheck || !strings.Contains(err.Error(), "Attribute '"+c.attr+"' MUST be set.") {
			t.Errorf("%q: %v", c.script, err)
		}
		if st.Rows("vpn ipsec phase1-interface").Len() != 0 {
			t.Errorf("%q: committed anyway", c.script)
		}
	}
	st := newTestStore(t)
	mustRun(t, st.NewSession("admin", "test"), "config vpn ipsec phase1-interface\nedit ok\nset interface port1\nset authmethod signature\nset certificate Fortinet_Factory\nnext\nend\n")
}

// Row 15: a psksecret takes 6 to 128 characters, and a refused one is
// never printed.
func TestPSKLengthAndNoEcho(t *testing.T) {
	st := newTestStore(t)
	for _, psk := range []string{"Ab1", strings.Repeat("S3cr3t", 30)} {
		_, err := run(t, st.NewSession("admin", "test"), "config vpn ipsec phase1-interface\nedit p\nset interface port1\nset psksecret "+psk+"\nabort\n")
		if code(err) != CodeValue {
			t.Errorf("psksecret of %d characters: %v", len(psk), err)
		}
		if err != nil && strings.Contains(err.Error(), psk[:3]) {
			t.Errorf("the refused secret is echoed: %v", err)
		}
	}
	mustRun(t, st.NewSession("admin", "test"), "config vpn ipsec phase1-interface\nedit p\nset interface port1\nset psksecret Ab1cd2\nnext\nend\n")
}

// Row 12: errors quote a short escaped excerpt, never the whole input.
func TestErrorsQuoteAShortExcerpt(t *testing.T) {
	st := newTestStore(t)
	garbage := "\x00\x01\x1b[31m\xff\xfe" + strings.Repeat("A", 1<<20)
	res := RunScript(st.NewSession("admin", "test"), "config system global\nset hostname x\nset "+garbage+"\nend\n", ScriptOptions{})
	if len(res.Errors) == 0 {
		t.Fatal("garbage accepted")
	}
	for _, e := range res.Errors {
		msg := e.Error()
		if len(msg) > 200 || strings.ContainsAny(msg, "\x00\x01\x1b\xff") {
			t.Errorf("error quotes too much or raw bytes (%d bytes): %q", len(msg), msg[:min(len(msg), 120)])
		}
	}
	if got := grammar.Excerpt("a\x1bb\xffc"); got != `a\x1bb\xffc` {
		t.Errorf("excerpt %q", got)
	}
}

// Row 12: a UTF-8 byte order mark at the start of a file is accepted.
func TestByteOrderMark(t *testing.T) {
	st := newTestStore(t)
	res := RunScript(st.NewSession("admin", "test"), "\ufeffconfig system global\nset hostname BOM\nend\n", ScriptOptions{})
	if len(res.Errors) > 0 {
		t.Fatalf("BOM: %v", res.Errors)
	}
	if h := st.SingletonValue("system global", "hostname"); h != "BOM" {
		t.Fatalf("hostname %q", h)
	}
}

// Row 14: a 50 MB line of words is refused quickly, with bounded memory
// that the process gets back.
func TestHugeLineIsRefusedWithBoundedMemory(t *testing.T) {
	st := newTestStore(t)
	line := strings.Repeat("word ", 10<<20) // 50 MB
	src := "config system global\nset hostname " + line + "\nend\n"
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := RunScript(st.NewSession("admin", "test"), src, ScriptOptions{})
	runtime.ReadMemStats(&after)
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Error(), "line too long") {
		t.Fatalf("huge line: %v", res.Errors)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 512<<20 {
		t.Errorf("refusing a 50 MB line allocated %d MB", grown>>20)
	}
}

// Row 8: overlapping interface subnets are refused unless allowed.
func TestSubnetOverlap(t *testing.T) {
	st := newTestStore(t)
	sess := st.NewSession("admin", "test")
	mustRun(t, sess, "config system interface\nedit port1\nset mode static\nset ip 10.0.0.1/24\nnext\nend\n")
	_, err := run(t, sess, "config system interface\nedit port2\nset ip 10.0.0.2/24\nnext\n")
	if code(err) != CodeObjectSet || !strings.HasPrefix(err.Error(), "Subnets overlap between 'port2' and the primary IP of 'port1'") {
		t.Fatalf("overlap: %v", err)
	}
	mustRun(t, sess, "abort\n")
	mustRun(t, sess, "config system interface\nedit port2\nset ip 10.0.1.2/24\nnext\nend\n")
	mustRun(t, sess, "config system settings\nset allow-subnet-overlap enable\nend\n")
	mustRun(t, sess, "config system interface\nedit port3\nset ip 10.0.0.3/24\nnext\nend\n")
	// Disabling it again with the overlap in place is refused: the commit
	// checks the interfaces against the result, whatever changed.
	if _, err := run(t, sess, "config system settings\nset allow-subnet-overlap disable\nend\n"); code(err) != CodeObjectSet {
		t.Fatalf("allow-subnet-overlap disable over an overlap: %v", err)
	}
	if st.SingletonValue("system settings", "allow-subnet-overlap") != "enable" {
		t.Fatal("the refused change landed")
	}
}
