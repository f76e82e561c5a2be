package https

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The reply writer escapes strings exactly as encoding/json does, and
// its indented output is the same JSON as encoding/json's.
func TestJSONWriterMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r", "\x00\x1f<a>&", "é ü ✓", "bad \xff utf8", "\u2028\u2029"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q: %s, encoding/json %s", s, got, want)
		}
	}
	v := object{{"a", 1}, {"b", []object{{{"name", "x"}}, {}}}, {"c", object{}}, {"d", []object{}}, {"e", nil}, {"f", int64(-3)}, {"g", true}, {"h", []string{"x"}}}
	got, err := indentJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	compact, _ := v.MarshalJSON()
	var want bytes.Buffer
	if err := json.Indent(&want, compact, "", "  "); err != nil {
		t.Fatalf("%v: %s", err, compact)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("indented:\n%s\nencoding/json:\n%s", got, want.Bytes())
	}
}
