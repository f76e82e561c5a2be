package idp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fosim/fosim/internal/atomicfile"
)

// IdP certificates besides the default one live in DIR/certs as
// NAME-cert.pem and NAME-key.pem; an SP names the one its assertions are
// signed with ("IDP certificate"), and the general settings name the
// default.
const certDir = "certs"

// DefaultCertificateName is how the certificate generated on first use is
// named in lists.
const DefaultCertificateName = "default"

func validCertificateName(name string) bool {
	return name != DefaultCertificateName && validPrefix(name)
}

func certificatePaths(dir, name string) (cert, key string) {
	if name == "" || name == DefaultCertificateName {
		return filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	}
	return filepath.Join(dir, certDir, name+"-cert.pem"), filepath.Join(dir, certDir, name+"-key.pem")
}

func certificateExists(dir, name string) bool {
	c, k := certificatePaths(dir, name)
	_, errC := os.Stat(c)
	_, errK := os.Stat(k)
	return errC == nil && errK == nil
}

// AddCertificate makes a new self-signed IdP certificate called name, or,
// with certPEM and keyPEM, imports that pair. An existing name is refused:
// SPs trust the certificate they were given.
func AddCertificate(dir, name string, certPEM, keyPEM []byte) error {
	if !validCertificateName(name) {
		return fmt.Errorf("bad certificate name %q (letters, digits, - and _; not %q)", name, DefaultCertificateName)
	}
	if certificateExists(dir, name) {
		return fmt.Errorf("certificate %q exists", name)
	}
	if err := os.MkdirAll(filepath.Join(dir, certDir), 0o700); err != nil {
		return err
	}
	c, k := certificatePaths(dir, name)
	if certPEM == nil && keyPEM == nil {
		return generateCertificate(c, k, "fosim IdP "+name)
	}
	if _, _, err := parseKeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("certificate %q: %v", name, err)
	}
	if err := atomicfile.Write(k, keyPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(c, certPEM, 0o644)
}

// Certificates lists the IdP certificates: the default one first.
func Certificates(dir string) ([]string, error) {
	names := []string{DefaultCertificateName}
	entries, err := os.ReadDir(filepath.Join(dir, certDir))
	if errors.Is(err, os.ErrNotExist) {
		return names, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), "-cert.pem"); ok && certificateExists(dir, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names[1:])
	return names, nil
}

// certificateNames are the certificates the configuration refers to.
func (c *Config) certificateNames() []string {
	var names []string
	for _, sp := range c.ServiceProviders {
		if sp.IdPCertificate != "" {
			names = append(names, sp.IdPCertificate)
		}
	}
	return names
}
