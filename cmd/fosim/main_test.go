package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fosim(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc := run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), rc
}

func TestApplyReportsLineAndColumn(t *testing.T) {
	bothWays(t, testApplyReportsLineAndColumn)
}

func testApplyReportsLineAndColumn(t *testing.T, prepare func(string) string) {
	dir := t.TempDir()
	prepare(filepath.Join(dir, "data"))
	script := "config firewall address\n    edit \"a\"\n        set subnet 10.0.0.0/8\n        set colour 3\n    next\nend\n"
	file := filepath.Join(dir, "bad.conf")
	os.WriteFile(file, []byte(script), 0o644)
	_, stderr, rc := fosim(t, "", "--data", filepath.Join(dir, "data"), "apply", file)
	if rc == 0 {
		t.Fatal("apply with an error exited 0")
	}
	want := file + ":4:13: command parse error before 'colour'\nCommand fail. Return code -61\n" +
		file + ": 1 error(s); nothing committed (--continue runs the statements that succeed)\n"
	if stderr != want {
		t.Fatalf("stderr %q, want %q", stderr, want)
	}
	// One transaction: nothing of the file was committed.
	_, stderr, rc = fosim(t, "", "--data", filepath.Join(dir, "data"), "show", "firewall", "address", "a")
	if rc == 0 {
		t.Fatalf("apply with an error committed part of the file: %s", stderr)
	}
	// --continue runs it as a FortiGate runs a script: the good parts of
	// the entry are saved at next, and it says so.
	_, stderr, _ = fosim(t, "", "--data", filepath.Join(dir, "data"), "apply", file, "--continue")
	if !strings.HasSuffix(stderr, "kept the 1 change(s) of the statements that succeeded\n") {
		t.Fatalf("--continue: %q", stderr)
	}
	out, _, rc := fosim(t, "", "--data", filepath.Join(dir, "data"), "show", "firewall", "address", "a")
	if rc != 0 || !strings.Contains(out, "set subnet 10.0.0.0 255.0.0.0") {
		t.Fatalf("show after apply --continue: rc=%d\n%s", rc, out)
	}
}

func TestApplyFromStdinAndGet(t *testing.T) {
	bothWays(t, testApplyFromStdinAndGet)
}

func testApplyFromStdinAndGet(t *testing.T, prepare func(string) string) {
	data := prepare(filepath.Join(t.TempDir(), "data"))
	_, stderr, rc := fosim(t, "config system global\nset hostname \"lab-fgt\"\nend\n", "--data", data, "apply", "-")
	if rc != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	out, _, rc := fosim(t, "", "--data", data, "get", "system", "global")
	if rc != 0 || !strings.Contains(out, "hostname            : lab-fgt\n") {
		t.Fatalf("get system global:\n%s", out)
	}
}

func TestBackupRestoreLenient(t *testing.T) {
	bothWays(t, testBackupRestoreLenient)
}

func testBackupRestoreLenient(t *testing.T, prepare func(string) string) {
	dir := t.TempDir()
	data := prepare(filepath.Join(dir, "data"))
	if _, e, rc := fosim(t, "config firewall address\nedit x\nset subnet 1.2.3.0/24\nnext\nend\n", "--data", data, "apply", "-"); rc != 0 {
		t.Fatal(e)
	}
	backup := filepath.Join(dir, "backup.conf")
	if _, e, rc := fosim(t, "", "--data", data, "backup", backup); rc != 0 {
		t.Fatal(e)
	}
	b, _ := os.ReadFile(backup)
	if !strings.HasPrefix(string(b), "#config-version=FGVMK6-7.6.1-FW-build3462-241022:opmode=0:vdom=0:user=admin\n") {
		t.Fatalf("backup header:\n%.200s", b)
	}
	unmodelled := "config router static\n    edit 1\n        set gateway 10.0.0.1\n        set device \"port1\"\n    next\nend\n"
	withRouter := string(b) + unmodelled
	os.WriteFile(backup, []byte(withRouter), 0o644)

	// Strict: refused, nothing changes.
	other := prepare(filepath.Join(dir, "other"))
	_, stderr, rc := fosim(t, "", "--data", other, "restore", backup)
	if rc == 0 || !strings.Contains(stderr, "command parse error before 'router'") {
		t.Fatalf("strict restore of an unmodelled table: rc=%d %s", rc, stderr)
	}
	if out, _, _ := fosim(t, "", "--data", other, "show", "firewall", "address"); strings.Contains(out, "\"x\"") {
		t.Fatal("a failed restore changed the configuration")
	}
	// Lenient: kept verbatim, counted, and written back by the next backup.
	out, stderr, rc := fosim(t, "", "--data", other, "restore", backup, "--lenient")
	if rc != 0 || !strings.Contains(out, "kept 1 unmodelled config block(s) verbatim") {
		t.Fatalf("lenient restore: rc=%d %s %s", rc, out, stderr)
	}
	again := filepath.Join(dir, "again.conf")
	fosim(t, "", "--data", other, "backup", again)
	a, _ := os.ReadFile(again)
	if !strings.Contains(string(a), unmodelled) || !strings.Contains(string(a), "edit \"x\"") {
		t.Fatalf("round trip lost something:\n%s", a)
	}
}
