package cli

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/internal/ftp/ftpdtest"
	"github.com/fosim/fosim/internal/tftp"
	"github.com/fosim/fosim/internal/tftp/tftpdtest"
)

// transferShell is a shell whose appliance has dataDir (its usb folder the
// USB disk); out is reset by run.
func transferShell(t *testing.T, dataDir string) (*Shell, func(line string) string) {
	t.Helper()
	st := cmdbtest.Store(t)
	app := NewAppliance(st)
	app.DataDir = dataDir
	var out strings.Builder
	sh := New(app, st.NewSession("admin", "test"), &out)
	t.Cleanup(sh.Close)
	return sh, func(line string) string {
		out.Reset()
		sh.Line(line)
		return out.String()
	}
}

func setHostname(t *testing.T, run func(string) string, name string) {
	t.Helper()
	for _, l := range []string{"config system global", "set hostname " + name, "end"} {
		if out := run(l); strings.Contains(out, "Command fail") {
			t.Fatalf("%s: %s", l, out)
		}
	}
}

const restoreQuestion = "This operation will overwrite the current setting and could possibly reboot the system!\nDo you want to continue? (y/n)y\n"

func TestUSBBackupRestore(t *testing.T) {
	data := t.TempDir()
	sh, run := transferShell(t, data)
	setHostname(t, run, "KEEPME")
	if out := run("execute backup config usb fgt.conf"); out != "Please wait...\n\nSend config file to usb disk OK.\n" {
		t.Fatalf("backup: %q", out)
	}
	b, err := os.ReadFile(filepath.Join(data, "usb", "fgt.conf"))
	if err != nil || !strings.HasPrefix(string(b), "#config-version=") {
		t.Fatalf("backup file: %v %.60q", err, b)
	}
	if fi, _ := os.Stat(filepath.Join(data, "usb", "fgt.conf")); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600 (it holds the ENC secrets)", fi.Mode().Perm())
	}
	// A second backup replaces the file (and leaves no temporary behind).
	setHostname(t, run, "SECOND")
	run("execute backup config usb fgt.conf")
	setHostname(t, run, "CHANGED")
	want := restoreQuestion + "Please wait...\n\nGet config file from usb disk OK.\nFile check OK.\n"
	if out := run("execute restore config usb fgt.conf"); out != want {
		t.Fatalf("restore:\n%q\nwant\n%q", out, want)
	}
	if h := Hostname(sh.App.Store); h != "SECOND" {
		t.Fatalf("hostname after restore: %q, want SECOND", h)
	}
	entries, _ := os.ReadDir(filepath.Join(data, "usb"))
	if len(entries) != 1 {
		t.Errorf("usb folder holds %d entries, want only fgt.conf", len(entries))
	}
	out := run("execute restore config usb missing.conf")
	if !strings.Contains(out, "File not found on USB disk.\nCommand fail. Return code -3\n") {
		t.Errorf("restore of a missing file: %q", out)
	}
}

