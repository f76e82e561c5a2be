package forticlient

import "testing"

func TestCanonMAC(t *testing.T) {
	for in, want := range map[string]string{
		"00-0C-29-3C-9A-0E": "00:0c:29:3c:9a:0e",
		"00:0c:29:3c:9a:0e": "00:0c:29:3c:9a:0e",
	} {
		if got, ok := CanonMAC(in); !ok || got != want {
			t.Errorf("CanonMAC(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "000c.293c.9a0e", "00:0c:29:3c:9a", "00:0c:29:3c:9a:0e:01:02", "00:0c:29:3c:9a:0g", "0:0c:29:3c:9a:0e0", "00-0c:29-3c:9a-0e"} {
		if got, ok := CanonMAC(bad); ok {
			t.Errorf("CanonMAC(%q) = %q, accepted", bad, got)
		}
	}
}

func TestValidUID(t *testing.T) {
	if !ValidUID("0123456789abcdefABCDEF0123456789") {
		t.Error("a UID of mixed-case hex digits was refused")
	}
	for _, bad := range []string{"", "0123456789ABCDEF0123456789ABCDE", "0123456789ABCDEF0123456789ABCDEG", "0123456789ABCDEF0123456789ABCDEF0"} {
		if ValidUID(bad) {
			t.Errorf("ValidUID(%q) accepted", bad)
		}
	}
}

func TestValidTagName(t *testing.T) {
	if !ValidTagName("all_registered_clients") {
		t.Error("a plain tag name was refused")
	}
	long := make([]byte, MaxTagName+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "two words", `q"uote`, "q'uote", `back\slash`, "nul\x00", string(long)} {
		if ValidTagName(bad) {
			t.Errorf("ValidTagName(%q) accepted", bad)
		}
	}
	if !ValidTagName(string(long[:MaxTagName])) {
		t.Errorf("a tag name of %d characters was refused", MaxTagName)
	}
}
