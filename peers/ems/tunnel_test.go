package ems

import (
	"net/http"
	"strings"
	"testing"
)

// The FortiGate's tunnel-down message marks the endpoint; one for an
// endpoint the EMS does not have, or with a bad body, is refused.
func TestTunnelDown(t *testing.T) {
	dir, _ := seedEMS(t)
	s, addr := runServer(t, dir)
	client := pinnedClient(s)
	post := func(uid, body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/api/v1/endpoints/"+uid+"/tunnel-down", strings.NewReader(body))
		must(t, err)
		req.Header.Set("X-FortiGate-Serial", "FGVM01TM00000001")
		resp, err := client.Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(seedUID, `{"interface":"Dialup-TimeOut_0","addr":"10.58.25.2","vdom":"root"}`); code != http.StatusOK {
		t.Fatalf("tunnel-down answered %d", code)
	}
	for body, want := range map[string]int{
		`{"interface":"x","addr":"not an ip","vdom":"root"}`: http.StatusBadRequest,
		`{"vdom":"root"}`:                http.StatusBadRequest,
		`{"interface":"x","evil":1}`:     http.StatusBadRequest,
		strings.Repeat(" ", 8192) + `{}`: http.StatusBadRequest,
	} {
		if code := post(seedUID, body); code != want {
			t.Errorf("%.40q answered %d, want %d", body, code, want)
		}
	}
	if code := post("00000000000000000000000000000000", `{"interface":"x","vdom":"root"}`); code != http.StatusNotFound {
		t.Errorf("unknown endpoint answered %d", code)
	}
	downs := s.TunnelDowns()
	if len(downs) != 1 || downs[0].UID != seedUID || downs[0].Interface != "Dialup-TimeOut_0" || downs[0].Addr != "10.58.25.2" || downs[0].FortiGate != "FGVM01TM00000001" {
		t.Fatalf("marks %+v", downs)
	}
}
