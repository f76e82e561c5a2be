package lab

import (
	"context"
	"github.com/fosim/fosim/cmdb"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExamples runs every lab of examples/ as a subtest, as "fosim lab run"
// does; a failure prints the lab's diff.
func TestExamples(t *testing.T) {
	dirs, err := Find(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			res, err := RunDir(context.Background(), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Passed {
				t.Fatalf("lab %s:\n%s", res.Name, res.Diff)
			}
		})
	}
}

// Every lab folder has the files its README promises.
func TestExamplesHaveReadmes(t *testing.T) {
	dirs, _ := Find(filepath.Join("..", "examples"))
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

func TestParse(t *testing.T) {
	l, err := Parse(`# a comment
> get system status
line one

  indented
\> not a step
\# not a comment

#
! advance 1m
> diagnose debug enable
#config-version is output, not a comment
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Steps) != 3 {
		t.Fatalf("%d steps: %+v", len(l.Steps), l.Steps)
	}
	first := l.Steps[0]
	want := []string{"line one", "", "  indented", "> not a step", "# not a comment"}
	if first.Kind != Console || first.Text != "get system status" || first.Line != 2 || strings.Join(first.Expected, "|") != strings.Join(want, "|") {
		t.Fatalf("first step %+v", first)
	}
	// the block ends at its last non-blank line: the blank line after it
	// and the comment belong to the file's layout, not to the output
	if first.ExpectedEnd != 7 {
		t.Fatalf("expected block ends at %d", first.ExpectedEnd)
	}
	if s := l.Steps[1]; s.Kind != Action || s.Text != "advance 1m" || len(s.Expected) != 0 {
		t.Fatalf("second step %+v", s)
	}
	if s := l.Steps[2]; len(s.Expected) != 1 || s.Expected[0] != "#config-version is output, not a comment" {
		t.Fatalf("third step %+v", s)
	}
	if _, err := Parse("output before any step\n> x\n"); err == nil {
		t.Fatal("output before the first step was accepted")
	}
}

func TestMasks(t *testing.T) {
	for _, c := range []struct {
		pattern, actual string
		ok              bool
	}{
		{"<TIME> ike V=root:0: flushing", "2025-09-23 17:24:33.222213 ike V=root:0: flushing", true},
		{"<TIME> ike V=root:0: flushing", "ike V=root:0: flushing", false},
		{"SPIs=<SPI>/<SPI>", "SPIs=0882a8d1/cf9e1dc5", true},
		{"SPIs=<SPI>/<SPI>", "SPIs=0882a8d1/cf9e1dc", false},
		{"id/spi: 1 <COOKIE>/<COOKIE>", "id/spi: 1 99fc5cb379810d8d/447560ac1449a010", true},
		{"addr: 127.0.0.1:<PORT>", "addr: 127.0.0.1:4500", true},
		{"created: <N>s ago", "created: 34s ago", true},
		{"uuid <UUID>", "uuid 6b4f8a5e-1c2d-51ee-3f4a-0b1c2d3e4f50", true},
		{"<*> trap", "sending SNMP tunnel UP trap", true},
		{"<*> trap", "trap", false}, // the space is literal
		{"a.b (c) [d]", "a.b (c) [d]", true},
		{"a.b", "axb", false},                                      // literal text is quoted
		{"<password> <--- <SPIx>", "<password> <--- <SPIx>", true}, // not masks
	} {
		p, err := compile(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if got := p.match(c.actual); got != c.ok {
			t.Errorf("%q against %q: %v, want %v", c.pattern, c.actual, got, c.ok)
		}
	}
}

func TestLabelledMasks(t *testing.T) {
	bound := map[string]string{}
	up, _ := compile("added IPsec SA: SPIs=<SPI:in>/<SPI:out>")
	down, _ := compile("deleting IPsec SA with SPI <SPI:in>")
	if ok, _ := up.bind("added IPsec SA: SPIs=0882a8d1/cf9e1dc5", bound); !ok || bound["in"] != "0882a8d1" || bound["out"] != "cf9e1dc5" {
		t.Fatalf("bound %v", bound)
	}
	if ok, _ := down.bind("deleting IPsec SA with SPI 0882a8d1", bound); !ok {
		t.Fatal("the same SPI did not match its label")
	}
	ok, conflict := down.bind("deleting IPsec SA with SPI cf9e1dc5", bound)
	if ok || !strings.Contains(conflict, "cf9e1dc5 here but was 0882a8d1") {
		t.Fatalf("another SPI under the label: ok %v, %q", ok, conflict)
	}
	twice, _ := compile("<N:x> and <N:x>")
	if ok, _ := twice.bind("1 and 2", map[string]string{}); ok {
		t.Fatal("one label took two values on one line")
	}
}

// A lab whose expectation is wrong fails with a diff that shows the
// difference, not the masked lines that matched.
func TestMismatchShowsDiff(t *testing.T) {
	l, err := Parse(`# the date is set, then read back
> execute date 2025-09-23
> execute date
current date is: 2025-09-24
> execute time
current time is: <*>
`)
	if err != nil {
		t.Fatal(err)
	}
	l.Name, l.Dir = "mismatch", "testlab"
	res, err := Run(context.Background(), l, Options{StepTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := `--- testlab/lab.txt (expected)
+++ testlab/lab.txt (this run)
@@ -1,6 +1,6 @@
 # the date is set, then read back
 > execute date 2025-09-23
 > execute date
-current date is: 2025-09-24
+current date is: 2025-09-23
 > execute time
 current time is: <*>
`
	if res.Passed || res.Diff != want {
		t.Fatalf("passed %v, diff:\n%s", res.Passed, res.Diff)
	}
	if !strings.Contains(res.Transcript, "current date is: 2025-09-23\n") {
		t.Fatalf("transcript:\n%s", res.Transcript)
	}
}

// A misspelt action is an error in the lab, not a mismatch.
func TestUnknownAction(t *testing.T) {
	for _, text := range []string{"! warp 5m", "! dial psk=x colour=blue", "! delete as=nobody"} {
		l, err := Parse(text + "\n")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), l, Options{}); err == nil {
			t.Errorf("%q ran", text)
		}
	}
}

// The lab's diff is cmdb's, over the lab file's lines: two hunks here.
func TestUnifiedDiff(t *testing.T) {
	a := strings.Split("1 2 3 4 5 6 7 8 9 10 11 12", " ")
	b := strings.Split("1 2 3 x 5 6 7 8 9 10 11 12 13", " ")
	want := `--- a
+++ b
@@ -1,7 +1,7 @@
 1
 2
 3
-4
+x
 5
 6
 7
@@ -10,3 +10,4 @@
 10
 11
 12
+13
`
	lines := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	if got := cmdb.UnifiedDiff(lines(a), lines(b), "a", "b"); got != want {
		t.Fatalf("got:\n%s", got)
	}
	if got := cmdb.UnifiedDiff(lines(a), lines(a), "a", "b"); got != "" {
		t.Fatalf("equal texts: %q", got)
	}
}

// "! any-order" compares the next step's lines as a set; the other steps
// keep their order, and a wrong line still fails.
func TestAnyOrder(t *testing.T) {
	l, err := Parse(`! any-order
> execute date
current time is: <*>
current date is: <*>
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Steps) != 1 || !l.Steps[0].AnyOrder {
		t.Fatalf("steps %+v", l.Steps)
	}
	r := &runner{bound: map[string]string{}}
	var patterns []*pattern
	for _, e := range []string{"b <N:x>", "a <N:y>"} {
		p, _ := compile(e)
		patterns = append(patterns, p)
	}
	if sr := r.compare(patterns, []string{"a 1", "b 2"}, true); !sr.ok || r.bound["x"] != "2" || r.bound["y"] != "1" {
		t.Fatalf("any order: %+v, bound %v", sr, r.bound)
	}
	if sr := r.compare(patterns, []string{"a 1", "b 2"}, false); sr.ok {
		t.Fatal("in order, swapped lines matched")
	}
	if sr := r.compare(patterns, []string{"a 1", "c 2"}, true); sr.ok {
		t.Fatal("any order, a wrong line matched")
	}
	if got := inExpectedOrder(patterns, []string{"c 3", "a 1", "b 2"}); strings.Join(got, "|") != "b 2|a 1|c 3" {
		t.Fatalf("diff order %q", got)
	}
	for _, bad := range []string{"! any-order\n", "! any-order\nstray output\n> x\n"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
