package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/peers/idp"
)

const idpUsage = `usage: fosim idp [--data DIR] [--listen ADDR] [--server-address ADDR] [--admin ADDR]
       fosim idp [--data DIR] <command> …

A FortiAuthenticator-style SAML IdP in its own process with its own store
in DIR (--data, else $FOSIM_IDP_DATA). Without a command it serves, until
SIGINT or SIGTERM:
  --listen ADDR          the SAML URLs (default 127.0.0.1:0, a free port)
  --server-address ADDR  the address the IdP URLs are built from (saved:
                         http://ADDR/saml-idp/<prefix>/metadata/ …;
                         default: the Host the browser asked for)
  --admin ADDR           the loopback administration endpoint the commands
                         below use (default 127.0.0.1:0; written to
                         DIR/admin.addr)
The web administration pages are on the --listen address under /admin/,
behind the login of an administrator set with "admin set NAME" (there is
no default one).

commands (they edit DIR; a running IdP reads the change at its next request):
  user add NAME [--password-file F] [--email E] [--first-name F] [--last-name L] [--group G]…
                         add or replace a local user; the password is the
                         first line of F, else $FOSIM_IDP_PASSWORD, else stdin
  user token NAME        give the user a new FortiToken-style TOTP secret
                         (RFC 6238, SHA-1, 6 digits, 30 s); prints its
                         otpauth:// URL; its logins then ask for a code
  user del NAME
  user list
  sp add NAME (--prefix P | --generate-prefix) (--sp-metadata FILE | --entity-id ID --acs URL [--alt-acs URL]… [--sls URL])
         [--nameid FIELD] [--nameid-format unspecified|transient|persistent] [--attribute NAME=FIELD]…
         [--sp-cert PEM-FILE [--require-signed]] [--auth-method METHOD] [--trusted-subnet-bypass]
         [--idp-cert NAME] [--no-auto-return]
                         add or replace a service provider; FIELD is username,
                         email, first-name, last-name or group; its LogoutRequests
                         (and with --require-signed its AuthnRequests) must be
                         signed with the key of --sp-cert; METHOD is enforce-2fa,
                         2fa-if-available (default), password-only or token-only;
                         --sp-metadata takes the entity id, ACS, SLS, SP
                         certificate and signing requirement from the SP's
                         SAML metadata (flags given win)
  sp enable|disable NAME "Disable this service provider": its URLs answer 403
  sp del NAME
  sp list                the SPs and their IdP URLs
  set session-timeout MINUTES          login session timeout, 5 to 1440 (480)
  set force-authn reuse|honour         a valid session is reused even for
                                       ForceAuthn="true" (reuse, as seed 001
                                       observes FortiAuthenticator doing), or not
  set server-address ADDR
  set username-format username@realm|realm\username|realm/username
  set default-certificate NAME         the default IdP certificate
  realm add NAME [--group G]…          a realm (the first is the default);
                                       groups filter who may log in to it
  realm del NAME
  trusted-subnet add|del PREFIX        e.g. 10.1.0.0/16
  cert add NAME [--cert PEM-FILE --key PEM-FILE]
                         a new self-signed IdP certificate, or import one
  cert list
  admin set NAME         the administrator of the web pages (/admin/); the
                         password as for user add, 8 characters at least
  admin del NAME
  apply FILE|-           add or replace the users, SPs and settings a lab
                         file names (JSON; peers/idp/README.md)
  show                   the settings
commands that ask the running IdP (through DIR/admin.addr):
  sessions               the SAML IdP session list: id, user, SP, created, expires
  sessions end ID        end a session
  clock [advance DURATION]
                         the IdP clock, or move it forward ("advance 481m"):
                         sessions expire on it
`

// idpCmd is "fosim idp": the IdP peer and its administration.
func idpCmd(args []string, dataFlag string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fosim idp", flag.ContinueOnError)
	serverAddress := fs.String("server-address", "", "")
	return peerCmd("idp", idpUsage, "FOSIM_IDP_DATA", fs, args, dataFlag, stdout, stderr,
		func(ctx context.Context, dir, listen, admin string) error {
			return serveIdP(ctx, dir, idpServeOptions{Listen: listen, ServerAddress: *serverAddress, Admin: admin}, stdout, stderr)
		},
		func(dir string, args []string) error { return idpAdmin(dir, args, stdin, stdout) })
}

type idpServeOptions struct {
	Listen, ServerAddress, Admin string
}

