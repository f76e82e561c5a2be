package cmdb

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of golden cases")

// factoryBackup is the shared factory configuration.
var factoryBackup = SharedFactoryBackup

// newTestStore opens a store with factory defaults in a temporary directory.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	factory, err := factoryBackup()
	if err != nil {
		t.Fatal(err)
	}
	st, err := Open(t.TempDir(), testSchema(t), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if res, err := st.Restore(factory, "admin", false); err != nil {
		t.Fatalf("factory: %v %v", err, res.Errors)
	}
	return st
}

func testSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := LoadSchema()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Random parts of the output (uuids, secrets, the config file version) are
// masked so the expected text is stable.
var (
	maskUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	maskENC  = regexp.MustCompile(`ENC [A-Za-z0-9+/=]+`)
	maskVer  = regexp.MustCompile(`#conf_file_ver=\d+`)
)

func mask(s string) string {
	s = maskUUID.ReplaceAllString(s, "<uuid>")
	s = maskENC.ReplaceAllString(s, "ENC <secret>")
	return maskVer.ReplaceAllString(s, "#conf_file_ver=<n>")
}

const goldenSep = "\n----\n"

// TestGolden runs every testdata/golden/*.txt case: the script before the
// "----" line is applied to a factory-default appliance; what show / get
// printed and every error, in order, must equal the text after it. Each
// case must then round-trip: restoring the backup it produced into another
// appliance gives the same backup.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(raw), goldenSep)
			if !ok {
				t.Fatalf("%s: no %q separator line", file, strings.TrimSpace(goldenSep))
			}
			st := newTestStore(t)
			res := RunScript(st.NewSession("admin", "golden"), input+"\n", ScriptOptions{})
			got := mask(res.Transcript.String())
			if *update {
				if err := os.WriteFile(file, []byte(input+goldenSep+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("output differs\n--- got ---\n%s--- want ---\n%s", got, want)
			}
			checkRoundTrip(t, st)
		})
	}
}

// checkRoundTrip restores st's backup into a fresh appliance and compares.
func checkRoundTrip(t *testing.T, st *Store) {
	t.Helper()
	backup := st.Backup("admin")
	other := newTestStore(t)
	res, err := other.Restore(backup, "admin", false)
	if err != nil {
		t.Fatalf("restoring the backup failed: %v %v", err, res.Errors)
	}
	// Exactly the same text: uuids and ENC secrets included.
	first := maskVer.ReplaceAllString(backup, "")
	again := maskVer.ReplaceAllString(other.Backup("admin"), "")
	if again != first {
		t.Errorf("backup does not round-trip\n--- first ---\n%s--- after restore ---\n%s", first, again)
	}
	// show full-configuration, every default spelled out, restores to the
	// same configuration too.
	var full strings.Builder
	st.Read(func(v View) {
		full.WriteString(ConfigHeader(v, st.Schema(), "admin", 1))
		WriteConfig(&full, st.Schema(), v, true)
	})
	third := newTestStore(t)
	if res, err := third.Restore(full.String(), "admin", false); err != nil {
		t.Fatalf("restoring show full-configuration failed: %v %v", err, res.Errors)
	}
	if again := maskVer.ReplaceAllString(third.Backup("admin"), ""); again != first {
		t.Errorf("show full-configuration does not round-trip\n--- backup ---\n%s--- after restoring full ---\n%s", first, again)
	}
}