// The rule: nothing reachable from a session touches the host outside the
// data directory. Paths, "..", NUL, a symlink in the usb folder, the usb
// folder itself a symlink, a FIFO: each is refused, and nothing outside the
// data directory is read or written (the files there keep their bytes and
// times, no new file appears, the configuration does not change).
func TestUSBStaysInsideTheDataDirectory(t *testing.T) {
	top := t.TempDir()
	data := filepath.Join(top, "data")
	os.MkdirAll(filepath.Join(data, "usb"), 0o700)
	sh, run := transferShell(t, data)
	setHostname(t, run, "INSIDE")

	// Outside the data directory: a valid backup that would change the
	// hostname if anything read it, and a place a write could land.
	os.Mkdir(filepath.Join(top, "otherdata"), 0o700)
	_, other := transferShell(t, filepath.Join(top, "otherdata"))
	setHostname(t, other, "OUTSIDE")
	other("execute backup config usb outside.conf")
	outside := filepath.Join(top, "outside.conf")
	if err := os.Rename(filepath.Join(top, "otherdata", "usb", "outside.conf"), outside); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(top, "otherdata"))
	os.Chtimes(outside, time.Unix(1e9, 0), time.Unix(1e9, 0))
	os.Symlink(outside, filepath.Join(data, "usb", "link.conf"))
	os.Symlink(top, filepath.Join(data, "usb", "dirlink"))
	os.Symlink("../../outside.conf", filepath.Join(data, "usb", "rel.conf"))
	if err := os.Link(outside, filepath.Join(data, "usb", "hard.conf")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(data, "usb", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	data2 := filepath.Join(top, "data2") // the usb folder a symlink, below
	os.MkdirAll(data2, 0o700)
	os.Symlink(top, filepath.Join(data2, "usb"))
	before := snapshot(t, top, data, data2)

	names := []string{
		"../outside.conf", "../../outside.conf", outside, "/etc/passwd", "/etc/shadow",
		"sub/x.conf", "..", ".", "dirlink/outside.conf",
		"link.conf", "rel.conf", "dirlink", "fifo", "hard.conf", "'bad\x01name'", "\"tab\tname\"",
	}
	for _, name := range names {
		for _, verb := range []string{"backup", "restore"} {
			line := "execute " + verb + " config usb " + name
			done := make(chan string, 1)
			go func() { done <- run(line) }()
			var out string
			select {
			case out = <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("%q hangs", line)
			}
			if !strings.Contains(out, "Command fail. Return code") || strings.Contains(out, "OK.") {
				t.Errorf("%q was not refused: %q", line, out)
			}
			if strings.Contains(out, "root:") {
				t.Errorf("%q echoed a host file: %q", line, out)
			}
		}
	}
	// A NUL or a backslash cannot reach the command through the lexer
	// (it ends or escapes words); the command itself refuses them too.
	for _, name := range []string{"x\x00/../../outside.conf", "outside.conf\x00", `..\outside.conf`, `..\..\outside.conf`} {
		for _, cmd := range []func(*Shell, []string, io.Writer) error{executeBackupUSB, executeRestoreUSB} {
			var out strings.Builder
			if err := cmd(sh, []string{name}, &out); err == nil || out.Len() > 0 {
				t.Errorf("%q was not refused: %v %q", name, err, out.String())
			}
		}
	}
	if h := Hostname(sh.App.Store); h != "INSIDE" {
		t.Errorf("the configuration changed to %q: a file outside was read", h)
	}
	if after := snapshot(t, top, data, data2); after != before {
		t.Errorf("the host outside the data directory changed:\nbefore %s\nafter  %s", before, after)
	}

	// The usb folder itself a symlink leading out: refused too.
	_, run2 := transferShell(t, data2)
	for _, line := range []string{"execute backup config usb outside.conf", "execute restore config usb outside.conf", "execute backup config usb new.conf"} {
		if out := run2(line); !strings.Contains(out, "USB disk is not available.") {
			t.Errorf("%q with usb -> %s: %q", line, top, out)
		}
	}
	if after := snapshot(t, top, data, data2); after != before {
		t.Errorf("the host outside the data directory changed:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot lists every file under top but outside the skipped folders,
// with size, mode and modification time.
func snapshot(t *testing.T, top string, skip ...string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, s := range skip {
			if p == s {
				return filepath.SkipDir
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		fmt.Fprintf(&b, "%s %v %v %d", rel, fi.Mode(), fi.ModTime(), fi.Size())
		if fi.Mode().IsRegular() {
			content, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", sha256.Sum256(content))
		}
		b.WriteString(";")
		return nil
	})
	return b.String()
}

// A restore of a file that is not a configuration (a copy of a shadow
// file, binary garbage) quotes at most five statements, each as a short
// escaped excerpt: never the secret part of a line, never a raw control
// byte.
func TestRestoreErrorsQuoteLittle(t *testing.T) {
	data := t.TempDir()
	sh, run := transferShell(t, data)
	setHostname(t, run, "KEEPME")
	run("execute backup config usb good.conf")
	good, _ := os.ReadFile(filepath.Join(data, "usb", "good.conf"))
	var header string
	for _, l := range strings.SplitAfter(string(good), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		header += l
	}
	var shadow strings.Builder
	for i := 0; i < 20; i++ {
		shadow.WriteString("user" + string(rune('a'+i)) + ":$6$saltsaltsalt$" + strings.Repeat("h", 30) + "TOPSECRETHASH\x00\x1b[2J:19000:0:99999:7:::\n")
	}
	for _, tc := range []struct{ name, text string }{
		{"shadow", shadow.String()},
		{"shadow-with-header", header + shadow.String()},
		{"binary", "\x00\x01\x02\xff\xfe\x1b]0;pwned\x07" + strings.Repeat("\x00TOPSECRETHASH", 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(data, "usb", tc.name), []byte(tc.text), 0o600)
			out := run("execute restore config usb " + tc.name)
			if !strings.Contains(out, "Command fail. Return code") {
				t.Fatalf("restore of %s succeeded: %q", tc.name, out)
			}
			if strings.Contains(out, "TOPSECRET") {
				t.Errorf("the error quotes past the excerpt: %q", out)
			}
			if strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f || r == 0xfffd }) {
				t.Errorf("the error holds raw control bytes: %q", out)
			}
			if n := strings.Count(out, "line "); n > maxShownErrors {
				t.Errorf("%d statements quoted, want at most %d: %q", n, maxShownErrors, out)
			}
			for _, l := range strings.Split(out, "\n") {
				if i := strings.IndexByte(l, '\''); i >= 0 {
					if j := strings.LastIndexByte(l, '\''); j-i-1 > 40 {
						t.Errorf("an excerpt of %d bytes: %q", j-i-1, l)
					}
				}
			}
			if h := Hostname(sh.App.Store); h != "KEEPME" {
				t.Errorf("a failed restore changed the hostname to %q", h)
			}
		})
	}
}

func TestEscapedExcerpt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 40, "plain"},
		{"a\x00b\nc\x1b", 40, `a\x00b\nc\x1b`},
		{"\xff\xfe", 40, `\xff\xfe`},
		{`back\slash`, 40, `back\\slash`},
		{strings.Repeat("x", 50), 40, strings.Repeat("x", 37) + "..."},
		{strings.Repeat("\x00", 20), 40, strings.Repeat(`\x00`, 9) + "..."},
		{"\u2028é", 40, `\u2028é`},
	} {
		got := escapedExcerpt(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max {
			t.Errorf("escapedExcerpt(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// The optional password of an encrypted backup is refused (FortiOS's
// format is not published) without echoing it; targets not simulated yet
// are named without their arguments (a server password); the old
// host-path commands are FortiOS's parse error.
func TestTransferRefusals(t *testing.T) {
	data := t.TempDir()
	_, run := transferShell(t, data)
	for line, want := range map[string]string{
		"execute backup config usb x.conf S3cretPw":                 "not simulated yet: execute backup config usb (password-encrypted backups; FortiOS's encrypted format is not published)\n",
		"execute restore config usb x.conf S3cretPw":                "not simulated yet: execute restore config usb (password-encrypted backups; FortiOS's encrypted format is not published)\n",
		"execute backup config tftp x.conf 127.0.0.1 S3cretPw":      "not simulated yet: execute backup config tftp (password-encrypted backups; FortiOS's encrypted format is not published)\n",
		"execute restore config tftp x.conf 127.0.0.1 S3cretPw":     "not simulated yet: execute restore config tftp (password-encrypted backups; FortiOS's encrypted format is not published)\n",
		"execute backup config ftp x.conf 127.0.0.1 u pw S3cretPw":  "not simulated yet: execute backup config ftp (password-encrypted backups; FortiOS's encrypted format is not published)\n",
		"execute backup config ftp x.conf 127.0.0.1 u":              "incomplete command in the end\nCommand fail. Return code -160\n",
		"execute restore config ftp x.conf 127.0.0.1 u pw S3cretPw": "not simulated yet: execute restore config ftp (password-encrypted backups; FortiOS's encrypted format is not published)\n",
		"execute backup config sftp x.conf 127.0.0.1 u S3cretPw":    "not simulated yet: execute backup config sftp\n",
		"exec rest conf management-station S3cretPw":                "not simulated yet: execute restore config management-station\n",
		"execute backup full-config tftp x.conf 127.0.0.1 S3cretPw": "not simulated yet: execute backup full-config\n",
		"execute backup config file /etc/passwd":                    "command parse error before 'file'\nCommand fail. Return code -61\n",
		"execute restore config file /etc/passwd":                   "command parse error before 'file'\nCommand fail. Return code -61\n",
		"execute backup config":                                     "incomplete command in the end\nCommand fail. Return code -160\n",
		"execute backup config tftp x.conf":                         "incomplete command in the end\nCommand fail. Return code -160\n",
		"execute backup config usb":                                 "incomplete command in the end\nCommand fail. Return code -160\n",
		"execute backup config tftp x.conf \"127.0.0.1 x\"":         "value parse error before '127.0.0.1 x'\nCommand fail. Return code -651\n",
		"execute restore config tftp \"a\tb\" 127.0.0.1":            "value parse error before 'a\\tb'\nCommand fail. Return code -651\n",
	} {
		if out := run(line); out != want {
			t.Errorf("%s:\n got %q\nwant %q", line, out, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "usb")); len(entries) != 0 {
		t.Errorf("a refused backup wrote %d file(s)", len(entries))
	}
	host := filepath.Join(t.TempDir(), "host.conf")
	for _, line := range []string{"execute backup config file " + host, "execute restore config file " + host} {
		out := run(line)
		if strings.Contains(out, "OK") {
			t.Errorf("%s: %q", line, out)
		}
	}
	if _, err := os.Stat(host); err == nil {
		t.Errorf("execute backup config file wrote a host path")
	}
	// Without a data directory there is no USB disk.
	_, noData := transferShell(t, "")
	if out := noData("execute backup config usb x.conf"); out != "USB disk is not available.\nCommand fail. Return code -1\n" {
		t.Errorf("no data dir: %q", out)
	}
}

// Backup to and restore from Debian's tftpd-hpa on loopback.
func TestTFTPBackupRestore(t *testing.T) {
	srv := tftpdtest.Start(t)
	sh, run := transferShell(t, t.TempDir())
	setHostname(t, run, "VIATFTP")
	want := "Please wait...\n\nConnect to tftp server " + srv.Addr + " ...\nSend config file to tftp server OK.\n"
	if out := run("execute backup config tftp fgt.conf " + srv.Addr); out != want {
		t.Fatalf("backup:\n%q\nwant\n%q", out, want)
	}
	b, err := os.ReadFile(srv.Path("fgt.conf"))
	if err != nil || string(b) != sh.App.Store.Backup("admin") {
		t.Fatalf("the server holds %d bytes (%v), not the backup", len(b), err)
	}
	setHostname(t, run, "CHANGED")
	want = restoreQuestion + "Please wait...\n\nConnect to tftp server " + srv.Addr + " ...\nGet config file from tftp server OK.\nFile check OK.\n"
	if out := run("execute restore config tftp fgt.conf " + srv.Addr); out != want {
		t.Fatalf("restore:\n%q\nwant\n%q", out, want)
	}
	if h := Hostname(sh.App.Store); h != "VIATFTP" {
		t.Fatalf("hostname after restore: %q", h)
	}
	// A file the server does not have, and one outside its root.
	for _, name := range []string{"missing.conf", "../../../../etc/passwd"} {
		out := run("execute restore config tftp " + name + " " + srv.Addr)
		if !strings.HasSuffix(out, "Get config file from tftp server failed.\nCommand fail. Return code -1\n") || strings.Contains(out, "root:") {
			t.Errorf("restore of %s: %q", name, out)
		}
	}
	if h := Hostname(sh.App.Store); h != "VIATFTP" {
		t.Fatalf("hostname after failed restores: %q", h)
	}
}

// A server that does not answer: the backup fails with FortiOS's message
// once the client gives up.
func TestTFTPNoServer(t *testing.T) {
	sh, run := transferShell(t, t.TempDir())
	sh.App.TFTP = &tftp.Client{Timeout: 20 * time.Millisecond, Retries: 1}
	// A port of 127.0.0.1 nobody listens on: ICMP port unreachable, or
	// silence; either way the transfer fails.
	out := run("execute backup config tftp fgt.conf 127.0.0.1:9")
	if !strings.HasSuffix(out, "Send config file to tftp server failed.\nCommand fail. Return code -1\n") {
		t.Fatalf("backup to no server: %q", out)
	}
}

// Backup to and restore from pyftpdlib on loopback; the FTP password is
// never echoed.
func TestFTPBackupRestore(t *testing.T) {
	srv := ftpdtest.Start(t)
	sh, run := transferShell(t, t.TempDir())
	setHostname(t, run, "VIAFTP")
	creds := " " + srv.User + " " + srv.Password
	want := "Please wait...\n\nConnect to ftp server " + srv.Addr + " ...\nSend config file to ftp server OK.\n"
	if out := run("execute backup config ftp fgt.conf " + srv.Addr + creds); out != want {
		t.Fatalf("backup:\n%q\nwant\n%q", out, want)
	}
	b, err := os.ReadFile(srv.Path("fgt.conf"))
	if err != nil || string(b) != sh.App.Store.Backup("admin") {
		t.Fatalf("the server holds %d bytes (%v), not the backup", len(b), err)
	}
	setHostname(t, run, "CHANGED")
	want = restoreQuestion + "Please wait...\n\nConnect to ftp server " + srv.Addr + " ...\nGet config file from ftp server OK.\nFile check OK.\n"
	if out := run("execute restore config ftp fgt.conf " + srv.Addr + creds); out != want {
		t.Fatalf("restore:\n%q\nwant\n%q", out, want)
	}
	if h := Hostname(sh.App.Store); h != "VIAFTP" {
		t.Fatalf("hostname after restore: %q", h)
	}
	for _, line := range []string{
		"execute restore config ftp missing.conf " + srv.Addr + creds,
		"execute restore config ftp fgt.conf " + srv.Addr + " " + srv.User + " wrong-pw",
		"execute restore config ftp fgt.conf " + srv.Addr, // anonymous: this server has none
	} {
		out := run(line)
		if !strings.HasSuffix(out, "Get config file from ftp server failed.\nCommand fail. Return code -1\n") || strings.Contains(out, "pw") {
			t.Errorf("%s: %q", line, out)
		}
	}
	if out := run("execute backup config ftp fgt.conf " + srv.Addr + " " + srv.User + " wrong-pw"); !strings.HasSuffix(out, "Send config file to ftp server failed.\nCommand fail. Return code -1\n") {
		t.Errorf("backup with a wrong password: %q", out)
	}
	if h := Hostname(sh.App.Store); h != "VIAFTP" {
		t.Fatalf("hostname after failed restores: %q", h)
	}
}

// keyTerm answers every question with one key.
type keyTerm rune

func (k keyTerm) ReadKey() (rune, error) { return rune(k), nil }
func (keyTerm) Height() int              { return 0 }

// Answering n leaves the configuration as it was and fetches nothing.
func TestRestoreAnsweredNo(t *testing.T) {
	data := t.TempDir()
	sh, run := transferShell(t, data)
	setHostname(t, run, "BACKEDUP")
	run("execute backup config usb b.conf")
	setHostname(t, run, "CURRENT")
	sh.Term = keyTerm('n')
	want := "This operation will overwrite the current setting and could possibly reboot the system!\nDo you want to continue? (y/n)n\n"
	if out := run("execute restore config usb b.conf"); out != want {
		t.Fatalf("restore answered n: %q", out)
	}
	if h := Hostname(sh.App.Store); h != "CURRENT" {
		t.Fatalf("hostname %q after answering n", h)
	}
}
