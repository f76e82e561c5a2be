package https

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
)

const testPassword = "Fosim-test-pw1"

// testAPI is a REST API on a fresh factory store, served over plain HTTP
// on 127.0.0.1 (the service test covers TLS), with one super_admin API
// user whose token is token.
type testAPI struct {
	st    *cmdb.Store
	app   *cli.Appliance
	srv   *Server
	http  *httptest.Server
	token string
}

func newTestAPI(t testing.TB) *testAPI {
	t.Helper()
	st := cmdbtest.Store(t)
	cmdbtest.Apply(t, st, "config system admin\nedit admin\nset password "+testPassword+"\nnext\nend\n"+
		"config system api-user\nedit automation\nset accprofile super_admin\nset vdom root\nnext\nend\n")
	app := cli.NewAppliance(st)
	srv := &Server{App: app}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	api := &testAPI{st: st, app: app, srv: srv, http: ts}
	api.token = api.generateKey(t, "admin", "automation")
	return api
}

// cli runs CLI lines as user and returns what they print.
func (api *testAPI) cli(t testing.TB, user, lines string) string {
	t.Helper()
	var out strings.Builder
	sh := cli.New(api.app, api.st.NewSession(user, "test"), &out)
	for _, l := range strings.Split(lines, "\n") {
		sh.Line(l)
	}
	return out.String()
}

// generateKey runs "execute api-user generate-key" and reads the key it
// prints.
func (api *testAPI) generateKey(t testing.TB, admin, user string) string {
	t.Helper()
	return generateKey(t, api.app, admin, user)
}

// generateKey runs "execute api-user generate-key user" on app as admin
// and reads the key it prints.
func generateKey(t testing.TB, app *cli.Appliance, admin, user string) string {
	t.Helper()
	var out strings.Builder
	cli.New(app, app.Store.NewSession(admin, "test"), &out).Line("execute api-user generate-key " + user)
	for _, l := range strings.Split(out.String(), "\n") {
		if k, ok := strings.CutPrefix(l, "New API key: "); ok {
			return strings.TrimSpace(k)
		}
	}
	t.Fatalf("generate-key printed no key: %q", out.String())
	return ""
}

// do sends a request with the token as a Bearer header and decodes the
// JSON reply.
func (api *testAPI) do(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return api.doWith(t, method, path, body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+api.token) })
}

func (api *testAPI) doWith(t testing.TB, method, path string, body any, prep func(*http.Request)) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, api.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if prep != nil {
		prep(req)
	}
	resp, err := api.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	if got, ok := m["http_status"].(float64); !ok || int(got) != resp.StatusCode {
		t.Fatalf("%s %s: HTTP %d but http_status %v", method, path, resp.StatusCode, m["http_status"])
	}
	return resp.StatusCode, m
}
