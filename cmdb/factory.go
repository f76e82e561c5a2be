package cmdb

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fosim/fosim/grammar"
)

// factoryConfig is the configuration a FortiGate-VM ships with, applied
// through the ordinary session path on first start.
//
//go:embed factory.conf
var factoryConfig string

// SharedFactoryBackup is one factory configuration (certificates
// included) as a backup, made once per process: the certificates' RSA keys
// are the slow part, and tests and labs start many factory-default units
// (restore it into each). A real unit makes its own (EnsureFactory).
var SharedFactoryBackup = sync.OnceValues(func() (string, error) {
	schema, err := LoadSchema()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "fosim-factory")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	st, err := Open(dir, schema, Options{NoSync: true})
	if err != nil {
		return "", err
	}
	defer st.Close()
	if err := st.EnsureFactory(st.Serial()); err != nil {
		return "", err
	}
	return st.Backup("admin"), nil
})

// EnsureFactory gives a new, empty store its factory defaults: the factory
// configuration and freshly generated factory certificates. A store that
// already has a revision is left alone.
func (s *Store) EnsureFactory(serial string) error {
	if s.Revision() > 0 {
		return nil
	}
	return s.FactoryReset(serial)
}

// FactoryReset replaces the configuration with the factory defaults (new
// certificates included), in one commit.
func (s *Store) FactoryReset(serial string) error {
	certs, err := factoryCertificates(serial, s.now())
	if err != nil {
		return err
	}
	res, err := s.restore(factoryConfig+certs, "admin", false)
	if err != nil {
		if res != nil && len(res.Errors) > 0 {
			return fmt.Errorf("factory configuration: %v", res.Errors[0])
		}
		return fmt.Errorf("factory configuration: %w", err)
	}
	return nil
}

// factoryCertificates generates the certificates every FortiGate has:
// Fortinet_CA_SSL (a CA for SSL inspection), Fortinet_SSL (signed by it),
// Fortinet_Factory (the unit's own), as "vpn certificate local" entries.
func factoryCertificates(serial string, now time.Time) (string, error) {
	notBefore := now.Add(-time.Hour)
	notAfter := notBefore.AddDate(10, 0, 0)
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{Country: []string{"US"}, Province: []string{"California"}, Locality: []string{"Sunnyvale"}, Organization: []string{"Fortinet"}, OrganizationalUnit: []string{"Certificate Authority"}, CommonName: serial},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	leaf := func(cn string, signer *x509.Certificate, signKey any) (der []byte, key any, err error) {
		// RSA 2048, as a FortiGate's factory certificates are: admins
		// sign SAML with Fortinet_Factory (user saml cert), which lasso
		// and samld do with RSA keys
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: randSerial(),
			Subject:      pkix.Name{Country: []string{"US"}, Province: []string{"California"}, Locality: []string{"Sunnyvale"}, Organization: []string{"Fortinet"}, OrganizationalUnit: []string{"FortiGate"}, CommonName: cn},
			NotBefore:    notBefore,
			NotAfter:     notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:     []string{cn},
		}
		if signer == nil {
			signer, signKey = tmpl, k
		}
		der, err = x509.CreateCertificate(rand.Reader, tmpl, signer, &k.PublicKey, signKey)
		return der, k, err
	}
	sslDER, sslKey, err := leaf(serial, caCert, caKey)
	if err != nil {
		return "", err
	}
	facDER, facKey, err := leaf(serial, nil, nil)
	if err != nil {
		return "", err
	}
	guiDER, guiKey, err := leaf(serial, nil, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("config vpn certificate local\n")
	for _, c := range []struct {
		name string
		der  []byte
		key  any
		cmt  string
	}{
		{"Fortinet_CA_SSL", caDER, caKey, "This is the default CA certificate the SSL Inspection will use when generating new server certificates."},
		{"Fortinet_SSL", sslDER, sslKey, "This certificate is embedded in the hardware at the factory and is unique to this unit. "},
		{"Fortinet_Factory", facDER, facKey, "This is the factory certificate of this unit."},
		{"Fortinet_GUI_Server", guiDER, guiKey, "This is the default server certificate for the administrative GUI."},
	} {
		keyDER, err := x509.MarshalPKCS8PrivateKey(c.key)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "    edit %s\n", grammar.Quote(c.name))
		fmt.Fprintf(&b, "        set comments %s\n", grammar.Quote(strings.TrimSpace(c.cmt)))
		// FortiOS prints PEM with the closing quote right after the END line.
		fmt.Fprintf(&b, "        set private-key %s\n", grammar.Quote(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))))
		fmt.Fprintf(&b, "        set certificate %s\n", grammar.Quote(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})))))
		b.WriteString("        set source factory\n    next\n")
	}
	b.WriteString("end\n")
	return b.String(), nil
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		panic(err)
	}
	return n
}
