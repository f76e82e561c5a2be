package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fosim lab run: PASS and status 0 for a lab that holds, a diff and
// status 1 for one that does not, usage and 0 for --help.
func TestLabRun(t *testing.T) {
	var out, errOut strings.Builder
	if code := labCmd([]string{"run", filepath.Join("..", "..", "examples", "keylife-reauth")}, &out, &errOut); code != 0 || out.String() != "PASS keylife-reauth\n" {
		t.Fatalf("status %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	dir := filepath.Join(t.TempDir(), "wrong-date")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "> execute date 2025-09-23\n> execute date\ncurrent date is: 2025-09-24\n"
	if err := os.WriteFile(filepath.Join(dir, "lab.txt"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := labCmd([]string{"run", "--step-timeout", "100ms", dir}, &out, &errOut); code != 1 ||
		!strings.Contains(out.String(), "-current date is: 2025-09-24\n+current date is: 2025-09-23\n") ||
		!strings.HasSuffix(out.String(), "FAIL wrong-date\n") {
		t.Fatalf("status %d, stdout:\n%s", code, out.String())
	}

	// a folder of labs runs each
	out.Reset()
	if code := labCmd([]string{"run", "--step-timeout", "100ms", filepath.Dir(dir)}, &out, &errOut); code != 1 || !strings.HasSuffix(out.String(), "FAIL wrong-date\n") {
		t.Fatalf("a folder of labs: status %d, stdout:\n%s", code, out.String())
	}

	out.Reset()
	if code := labCmd([]string{"run", "--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "usage: fosim lab run") {
		t.Fatalf("--help: status %d, %q", code, out.String())
	}
	if code := labCmd([]string{"run", filepath.Join(t.TempDir(), "missing")}, &out, &errOut); code != 1 {
		t.Fatalf("a missing lab: status %d", code)
	}
}
