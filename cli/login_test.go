package cli

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
)

func testAppliance(t *testing.T) *Appliance {
	t.Helper()
	return NewAppliance(cmdbtest.StoreIn(t, t.TempDir(), cmdb.Options{NoSync: true}))
}

func runScript(t *testing.T, app *Appliance, script string) {
	t.Helper()
	var out bytes.Buffer
	sh := New(app, app.Store.NewSession("admin", "test"), &out)
	defer sh.Close()
	for _, l := range strings.Split(script, "\n") {
		sh.Line(l)
	}
	if strings.Contains(out.String(), "Command fail") {
		t.Fatalf("%s", out.String())
	}
}

func TestLoginGuardOnApplianceClock(t *testing.T) {
	app := testAppliance(t)
	g := NewLoginGuard(app)
	for i := 1; i <= 2; i++ {
		if g.Failed("192.0.2.1") {
			t.Fatalf("locked after %d failures (threshold 3)", i)
		}
	}
	if !g.Failed("192.0.2.1") {
		t.Fatal("not locked after 3 failures")
	}
	if locked, left := g.Locked("192.0.2.1"); !locked || left > 60*time.Second || left < 59*time.Second {
		t.Errorf("Locked: %v %v, want true 60s", locked, left)
	}
	if locked, _ := g.Locked("192.0.2.2"); locked {
		t.Error("another address is locked")
	}
	app.Clock.Advance(60 * time.Second)
	if locked, _ := g.Locked("192.0.2.1"); locked {
		t.Error("still locked after admin-lockout-duration")
	}
	// The count starts again after a lockout, and a success clears it.
	g.Failed("192.0.2.1")
	g.Failed("192.0.2.1")
	g.Succeeded("192.0.2.1")
	if g.Failed("192.0.2.1") {
		t.Error("a success did not clear the failures")
	}
	// Failures further apart than the duration are not a run.
	g.Succeeded("192.0.2.1")
	g.Failed("192.0.2.1")
	g.Failed("192.0.2.1")
	app.Clock.Advance(61 * time.Second)
	if g.Failed("192.0.2.1") {
		t.Error("failures 61 s apart locked the address")
	}
}

func TestLoginGuardMemoryBound(t *testing.T) {
	app := testAppliance(t)
	g := NewLoginGuard(app)
	for i := 0; i < 3*maxTrackedSources; i++ {
		g.Failed(string(rune(0x1000 + i)))
	}
	if n := len(g.sources); n > maxTrackedSources {
		t.Errorf("%d sources tracked, bound %d", n, maxTrackedSources)
	}
}

func TestCheckAdminPassword(t *testing.T) {
	app := testAppliance(t)
	l, err := CheckAdminPassword(app.Store, "admin", "")
	if err != nil || !l.MustChangePassword {
		t.Fatalf("fresh admin with the empty password: %v %+v", err, l)
	}
	if _, err := CheckAdminPassword(app.Store, "admin", "x"); err == nil {
		t.Error("a fresh admin takes any password")
	}
	if _, err := CheckAdminPassword(app.Store, "nobody", ""); err == nil {
		t.Error("an unknown admin logs in")
	}
	if err := SetAdminPassword(app.Store, "admin", `p"w\ with quotes`, "test"); err != nil {
		t.Fatal(err)
	}
	if l, err := CheckAdminPassword(app.Store, "admin", `p"w\ with quotes`); err != nil || l.MustChangePassword {
		t.Errorf("after SetAdminPassword: %v %+v", err, l)
	}
	if _, err := CheckAdminPassword(app.Store, "admin", ""); err == nil {
		t.Error("the empty password still works")
	}
}

