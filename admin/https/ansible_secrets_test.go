package https

import (
	"strings"
	"testing"
)

// A GET answers every secret that is set as "ENC XXXX", as FortiOS does
// (what Ansible's check mode and Terraform's provider read back), never
// the ciphertext "show" prints; sent back, the mask keeps the secret
// stored; on an entry without one it is refused, as there is nothing it
// stands for.
func TestSecretsReadAsMask(t *testing.T) {
	api := newTestAPI(t)
	if code, m := api.do(t, "POST", "/api/v2/cmdb/user/local", map[string]any{
		"name": "alice", "type": "password", "passwd": "alice-Secret-1",
	}); code != 200 {
		t.Fatalf("POST user local: %d %v", code, m)
	}
	stored := strings.Join(api.st.Lookup("user local", "alice").Values["passwd"], " ")
	for _, c := range []struct{ path, attr string }{
		{"/api/v2/cmdb/user/local/alice", "passwd"},
		{"/api/v2/cmdb/system/admin/admin", "password"},
		{"/api/v2/cmdb/system/api-user/automation", "api-key"},
	} {
		code, m := api.do(t, "GET", c.path, nil)
		res, _ := m["results"].([]any)
		if code != 200 || len(res) != 1 {
			t.Fatalf("GET %s: %d %v", c.path, code, m)
		}
		if got := res[0].(map[string]any)[c.attr]; got != "ENC XXXX" {
			t.Fatalf("%s %s: %v, want ENC XXXX", c.path, c.attr, got)
		}
	}
	// an unset secret is an empty string
	code, m := api.do(t, "GET", "/api/v2/cmdb/user/local/alice?format=ppk-secret", nil)
	if res, _ := m["results"].([]any); code != 200 || len(res) != 1 || res[0].(map[string]any)["ppk-secret"] != "" {
		t.Fatalf("ppk-secret: %d %v", code, m)
	}

	// the mask sent back with the rest of the object keeps the secret
	code, m = api.do(t, "PUT", "/api/v2/cmdb/user/local/alice", map[string]any{"passwd": "ENC XXXX", "email-to": "a@example.com"})
	if code != 200 || m["revision_changed"] != true {
		t.Fatalf("PUT with the mask: %d %v", code, m)
	}
	if got := strings.Join(api.st.Lookup("user local", "alice").Values["passwd"], " "); got != stored {
		t.Fatalf("passwd after the mask came back: %q, was %q", got, stored)
	}
	code, m = api.do(t, "PUT", "/api/v2/cmdb/user/local/alice", map[string]any{"passwd": "ENC XXXX"})
	if code != 200 || m["revision_changed"] != false {
		t.Fatalf("PUT of the mask alone: %d %v", code, m)
	}
	// a new secret in clear replaces it
	if code, m = api.do(t, "PUT", "/api/v2/cmdb/user/local/alice", map[string]any{"passwd": "alice-Secret-2"}); code != 200 || m["revision_changed"] != true {
		t.Fatalf("PUT of a new passwd: %d %v", code, m)
	}
	if got := strings.Join(api.st.Lookup("user local", "alice").Values["passwd"], " "); got == stored {
		t.Fatal("a new passwd left the old one stored")
	}

	// nothing stored for the mask to stand for
	rev := api.st.Revision()
	code, m = api.do(t, "POST", "/api/v2/cmdb/user/local", map[string]any{"name": "bob", "type": "password", "passwd": "ENC XXXX"})
	if code == 200 || m["status"] != "error" || api.st.Lookup("user local", "bob") != nil || api.st.Revision() != rev {
		t.Fatalf("POST with only the mask: %d %v", code, m)
	}
	if msg, _ := m["cli_error"].(string); !strings.Contains(msg, "value parse error before 'passwd'") {
		t.Fatalf("cli_error: %v", m)
	}
}
