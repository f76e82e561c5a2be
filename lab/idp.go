package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/peers/idp"
	"github.com/fosim/fosim/peers/samlclient"
)

// IdPFile, when a lab folder has it, is a peers/idp lab file: the lab runs
// a FortiAuthenticator-style IdP (fosim's IdP peer) beside the appliance,
// on the appliance's clock (so `! advance` ages its login sessions too).
const IdPFile = "idp.json"

// The ports a SAML lab's files name, replaced in config.conf and idp.json:
// the IdP's, and the appliance's auth-ike-saml-port and ike-tcp-port
// (free ports of 127.0.0.1, where port1 is).
const (
	idpCertVar    = "${IDP_CERT}" // the IdP's certificate (PEM), for vpn certificate remote
	idpPortVar    = "${IDP_PORT}"
	samlPortVar   = "${SAML_PORT}"
	ikeTCPPortVar = "${IKE_TCP_PORT}"
)

type idpPeer struct {
	dir                     string
	port, samlPort, tcpPort int
	certPEM                 string
	server                  *http.Server
}

// startIdP starts the IdP of the lab in labDir, if it has one, on clk (the
// appliance's).
func startIdP(labDir string, clk *clock.Clock) (*idpPeer, error) {
	b, err := os.ReadFile(filepath.Join(labDir, IdPFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &idpPeer{}
	ports, err := freeTCPPorts(3)
	if err != nil {
		return nil, err
	}
	p.port, p.samlPort, p.tcpPort = ports[0], ports[1], ports[2]
	if p.dir, err = os.MkdirTemp("", "fosim-lab-idp-"); err != nil {
		return nil, err
	}
	fail := func(err error) (*idpPeer, error) {
		p.close()
		return nil, fmt.Errorf("%s: %w", filepath.Join(labDir, IdPFile), err)
	}
	if err := seedStore(p.dir, []byte(p.config(string(b))), idp.Open, idp.ParseLabFile); err != nil {
		return fail(err)
	}
	srv, err := idp.NewServer(p.dir, clk, io.Discard)
	if err != nil {
		return fail(err)
	}
	handler := srv.Handler()
	// the certificate it made on first start, as an admin downloads it
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/saml-idp/cert/", nil))
	if rec.Code != http.StatusOK {
		return fail(fmt.Errorf("its certificate: %s", rec.Body))
	}
	p.certPEM = strings.TrimSpace(rec.Body.String())
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.port))
	if err != nil {
		return fail(err)
	}
	p.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go p.server.Serve(ln)
	return p, nil
}

// config puts the lab's ports in a lab file.
func (p *idpPeer) config(text string) string {
	if p == nil {
		return text
	}
	return strings.NewReplacer(idpCertVar, p.certPEM, idpPortVar, strconv.Itoa(p.port), samlPortVar, strconv.Itoa(p.samlPort), ikeTCPPortVar, strconv.Itoa(p.tcpPort)).Replace(text)
}

func (p *idpPeer) close() {
	if p == nil {
		return
	}
	if p.server != nil {
		p.server.Close()
	}
	os.RemoveAll(p.dir)
}

func freeTCPPorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// samlLogin is "! saml-login user=U password=P [uid=HEX32] [as=NAME]
// [port=saml|tcp]": FortiClient's SAML login through the appliance
// (fosim's samlclient with a scripted browser at the lab's IdP). The
// token is kept for "! dial saml [as=NAME]".
func (r *runner) samlLogin(ctx context.Context, args actionArgs) (string, error) {
	if r.idp == nil {
		return "", fmt.Errorf("! saml-login: the lab has no %s", IdPFile)
	}
	name := args.get("as", "client")
	uid := strings.ToUpper(args.get("uid", "440F2683C7854FBFB73A528151E1FB25"))
	port := r.idp.samlPort
	switch args.get("port", "saml") {
	case "saml":
	case "tcp":
		port = r.idp.tcpPort
	default:
		return "", fmt.Errorf("! saml-login port=: saml (auth-ike-saml-port) or tcp (ike-tcp-port)")
	}
	form := &samlclient.Form{User: args.get("user", ""), Password: args.get("password", "")}
	if err := args.unknown("saml-login"); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	jar := r.saml[name].jar
	if jar == nil {
		jar, _ = cookiejar.New(nil)
	}
	lg := &samlclient.Login{Gateway: fmt.Sprintf("https://127.0.0.1:%d", port), UID: uid, Browser: form, Jar: jar}
	res, err := lg.Run(ctx)
	if err != nil {
		r.saml[name] = samlToken{jar: jar}
		return fmt.Sprintf("SAML login failed: %v\n", err), nil
	}
	r.saml[name] = samlToken{uid: uid, token: res.Token, jar: jar}
	prompt := "the IdP asked for the password"
	if !form.Prompted {
		prompt = "no prompt: the IdP session was still valid"
	}
	return fmt.Sprintf("SAML login as %s (%s): token received\n", res.User, prompt), nil
}

// samlToken is a client's last SAML login, and its browser's cookies.
type samlToken struct {
	uid, token string
	jar        http.CookieJar
}