// serveIdP runs the IdP until ctx ends.
func serveIdP(ctx context.Context, dir string, opt idpServeOptions, stdout, stderr io.Writer) error {
	if err := requireLoopback(opt.Admin); err != nil {
		return err
	}
	if opt.ServerAddress != "" {
		cfg, err := idp.Open(dir)
		if err != nil {
			return err
		}
		if opt.ServerAddress != cfg.ServerAddress {
			cfg.ServerAddress = opt.ServerAddress
			if err := cfg.Save(dir); err != nil {
				return err
			}
		}
	}
	server, err := idp.NewServer(dir, clock.New(nil), stderr)
	if err != nil {
		return err
	}
	p := peerServer{service: server.Handler(), admin: server.AdminHandler()}
	return p.serve(ctx, dir, opt.Listen, opt.Admin, func(saml, admin net.Addr) {
		fmt.Fprintf(stdout, "fosim idp: SAML on http://%s/saml-idp/<prefix>/{metadata,login,logout}/, web administration on http://%s/admin/, loopback administration on http://%s/\n",
			saml, saml, admin)
	})
}

// idpAdmin runs one administration command.
func idpAdmin(dir string, args []string, stdin io.Reader, stdout io.Writer) error {
	switch {
	case len(args) == 3 && args[0] == "sessions" && args[1] == "end":
		return idpEndSession(dir, args[2], stdout)
	case args[0] == "sessions":
		return idpSessions(dir, stdout)
	case args[0] == "cert" && len(args) >= 2 && args[1] == "add":
		return certAdd(dir, args[2:])
	case len(args) == 2 && args[0] == "cert" && args[1] == "list":
		names, err := idp.Certificates(dir)
		if err == nil {
			fmt.Fprintln(stdout, strings.Join(names, "\n"))
		}
		return err
	case args[0] == "clock":
		return idpClock(dir, args[1:], stdout)
	}
	cfg, err := idp.Open(dir)
	if err != nil {
		return err
	}
	changed, err := editIdP(cfg, args, stdin, stdout)
	if err != nil || !changed {
		return err
	}
	return cfg.Save(dir)
}

// editIdP applies a user, sp or set command to cfg; it reports whether it
// changed anything.
func editIdP(cfg *idp.Config, args []string, stdin io.Reader, stdout io.Writer) (bool, error) {
	verb := strings.Join(args[:min(2, len(args))], " ")
	switch {
	case verb == "user list":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "USER\tEMAIL\tGROUPS\tTOKEN")
		for _, u := range cfg.Users {
			token := "-"
			if u.TOTPSecret != "" {
				token = "totp"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.Name, u.Email, strings.Join(u.Groups, ","), token)
		}
		return false, w.Flush()
	case verb == "sp list":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SP\tPREFIX\tSP ENTITY ID\tIDP ENTITY ID\tIDP LOGIN URL\tIDP LOGOUT URL")
		for _, sp := range cfg.ServiceProviders {
			u := idp.IdPURLs(cmp.Or(cfg.ServerAddress, "<server-address>"), sp.Prefix)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", sp.Name, sp.Prefix, sp.EntityID, u.EntityID, u.Login, u.Logout)
		}
		return false, w.Flush()
	case args[0] == "apply" && len(args) == 2:
		return true, applyLabFile(args[1], stdin, idp.ParseLabFile, cfg.Apply)
	case args[0] == "show":
		force := "reuse"
		if cfg.HonourForceAuthn {
			force = "honour"
		}
		var realms []string
		for _, r := range cfg.Realms {
			realms = append(realms, r.Name+cmp.Or(strings.Join(r.Groups, ","), "*"))
		}
		fmt.Fprintf(stdout, "server-address: %s\nsession-timeout: %d\nforce-authn: %s\nusername-format: %s\nrealms: %s\n"+
			"trusted-subnets: %s\ndefault-certificate: %s\nadministrators: %d\nusers: %d\nservice providers: %d\n",
			cfg.ServerAddress, cfg.SessionTimeoutMinutes, force, cmp.Or(cfg.UsernameFormat, idp.FormatAtRealm),
			strings.Join(realms, " "), strings.Join(cfg.TrustedSubnets, " "), cmp.Or(cfg.DefaultCertificate, idp.DefaultCertificateName),
			len(cfg.Admins), len(cfg.Users), len(cfg.ServiceProviders))
		return false, nil
	case verb == "admin set" && len(args) == 3:
		password, err := idpPassword("", stdin)
		if err != nil {
			return false, err
		}
		return true, cfg.SetAdmin(args[2], password)
	case verb == "admin del" && len(args) == 3:
		return true, cfg.DeleteAdmin(args[2])
	case verb == "realm add" && len(args) >= 3:
		fs := flag.NewFlagSet("realm add", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var groups repeated
		fs.Var(&groups, "group", "")
		if err := fs.Parse(args[3:]); err != nil || fs.NArg() > 0 {
			return false, usageError{"realm add NAME [--group G]…"}
		}
		return true, cfg.SetRealm(idp.Realm{Name: args[2], Groups: groups})
	case verb == "realm del" && len(args) == 3:
		return true, cfg.DeleteRealm(args[2])
	case (verb == "trusted-subnet add" || verb == "trusted-subnet del") && len(args) == 3:
		return true, cfg.SetTrustedSubnet(args[2], args[1] == "add")
	case verb == "user token" && len(args) == 3:
		u, err := cfg.SetToken(args[2])
		if err == nil {
			fmt.Fprintf(stdout, "%s\n", u)
		}
		return err == nil, err
	case verb == "user del" && len(args) == 3:
		return true, cfg.DeleteUser(args[2])
	case (verb == "sp enable" || verb == "sp disable") && len(args) == 3:
		return true, cfg.EnableServiceProvider(args[2], args[1] == "enable")
	case verb == "sp del" && len(args) == 3:
		return true, cfg.DeleteServiceProvider(args[2])
	case verb == "user add" && len(args) >= 3:
		return true, userAdd(cfg, args[2], args[3:], stdin)
	case verb == "sp add" && len(args) >= 3:
		return true, spAdd(cfg, args[2], args[3:], stdout)
	case args[0] == "set" && len(args) == 3:
		switch args[1] {
		case "session-timeout":
			n, err := strconv.Atoi(args[2])
			if err != nil || n < idp.MinSessionTimeout || n > idp.MaxSessionTimeout {
				return false, fmt.Errorf("session-timeout %q: minutes, %d to %d", args[2], idp.MinSessionTimeout, idp.MaxSessionTimeout)
			}
			cfg.SessionTimeoutMinutes = n
		case "force-authn":
			if args[2] != "reuse" && args[2] != "honour" {
				return false, fmt.Errorf("force-authn %q: reuse or honour", args[2])
			}
			cfg.HonourForceAuthn = args[2] == "honour"
		case "server-address":
			cfg.ServerAddress = args[2]
		case "username-format":
			cfg.UsernameFormat = args[2]
		case "default-certificate":
			cfg.DefaultCertificate = args[2]
		default:
			return false, usageError{fmt.Sprintf("no setting %q", args[1])}
		}
		return true, nil
	}
	return false, usageError{fmt.Sprintf("unknown command %q", strings.Join(args, " "))}
}