func TestPasswordPolicy(t *testing.T) {
	app := testAppliance(t)
	st := app.Store
	if err := CheckPasswordPolicy(st, "a", "", ""); err != nil {
		t.Errorf("status disable refuses: %v", err)
	}
	runScript(t, app, "config system password-policy\nset status enable\nset min-lower-case-letter 2\nset min-upper-case-letter 1\n"+
		"set min-non-alphanumeric 1\nset min-number 3\nend")
	for pw, want := range map[string]string{
		"Ab1-":           "at least 12 characters (minimum-length)",
		"ABCDEFGHIJKL":   "at least 2 lower case letters",
		"abcdefghijkl":   "at least 1 upper case letters",
		"abcdefghijkL":   "at least 1 non-alphanumeric",
		"abcdefghijkL-1": "at least 3 numbers",
	} {
		err := CheckPasswordPolicy(st, pw, "", "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", pw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
	if err := CheckPasswordPolicy(st, "abcdefghijkL-123", "", ""); err != nil {
		t.Errorf("a good password: %v", err)
	}
	runScript(t, app, "config system password-policy\nset reuse-password disable\nend")
	old := cmdb.HashPassword("abcdefghijkL-123")
	if err := CheckPasswordPolicy(st, "abcdefghijkL-123", "", old); err == nil {
		t.Error("reuse-password disable takes the old password")
	}
	runScript(t, app, "config system password-policy\nset min-change-characters 4\nend")
	if err := CheckPasswordPolicy(st, "abcdefghijkL-123", "abcdefghijkL-12", old); err == nil {
		t.Error("min-change-characters 4 takes a password with no new character")
	}
	// apply-to without admin-password: admins are not checked.
	runScript(t, app, "config system password-policy\nset apply-to ipsec-preshared-key\nend")
	if err := CheckPasswordPolicy(st, "a", "", ""); err != nil {
		t.Errorf("apply-to ipsec-preshared-key checks admins: %v", err)
	}
}

func TestLineReaderBound(t *testing.T) {
	long := strings.Repeat("q", MaxLineBytes+1)
	lr := NewLineReader(strings.NewReader("one\r\n" + strings.Repeat("p", MaxLineBytes) + "\n" + long + "\nlast"))
	if l, err := lr.ReadLine(); l != "one" || err != nil {
		t.Errorf("line 1: %q %v", l, err)
	}
	if l, err := lr.ReadLine(); len(l) != MaxLineBytes || err != nil {
		t.Errorf("a line of exactly MaxLineBytes: %d %v", len(l), err)
	}
	_, err := lr.ReadLine()
	var tl *ErrInputTooLong
	if !errors.As(err, &tl) || tl.Length != int64(len(long)) || tl.Limit != MaxLineBytes || len(tl.Excerpt) > 50 {
		t.Errorf("over-long line: %v", err)
	}
	if l, err := lr.ReadLine(); l != "last" || err != nil {
		t.Errorf("the line after: %q %v", l, err)
	}
	if _, err := lr.ReadLine(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

// The editor keeps at most MaxLineBytes of a line, echoes no more, and
// refuses the line at Enter; a statement over lines is bounded too.
func TestEditorBounds(t *testing.T) {
	app := testAppliance(t)
	var out bytes.Buffer
	sh := New(app, app.Store.NewSession("admin", "test"), &out)
	defer sh.Close()
	// The statement is refused inside its quoted string: the rest of it
	// (more quoted lines, the closing quote) is skipped with it.
	in := strings.Repeat("w", 3*MaxLineBytes) + "\r" +
		"set comment \"a\r" + strings.Repeat(strings.Repeat("b", 6000)+"\r", 8) + "b \\\" still quoted\r\"\r" +
		"get system status | grep Hostname\r"
	ed := NewEditor(strings.NewReader(in), &out, sh, 0)
	var errs []error
	for i := 0; i < 3; i++ {
		line, err := ed.ReadLine("# ")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if line != "get system status | grep Hostname" {
			t.Errorf("line %q", line)
		}
	}
	if len(errs) != 2 {
		t.Fatalf("errors %v", errs)
	}
	var a, b *ErrInputTooLong
	if !errors.As(errs[0], &a) || a.Limit != MaxLineBytes || a.Length != 3*MaxLineBytes {
		t.Errorf("long line: %v", errs[0])
	}
	if !errors.As(errs[1], &b) || b.Limit != MaxStatementBytes {
		t.Errorf("long statement: %v", errs[1])
	}
	if out.Len() > MaxStatementBytes+MaxLineBytes+200 {
		t.Errorf("echoed %d bytes for refused input", out.Len())
	}
}

func TestReadFieldHidesAndBounds(t *testing.T) {
	app := testAppliance(t)
	var out bytes.Buffer
	sh := New(app, app.Store.NewSession("admin", "test"), &out)
	defer sh.Close()
	ed := NewEditor(strings.NewReader("secret\x7fT\r"+strings.Repeat("z", 1000)+"\rname\r"), &out, sh, 0)
	pw, err := ed.ReadField("Password: ", false)
	if pw != "secreT" || err != nil {
		t.Errorf("password %q %v", pw, err)
	}
	long, _ := ed.ReadField("Password: ", false)
	if len(long) != MaxPasswordBytes {
		t.Errorf("kept %d bytes of a 1000-byte answer", len(long))
	}
	name, _ := ed.ReadField("login: ", true)
	if name != "name" {
		t.Errorf("name %q", name)
	}
	if got := out.String(); strings.Contains(got, "secre") || strings.Contains(got, "zzz") || !strings.Contains(got, "login: name\n") {
		t.Errorf("screen %q", got)
	}
}

func TestIdleTimer(t *testing.T) {
	app := testAppliance(t)
	fired := make(chan struct{})
	it := NewIdleTimer(app.Clock, time.Minute, func() { close(fired) })
	defer it.Stop()
	app.Clock.Advance(50 * time.Second)
	it.Touch()
	app.Clock.Advance(50 * time.Second)
	select {
	case <-fired:
		t.Fatal("fired 50 s after input")
	case <-time.After(100 * time.Millisecond):
	}
	app.Clock.Advance(11 * time.Second)
	select {
	case <-fired:
	case <-time.After(3 * time.Second):
		t.Fatal("did not fire 61 s after input")
	}
}

func TestInterruptibleReader(t *testing.T) {
	r, w := io.Pipe()
	ir := NewInterruptibleReader(r)
	got := make(chan error, 1)
	go func() {
		_, err := ir.Read(make([]byte, 10))
		got <- err
	}()
	ir.Interrupt()
	if err := <-got; err != ErrIdleTimeout {
		t.Fatalf("interrupted read: %v", err)
	}
	ir.Resume()
	go w.Write([]byte("hello"))
	b := make([]byte, 3)
	n, err := ir.Read(b)
	if string(b[:n]) != "hel" || err != nil {
		t.Fatalf("read after resume: %q %v", b[:n], err)
	}
	n, _ = ir.Read(b)
	if string(b[:n]) != "lo" {
		t.Fatalf("rest %q", b[:n])
	}
	w.Close()
	if _, err := ir.Read(b); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// The cursor keys edit inside the line (the console had them from
// readline before it shared the SSH terminal's editor).
func TestEditorCursor(t *testing.T) {
	app := testAppliance(t)
	var out bytes.Buffer
	sh := New(app, app.Store.NewSession("admin", "test"), &out)
	defer sh.Close()
	for in, want := range map[string]string{
		"abc\x1b[D\x1b[DX\r":              "aXbc",        // left, left, insert
		"abc\x01Z\r":                      "Zabc",        // Ctrl-A
		"abc\x1b[H\x1b[FZ\r":              "abcZ",        // Home, End
		"abcd\x1b[D\x1b[D\x7f\r":          "acd",         // Backspace mid-line
		"abcd\x1b[D\x1b[D\x1b[3~\r":       "abd",         // Delete under the cursor
		"abcd\x02\x02\x0b\r":              "ab",          // Ctrl-B twice, Ctrl-K
		"ab\x1b[1~\x06X\x1b[4~Y\r":        "aXbY",        // Home (1~), Ctrl-F, End (4~)
		"get system\x1b[D\x1b[D\x1b[Cx\r": "get systexm", // right
	} {
		out.Reset()
		ed := NewEditor(strings.NewReader(in), &out, sh, 0)
		if got, err := ed.ReadLine("# "); got != want || err != nil {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
		if shown := screenLine(out.String()); shown != "# "+want {
			t.Errorf("%q: the terminal shows %q, want %q", in, shown, "# "+want)
		}
	}
}

// screenLine plays a one-line echo as a terminal shows it: "\b" moves
// left, a character overwrites where the cursor is.
func screenLine(echo string) string {
	var cells []rune
	x := 0
	for _, r := range echo {
		switch r {
		case '\b':
			x--
		case '\n':
			return strings.TrimRight(string(cells), " ")
		default:
			if x == len(cells) {
				cells = append(cells, r)
			} else {
				cells[x] = r
			}
			x++
		}
	}
	return strings.TrimRight(string(cells), " ")
}
