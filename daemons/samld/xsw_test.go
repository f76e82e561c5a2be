package samld

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// forgery is a Response an attacker built from a good signed one.
type forgery struct {
	name, resp string
	// why is the refusal expected.
	why string
}

// wrapped builds the XML signature wrapping attacks XSW1–XSW8 (the
// variants of "On Breaking SAML", Somorovsky et al., USENIX Security
// 2012) and a same-ID swap from a good signed Response (base64), each
// carrying an evil Assertion for "admin". Response-signature variants are
// built only when the Response is signed, Assertion-signature ones only
// when the Assertion is.
func wrapped(t testing.TB, good string) []forgery {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	parse := func() (root, a, sigR, sigA *etree.Element) {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			t.Fatal(err)
		}
		root = doc.Root()
		a = childrenNS(root, nsAssertion, "Assertion")[0]
		if s := childrenNS(root, nsDSig, "Signature"); len(s) == 1 {
			sigR = s[0]
		}
		if s := childrenNS(a, nsDSig, "Signature"); len(s) == 1 {
			sigA = s[0]
		}
		return
	}
	unsigned := func(el *etree.Element) *etree.Element {
		c := detached(el)
		for _, s := range childrenNS(c, nsDSig, "Signature") {
			c.RemoveChild(s)
		}
		return c
	}
	evil := func(a *etree.Element, id string) *etree.Element {
		e := unsigned(a)
		setAttr(e, "ID", id)
		for _, s := range childrenNS(e, nsAssertion, "Subject") {
			for _, n := range childrenNS(s, nsAssertion, "NameID") {
				n.SetText("admin")
			}
		}
		for _, as := range childrenNS(e, nsAssertion, "AttributeStatement") {
			for _, at := range childrenNS(as, nsAssertion, "Attribute") {
				for _, v := range childrenNS(at, nsAssertion, "AttributeValue") {
					v.SetText("admin")
				}
			}
		}
		return e
	}
	replace := func(parent, old, new *etree.Element) {
		parent.InsertChildAt(old.Index(), new)
		parent.RemoveChild(old)
	}
	object := func(sig *etree.Element) *etree.Element { return sig.CreateElement(sig.Space + ":Object") }
	out := func(root *etree.Element) string {
		doc := etree.NewDocument()
		doc.SetRoot(root)
		return encode(t, doc)
	}
	var fs []forgery
	if _, _, sigR, _ := parse(); sigR != nil {
		{ // XSW1: an evil Response; the original one inside the signature's Object.
			root, a, sigR, _ := parse()
			orig := unsigned(root)
			fake := unsigned(root)
			setAttr(fake, "ID", "_evil_response")
			replace(fake, childrenNS(fake, nsAssertion, "Assertion")[0], evil(a, "_evil_assertion"))
			sig := detached(sigR)
			object(sig).AddChild(orig)
			fake.InsertChildAt(1, sig)
			fs = append(fs, forgery{"XSW1", out(fake), "signature wrapping"})
		}
		{ // XSW2: the same with the original Response beside a detached signature.
			root, a, sigR, _ := parse()
			orig := unsigned(root)
			fake := unsigned(root)
			setAttr(fake, "ID", "_evil_response")
			replace(fake, childrenNS(fake, nsAssertion, "Assertion")[0], evil(a, "_evil_assertion"))
			fake.InsertChildAt(1, detached(sigR))
			fake.InsertChildAt(2, orig)
			fs = append(fs, forgery{"XSW2", out(fake), "signature wrapping"})
		}
	}
	if _, _, _, sigA := parse(); sigA != nil {
		{ // XSW3: the evil Assertion before the signed one.
			root, a, _, _ := parse()
			root.InsertChildAt(a.Index(), evil(a, "_evil_assertion"))
			fs = append(fs, forgery{"XSW3", out(root), "signature wrapping"})
		}
		{ // XSW4: the signed Assertion inside the evil one.
			root, a, _, _ := parse()
			e := evil(a, "_evil_assertion")
			replace(root, a, e)
			e.AddChild(a)
			fs = append(fs, forgery{"XSW4", out(root), "signature wrapping"})
		}
		{ // XSW5: the evil Assertion carries the signature; an unsigned copy of the original at the end.
			root, a, _, sigA := parse()
			e := evil(a, "_evil_assertion")
			e.InsertChildAt(1, detached(sigA))
			replace(root, a, e)
			root.AddChild(unsigned(a))
			fs = append(fs, forgery{"XSW5", out(root), "signature wrapping"})
		}
		{ // XSW6: the evil Assertion carries the signature, the signed original in its Object.
			root, a, _, sigA := parse()
			e := evil(a, "_evil_assertion")
			sig := detached(sigA)
			object(sig).AddChild(detached(a))
			e.InsertChildAt(1, sig)
			replace(root, a, e)
			fs = append(fs, forgery{"XSW6", out(root), "signature wrapping"})
		}
		{ // XSW7: the signed original in an Extensions element, the evil Assertion in its place.
			root, a, _, _ := parse()
			ext := etree.NewElement(root.Space + ":Extensions")
			ext.AddChild(detached(a))
			replace(root, a, evil(a, "_evil_assertion"))
			root.InsertChildAt(1, ext)
			fs = append(fs, forgery{"XSW7", out(root), "signature wrapping"})
		}
		{ // XSW8: as XSW6 with the original's own signature taken off.
			root, a, _, sigA := parse()
			e := evil(a, "_evil_assertion")
			sig := detached(sigA)
			object(sig).AddChild(unsigned(a))
			e.InsertChildAt(1, sig)
			replace(root, a, e)
			fs = append(fs, forgery{"XSW8", out(root), "signature wrapping"})
		}
		{ // The evil Assertion under the original's ID with its signature.
			root, a, _, sigA := parse()
			e := evil(a, attr(a, "ID"))
			e.InsertChildAt(1, detached(sigA))
			replace(root, a, e)
			for _, s := range childrenNS(root, nsDSig, "Signature") {
				root.RemoveChild(s) // or the Response's digest says it first
			}
			fs = append(fs, forgery{"same ID", out(root), "Signature could not be verified"})
		}
	}
	return fs
}