// repeated is a flag given once per value.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func userAdd(cfg *idp.Config, name string, args []string, stdin io.Reader) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	passwordFile := fs.String("password-file", "", "")
	u := idp.User{Name: name}
	fs.StringVar(&u.Email, "email", "", "")
	fs.StringVar(&u.FirstName, "first-name", "", "")
	fs.StringVar(&u.LastName, "last-name", "", "")
	var groups repeated
	fs.Var(&groups, "group", "")
	if err := fs.Parse(args); err != nil {
		return usageError{"user add: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("user add: unexpected %q", fs.Args())}
	}
	u.Groups = groups
	password, err := idpPassword(*passwordFile, stdin)
	if err != nil {
		return err
	}
	return cfg.SetUser(u, password)
}

// idpPassword is the first line of file, else $FOSIM_IDP_PASSWORD, else of
// stdin: a flag would show in the process list.
func idpPassword(file string, stdin io.Reader) (string, error) {
	r := stdin
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	} else if p := os.Getenv("FOSIM_IDP_PASSWORD"); p != "" {
		return p, nil
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func spAdd(cfg *idp.Config, name string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sp add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sp := idp.ServiceProvider{Name: name}
	fs.StringVar(&sp.Prefix, "prefix", "", "")
	generate := fs.Bool("generate-prefix", false, "")
	fs.StringVar(&sp.EntityID, "entity-id", "", "")
	fs.StringVar(&sp.ACSURL, "acs", "", "")
	var alt, attrs repeated
	fs.Var(&alt, "alt-acs", "")
	fs.StringVar(&sp.SLSURL, "sls", "", "")
	fs.StringVar(&sp.NameIDField, "nameid", idp.FieldUsername, "")
	fs.StringVar(&sp.NameIDFormat, "nameid-format", idp.FormatUnspecified, "")
	fs.Var(&attrs, "attribute", "")
	spCert := fs.String("sp-cert", "", "")
	fs.StringVar(&sp.AuthMethod, "auth-method", idp.Auth2FAIfAvailable, "")
	fs.BoolVar(&sp.TrustedSubnetBypass, "trusted-subnet-bypass", false, "")
	fs.BoolVar(&sp.RequireSignedRequests, "require-signed", false, "")
	fs.StringVar(&sp.IdPCertificate, "idp-cert", "", "")
	fs.BoolVar(&sp.NoAutoReturn, "no-auto-return", false, "")
	spMetadata := fs.String("sp-metadata", "", "")
	if err := fs.Parse(args); err != nil {
		return usageError{"sp add: " + err.Error()}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *spMetadata != "" {
		b, err := os.ReadFile(*spMetadata)
		if err != nil {
			return err
		}
		m, err := idp.ServiceProviderFromMetadata(b)
		if err != nil {
			return fmt.Errorf("%s: %v", *spMetadata, err)
		}
		// The flags given win over the metadata.
		if !set["entity-id"] {
			sp.EntityID = m.EntityID
		}
		if !set["acs"] {
			sp.ACSURL = m.ACSURL
		}
		if !set["alt-acs"] {
			alt = m.AlternativeACSURLs
		}
		if !set["sls"] {
			sp.SLSURL = m.SLSURL
		}
		if !set["sp-cert"] {
			sp.CertificatePEM = m.CertificatePEM
		}
		if !set["require-signed"] {
			sp.RequireSignedRequests = m.RequireSignedRequests
		}
	}
	if *spCert != "" {
		b, err := os.ReadFile(*spCert)
		if err != nil {
			return err
		}
		sp.CertificatePEM = string(b)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("sp add: unexpected %q", fs.Args())}
	}
	switch {
	case *generate && sp.Prefix != "":
		return usageError{"sp add: --prefix or --generate-prefix, not both"}
	case *generate:
		sp.Prefix = idp.GeneratePrefix()
	}
	sp.AlternativeACSURLs = alt
	for _, a := range attrs {
		n, field, ok := strings.Cut(a, "=")
		if !ok {
			return usageError{fmt.Sprintf("sp add: --attribute %q: NAME=FIELD", a)}
		}
		sp.Attributes = append(sp.Attributes, idp.Attribute{Name: n, Field: field})
	}
	if err := cfg.SetServiceProvider(sp); err != nil {
		return err
	}
	u := idp.IdPURLs(cmp.Or(cfg.ServerAddress, "<server-address>"), sp.Prefix)
	fmt.Fprintf(stdout, "IdP entity id: %s\nIdP login URL: %s\nIdP logout URL: %s\n", u.EntityID, u.Login, u.Logout)
	return nil
}

// idpAsk sends one request to the running IdP's administration endpoint
// (form, if not empty, as its urlencoded body) and returns its answer; a
// refusal is an error of what.
func idpAsk(dir, method, path, form, what string) ([]byte, error) {
	base, err := peerAdminURL(dir, "IdP", "idp")
	if err != nil {
		return nil, err
	}
	b, err := askPeer(base, method, path, form)
	var refusal peerRefusal
	if errors.As(err, &refusal) {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, err
}

func idpSessions(dir string, stdout io.Writer) error {
	b, err := idpAsk(dir, http.MethodGet, "/sessions", "", "session list")
	if err != nil {
		return err
	}
	var rows []idp.SessionInfo
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("session list: %v", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tUSER\tSP\tCREATED\tEXPIRES")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.User, r.SP, r.Created.Format(time.DateTime), r.Expires.Format(time.DateTime))
	}
	return w.Flush()
}

func idpEndSession(dir, id string, stdout io.Writer) error {
	b, err := idpAsk(dir, http.MethodPost, "/sessions/end", url.Values{"id": {id}}.Encode(), "session "+id)
	if err == nil {
		_, err = stdout.Write(b)
	}
	return err
}

// certAdd is "cert add NAME [--cert F --key F]".
func certAdd(dir string, args []string) error {
	if len(args) == 0 {
		return usageError{"cert add NAME [--cert PEM-FILE --key PEM-FILE]"}
	}
	fs := flag.NewFlagSet("cert add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	certFile := fs.String("cert", "", "")
	keyFile := fs.String("key", "", "")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || (*certFile == "") != (*keyFile == "") {
		return usageError{"cert add NAME [--cert PEM-FILE --key PEM-FILE]"}
	}
	if _, err := idp.Open(dir); err != nil {
		return err
	}
	var certPEM, keyPEM []byte
	if *certFile != "" {
		var err error
		if certPEM, err = os.ReadFile(*certFile); err != nil {
			return err
		}
		if keyPEM, err = os.ReadFile(*keyFile); err != nil {
			return err
		}
	}
	return idp.AddCertificate(dir, args[0], certPEM, keyPEM)
}

func idpClock(dir string, args []string, stdout io.Writer) error {
	var b []byte
	var err error
	switch {
	case len(args) == 0:
		b, err = idpAsk(dir, http.MethodGet, "/clock", "", "clock")
	case len(args) == 2 && args[0] == "advance":
		b, err = idpAsk(dir, http.MethodPost, "/clock/advance?by="+args[1], "", "clock")
	default:
		return usageError{"clock [advance DURATION]"}
	}
	if err == nil {
		_, err = stdout.Write(b)
	}
	return err
}
