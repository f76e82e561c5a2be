package samld

import (
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/debuglog"
)

// An SP configured by its caller makes the daemon's checks: a Response
// to its own request passes once, a replay, another signer, a wrong
// audience or a request it never sent are refused.
func TestSPConsume(t *testing.T) {
	clk := clock.New(time.UTC)
	clk.Set(labStart)
	sp := NewSP(clk, debuglog.New(clk.Now).Logger("samld"))
	s := &Server{Name: "admin SSO", EntityID: spEntityID, ACSURL: acsURL, IdPEntityID: idpEntityID,
		IdPLoginURL: idpLoginURL, IdPCert: idpKey().cert, IdPCertName: "idp", UserAttr: "username", ClockTolerance: 15 * time.Second}
	login := func() string {
		t.Helper()
		r, err := sp.Login(s, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.URL, idpLoginURL+"?SAMLRequest=") {
			t.Fatalf("redirect %s", r.URL)
		}
		return r.RequestID
	}
	id := login()
	r := defaults(id, clk.Now())
	r.key = idpKey()
	posted := r.encode(t)
	got, err := sp.Consume(s, acsURL, posted)
	if err != nil || got.User != "alice" || got.RequestID != id {
		t.Fatalf("good response: %+v %v", got, err)
	}
	if _, err := sp.Consume(s, acsURL, posted); err == nil {
		t.Fatal("a replayed response was accepted")
	}
	for name, change := range map[string]func(*response){
		"other signer": func(r *response) { r.key = otherKey() },
		"audience":     func(r *response) { r.audience = "https://elsewhere/" },
		"never sent":   func(r *response) { r.requestID = "_0123456789ABCDEF0123456789ABCDEF" },
		"expired":      func(r *response) { r.notOnOrAfter = clk.Now().Add(-time.Minute); r.scdNotOnOrAfter = r.notOnOrAfter },
	} {
		r := defaults(login(), clk.Now())
		r.key = idpKey()
		change(&r)
		if _, err := sp.Consume(s, acsURL, r.encode(t)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := sp.Consume(nil, acsURL, posted); err == nil {
		t.Error("no server: accepted")
	}
}
