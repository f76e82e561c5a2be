package https

import (
	"net/http"
	"strings"
	"testing"
)

// system admin's allow-remove-admin-session disable ("Enable/disable
// allow admin session to be removed by privileged admin users"):
// current-admins says disconnect_enabled false, disconnect-admins and
// execute disconnect-admin-session refuse.
func TestDisconnectAdminsAllowRemove(t *testing.T) {
	api := newTestAPI(t)
	token := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+api.token) }
	a := cookieLogin(t, api, "admin")
	api.cli(t, "admin", "config system admin\nedit admin\nset allow-remove-admin-session disable\nnext\nend")
	got := currentAdmins(t, api, "", token)
	if len(got) != 1 {
		t.Fatalf("sessions: %v", got)
	}
	if got[0]["disconnect_enabled"] != false {
		t.Errorf("disconnect_enabled for an admin with allow-remove-admin-session disable: %v", got[0])
	}
	code, m := api.doWith(t, "POST", "/api/v2/monitor/system/disconnect-admins/select", map[string]any{"id": got[0]["id"], "method": "https"}, token)
	if code != 403 || m["error"] != float64(-14) {
		t.Errorf("disconnect-admins of a session that may not be removed: %d %v", code, m)
	}
	if out := api.cli(t, "admin", "execute disconnect-admin-session 0"); !strings.Contains(out, "allow-remove-admin-session disable") {
		t.Errorf("execute disconnect-admin-session: %q", out)
	}
	if still, _ := api.doWith(t, "GET", "/api/v2/cmdb/system/global", nil, a); still != 200 {
		t.Fatalf("allow-remove-admin-session disable, yet the session was ended (%d %v)", code, m)
	}
}
