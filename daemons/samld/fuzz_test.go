package samld

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// fuzzRequest is the AuthnRequest every fuzzed Response may answer.
const fuzzRequest = "_F05D859DEAA785FC0013DD33C8628902"

// FuzzConsume feeds the ACS parser and checks arbitrary Response XML. The
// seed corpus (testdata/fuzz/FuzzConsume, written by
// FOSIM_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus) holds good
// Responses signed by the test IdP and forgeries built from them.
// Nothing may panic, and only what the IdP signed is accepted: the
// corpus's good Responses name alice, every forgery admin.
func FuzzConsume(f *testing.F) {
	l := newLab(f, baseConfig(idpKey(), ""))
	f.Fuzz(func(t *testing.T, xml []byte) {
		l.clock.Set(labStart)
		l.d.remember(fuzzRequest, outstanding{server: "SAML-IPSEC", expires: labStart.Add(requestLifetime)}, labStart)
		login, err := l.d.Consume("SAML-IPSEC", acsURL, base64.StdEncoding.EncodeToString(xml))
		l.log()
		if err != nil {
			if login != nil {
				t.Fatal("a login with an error")
			}
			return
		}
		if login.NameID != "alice" || login.User != "alice" || login.RequestID != fuzzRequest {
			t.Fatalf("accepted %+v", login)
		}
	})
}

// TestWriteFuzzCorpus writes FuzzConsume's seed corpus when
// FOSIM_WRITE_CORPUS=1; otherwise it checks the corpus is there.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzConsume")
	if os.Getenv("FOSIM_WRITE_CORPUS") != "1" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < 10 {
			t.Fatalf("the FuzzConsume corpus is missing (%v): FOSIM_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus", err)
		}
		return
	}
	os.MkdirAll(dir, 0o755)
	write := func(name string, xml []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", xml)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	toXML := func(doc *etree.Document) []byte {
		b, _ := doc.WriteToBytes()
		return b
	}
	for _, c := range []struct {
		name             string
		signResp, signAs bool
	}{{"both", true, true}, {"assertion", false, true}, {"response", true, false}, {"unsigned", false, false}} {
		r := defaults(fuzzRequest, labStart)
		r.signResponse, r.signAssert = c.signResp, c.signAs
		r.assertionID = "_asrt_" + c.name
		good := r.document(t)
		write("good-"+c.name, toXML(good))
		if c.signResp || c.signAs {
			for _, f := range wrapped(t, encode(t, good)) {
				raw, _ := base64.StdEncoding.DecodeString(f.resp)
				write(strings.ReplaceAll(f.name, " ", "-")+"-"+c.name, raw)
			}
		}
	}
	r := defaults(fuzzRequest, labStart)
	r.signResponse = false
	doc := r.document(t)
	n := nameIDOf(assertionOf(doc.Root()))
	n.CreateComment("")
	n.CreateText(".evil.org")
	write("comment-nameid", toXML(doc))
	r = defaults(fuzzRequest, labStart)
	r.status = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	r.signResponse, r.signAssert = false, false
	write("status-requester", toXML(r.document(t)))
}
