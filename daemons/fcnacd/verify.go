package fcnacd

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
)

// FetchCertificate implements fcnacdapi.Connector for "execute fctems
// verify": it connects to the EMS as configured now, whatever its
// certificate, and asks who it is.
func (d *Daemon) FetchCertificate(ctx context.Context, emsID int) (*fcnacdapi.Certificate, error) {
	// The committed configuration, not fcnacd's copy: the admin may have
	// just saved the entry, and fcnacd reloads on its own goroutine.
	var cfg config
	d.rt.Store.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		cfg = readConfig(d.rt.Store.Schema(), v)
	})
	ec, ok := cfg.ems[emsID]
	if !ok {
		return nil, fmt.Errorf("EMS %d is not configured", emsID)
	}
	if ec.Server == "" {
		return nil, fmt.Errorf("EMS %d (%s) has no server", emsID, ec.Name)
	}
	c := newConn(d, ec)
	var presented atomic.Pointer[x509.Certificate]
	client := c.httpClient(func(cert *x509.Certificate) error {
		presented.Store(cert)
		return nil
	})
	defer client.CloseIdleConnections()
	info, err := get(ctx, c, client, "/api/v1/system/info", decodeInfo)
	cert := presented.Load()
	if cert == nil {
		if err == nil {
			err = fmt.Errorf("the EMS presented no certificate")
		}
		return nil, fmt.Errorf("cannot reach EMS %d (%s) at %s: %w", emsID, ec.Name, c.addr(), err)
	}
	out := &fcnacdapi.Certificate{Subject: cert.Subject.String(), Issuer: cert.Issuer.String(),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Fingerprint: fingerprint(cert),
		PEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		Trusted: slices.ContainsFunc(cfg.trusted, cert.Equal)}
	if err != nil {
		return out, fmt.Errorf("EMS %d (%s) presented its certificate but did not answer: %w", emsID, ec.Name, err)
	}
	out.Serial, out.TenantID, out.Version, out.Capabilities = info.Serial, info.TenantID, info.Version, info.Capabilities
	return out, nil
}

// fingerprint is cert's SHA-256, upper-case hex, as execute fctems verify
// and the debug stream print it.
func fingerprint(cert *x509.Certificate) string {
	fp := sha256.Sum256(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(fp[:]))
}
