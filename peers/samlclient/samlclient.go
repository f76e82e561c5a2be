// Package samlclient is FortiClient's side of the IPsec SAML login
// (FortiOS 7.6, public reverse engineering in FIDELITY.md): it posts the
// client's UID and a local redirect port to the FortiGate's /saml_login,
// sends a browser through the IdP, and waits on localhost for the
// FortiGate's redirect that carries the token FortiClient then dials
// IKEv2 EAP with (identity = UID, password = token).
//
// The browser is either a person (Login.Browser nil: the IdP URL is
// printed, FortiClient opens a browser window) or Form, a small scripted
// browser that fills an IdP's login form.
package samlclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Login is one SAML login of a FortiClient.
type Login struct {
	// Gateway is the FortiGate's SAML address: "https://HOST:PORT".
	Gateway string
	UID     string // 32 hex digits
	// TLS checks the FortiGate's certificate (nil: trust any, as a lab's
	// self-signed Fortinet_Factory needs; say so to the user).
	TLS *tls.Config
	// Browser completes the IdP step from the URL the FortiGate sends
	// the browser to; nil prints it on Prompt and waits for a person.
	Browser Browser
	Prompt  io.Writer
	// Jar keeps the browser's cookies from one login to the next (the
	// IdP's session cookie lets a second login through without a
	// prompt); nil is a new browser.
	Jar http.CookieJar
}

// Browser walks a browser from the IdP login URL through the IdP's pages
// to the FortiGate's assertion consumer, with client (which keeps
// cookies and does not follow redirects, so that each step is visible).
type Browser interface {
	Visit(ctx context.Context, client *http.Client, idpURL string) error
}

// Result is what the FortiGate's final redirect carried.
type Result struct {
	Token, User string
}

// ErrNoToken means the FortiGate refused the login or never redirected
// back.
var ErrNoToken = errors.New("samlclient: the FortiGate did not send a token")

var (
	uidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
	// the script of the page /saml_login answers with
	locationPattern = regexp.MustCompile(`window\.location\s*=\s*"([^"]+)"`)
)

// Run performs the login and returns the token.
func (l *Login) Run(ctx context.Context) (Result, error) {
	if !uidPattern.MatchString(l.UID) {
		return Result{}, fmt.Errorf("samlclient: UID %q is not 32 hex digits", l.UID)
	}
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	defer back.Close()
	got := make(chan Result, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("tokenid") == "" {
			http.Error(w, "no tokenid", http.StatusBadRequest)
			return
		}
		select {
		case got <- Result{Token: q.Get("tokenid"), User: q.Get("username")}:
		default:
		}
		io.WriteString(w, "<html><body>SAML login complete: you may close this window.</body></html>\n")
	})}
	go srv.Serve(back)
	defer srv.Close()

	jar := l.Jar
	if jar == nil {
		jar, _ = cookiejar.New(nil)
	}
	tlsCfg := l.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{InsecureSkipVerify: true}
	}
	client := &http.Client{
		Jar:       jar,
		Timeout:   15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil},
		// each redirect is a step the caller follows itself
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	port := back.Addr().(*net.TCPAddr).Port
	form := url.Values{"UID": {l.UID}, "REDIRECT_PORT": {strconv.Itoa(port)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(l.Gateway, "/")+"/saml_login?", strings.NewReader(form.Encode()))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("samlclient: /saml_login: %w", err)
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("samlclient: /saml_login: %s", resp.Status)
	}
	m := locationPattern.FindSubmatch(page)
	if m == nil {
		return Result{}, errors.New("samlclient: /saml_login sent no window.location")
	}
	next := string(m[1])
	// /saml?<id> answers with the IdP's URL (the AuthnRequest)
	resp, err = get(ctx, client, next)
	if err != nil {
		return Result{}, err
	}
	resp.Body.Close()
	idpURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || idpURL == "" {
		return Result{}, fmt.Errorf("samlclient: %s: %s, no redirect to the IdP", next, resp.Status)
	}
	if l.Browser == nil {
		if l.Prompt != nil {
			fmt.Fprintf(l.Prompt, "open this URL in a browser to log in:\n%s\n", idpURL)
		}
	} else if err := l.Browser.Visit(ctx, client, idpURL); err != nil {
		return Result{}, err
	}
	select {
	case r := <-got:
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: %v", ErrNoToken, ctx.Err())
	}
}

func get(ctx context.Context, client *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}