func setAttr(el *etree.Element, key, value string) {
	for i := range el.Attr {
		if el.Attr[i].Space == "" && el.Attr[i].Key == key {
			el.Attr[i].Value = value
			return
		}
	}
	el.CreateAttr(key, value)
}

// Every wrapping of a good Response is refused, for a Response signed
// as a whole, one with a signed Assertion, and one with both.
func TestSignatureWrapping(t *testing.T) {
	for _, c := range []struct {
		name             string
		signResp, signAs bool
		want             int
	}{
		{"response signed", true, false, 2},
		{"assertion signed", false, true, 7},
		{"both signed", true, true, 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, baseConfig(idpKey(), ""))
			id := l.login()
			r := defaults(id, l.clock.Now())
			r.signResponse, r.signAssert = c.signResp, c.signAs
			good := r.encode(t)
			fs := wrapped(t, good)
			if len(fs) != c.want {
				t.Fatalf("%d forgeries, want %d", len(fs), c.want)
			}
			for _, f := range fs {
				got, err := l.d.Consume("SAML-IPSEC", acsURL, f.resp)
				log := l.log()
				if err == nil || got != nil || !strings.Contains(log, f.why) || !strings.Contains(log, "ret=440") {
					t.Errorf("%s: login %+v, error %v, debug %q; want %q", f.name, got, err, log, f.why)
				}
			}
			// The good one still goes through: the forgeries consumed nothing.
			if _, err := l.d.Consume("SAML-IPSEC", acsURL, good); err != nil {
				t.Fatalf("the good Response after the forgeries: %v", err)
			}
		})
	}
}

// A second Assertion, even one signed by the IdP for another request,
// is refused.
func TestSecondAssertion(t *testing.T) {
	l := newLab(t, baseConfig(idpKey(), ""))
	r := defaults(l.login(), l.clock.Now())
	r.signResponse = false
	other := defaults(l.login(), l.clock.Now())
	other.signResponse = false
	other.nameID = "bob"
	second := childrenNS(other.document(t).Root(), nsAssertion, "Assertion")[0]
	resp := edited(t, l, r, func(root *etree.Element) { root.AddChild(second) })
	refused(t, l, acsURL, resp, "2 Assertions in the Response (signature wrapping)")
}
