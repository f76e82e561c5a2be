package samlclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// Form is a scripted browser for IdP login pages: it follows redirects,
// fills the first form that asks for a password (the user field is the
// text input beside it) and then one that asks for a token code, and
// submits the auto-posting forms of the SAML HTTP-POST binding, until the
// FortiGate sends it back to FortiClient's local port.
type Form struct {
	User, Password string
	// Code gives a FortiToken code when a page asks for one.
	Code func() (string, error)
	// MaxSteps bounds the pages visited (default 20).
	MaxSteps int
	// Prompted tells, after Visit, whether the IdP asked for the
	// password (it does not while its login session lasts).
	Prompted bool
}

// Visit implements Browser.
func (f *Form) Visit(ctx context.Context, client *http.Client, idpURL string) error {
	steps := f.MaxSteps
	if steps == 0 {
		steps = 20
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, idpURL, nil)
	if err != nil {
		return err
	}
	passwordSent, codeSent := false, false
	f.Prompted = false
	defer func() { f.Prompted = passwordSent }()
	for range steps {
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("samlclient: %s: %w", req.URL.Redacted(), err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			next, err := req.URL.Parse(loc)
			if err != nil {
				return err
			}
			if next.Hostname() == "localhost" && next.Query().Has("tokenid") {
				// the FortiGate's redirect back to FortiClient's port (an
				// IdP on a loopback address redirects to itself: not this)
				back, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+next.Port()+next.RequestURI(), nil)
				if err != nil {
					return err
				}
				r, err := client.Do(back)
				if err != nil {
					return err
				}
				r.Body.Close()
				return nil
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
				return err
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("samlclient: %s: %s: %s", req.URL.Redacted(), resp.Status, excerpt(text(body)))
		}
		forms := parseForms(body)
		var chosen *form
		for _, fm := range forms {
			switch {
			case fm.has("SAMLResponse") || fm.has("SAMLRequest"):
				chosen = fm
			case fm.passwordField != "" && !passwordSent:
				fm.values.Set(fm.passwordField, f.Password)
				if fm.userField != "" {
					fm.values.Set(fm.userField, f.User)
				}
				passwordSent, chosen = true, fm
			case fm.codeField != "" && !codeSent && f.Code != nil:
				code, err := f.Code()
				if err != nil {
					return err
				}
				fm.values.Set(fm.codeField, code)
				codeSent, chosen = true, fm
			}
			if chosen != nil {
				break
			}
		}
		if chosen == nil {
			return fmt.Errorf("samlclient: %s: a page with nothing to submit: %s", req.URL.Redacted(), excerpt(text(body)))
		}
		action, err := req.URL.Parse(chosen.action)
		if err != nil {
			return err
		}
		if strings.EqualFold(chosen.method, "get") {
			action.RawQuery = chosen.values.Encode()
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, action.String(), nil)
		} else {
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(chosen.values.Encode()))
			if req != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		}
		if err != nil {
			return err
		}
	}
	return errors.New("samlclient: too many pages before the FortiGate answered")
}

type form struct {
	action, method                      string
	values                              url.Values
	userField, passwordField, codeField string
}

func (f *form) has(name string) bool { _, ok := f.values[name]; return ok }

// parseForms reads the forms of a page with their inputs' current values.
func parseForms(page []byte) []*form {
	doc, err := html.Parse(strings.NewReader(string(page)))
	if err != nil {
		return nil
	}
	var forms []*form
	var walk func(n *html.Node, cur *form)
	walk = func(n *html.Node, cur *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				cur = &form{action: attr(n, "action"), method: attr(n, "method"), values: url.Values{}}
				forms = append(forms, cur)
			case "input", "textarea":
				if cur == nil {
					break
				}
				name, typ := attr(n, "name"), strings.ToLower(attr(n, "type"))
				if name == "" || typ == "submit" || typ == "button" {
					break
				}
				cur.values.Set(name, attr(n, "value"))
				lower := strings.ToLower(name)
				switch {
				case typ == "password":
					cur.passwordField = name
				case (typ == "" || typ == "text" || typ == "email") && cur.userField == "" && (strings.Contains(lower, "user") || lower == "login" || lower == "email"):
					cur.userField = name
				case strings.Contains(lower, "code") || strings.Contains(lower, "token") || strings.Contains(lower, "otp"):
					if typ != "hidden" {
						cur.codeField = name
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return forms
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is a page's visible text, for error messages.
func text(page []byte) string {
	doc, err := html.Parse(strings.NewReader(string(page)))
	if err != nil {
		return string(page)
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(strings.TrimSpace(n.Data))
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return strings.Join(strings.Fields(b.String()), " ")
}

func excerpt(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
