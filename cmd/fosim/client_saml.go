package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/fosim/fosim/peers/samlclient"
)

type samlOptions struct {
	addr                   netip.Addr
	port                   int
	uid, user              string
	passwordFile, totpFile string
}

type samlResult struct {
	samlclient.Result
	uid string
}

// samlDialLogin is FortiClient's SAML login before a dial.
func samlDialLogin(o samlOptions, stdout, stderr io.Writer) (samlResult, error) {
	if o.port <= 0 || o.port > 65535 {
		return samlResult{}, errors.New("--saml needs --saml-port (the gateway's ike-tcp-port or auth-ike-saml-port)")
	}
	uid := strings.ToUpper(o.uid)
	if uid == "" {
		b := make([]byte, 16)
		rand.Read(b)
		uid = strings.ToUpper(hex.EncodeToString(b))
	}
	lg := &samlclient.Login{Gateway: "https://" + netip.AddrPortFrom(o.addr, uint16(o.port)).String(), UID: uid, Prompt: stdout}
	timeout := 5 * time.Minute // a person at a browser
	if o.user != "" {
		password, err := secretFrom("", o.passwordFile, "FOSIM_SAML_PASSWORD")
		if err != nil {
			return samlResult{}, fmt.Errorf("--saml-password-file: %w", err)
		}
		f := &samlclient.Form{User: o.user, Password: password}
		if o.totpFile != "" {
			secret, err := secretFrom("", o.totpFile, "")
			if err != nil {
				return samlResult{}, fmt.Errorf("--saml-totp-file: %w", err)
			}
			f.Code = func() (string, error) { return totp.GenerateCode(strings.TrimSpace(secret), time.Now()) }
		}
		lg.Browser = f
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := lg.Run(ctx)
	if err != nil {
		return samlResult{}, err
	}
	fmt.Fprintf(stdout, "SAML login as %s (FortiClient UID %s): token received\n", res.User, uid)
	return samlResult{Result: res, uid: uid}, nil
}
