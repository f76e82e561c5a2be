package ems

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fosim/fosim/internal/atomicfile"
)

// TokenClaims are the claims of a ZTNA token, laid out as seed 002's token
// decodes: {"endpoint":{"uid","tags":[{"name","type","levl"}],"nwifs",
// "ztna_cert_sn","owner"},"exp","iat"}.
type TokenClaims struct {
	Endpoint TokenEndpoint `json:"endpoint"`
	jwt.RegisteredClaims
}

// TokenEndpoint is the "endpoint" object of a token.
type TokenEndpoint struct {
	UID  string     `json:"uid"`
	Tags []TokenTag `json:"tags"`
	// NetworkInterfaces and Owner are null in the seed's token.
	NetworkInterfaces []string `json:"nwifs"`
	CertSN            string   `json:"ztna_cert_sn"`
	Owner             *string  `json:"owner"`
}

// TokenTag is one tag of a token; Level ("levl") is null in the seed.
type TokenTag struct {
	Name  string `json:"name"`
	Type  int    `json:"type"`
	Level *int   `json:"levl"`
}

// Keys are the EMS key and certificate.
type Keys struct {
	Key     *rsa.PrivateKey
	Cert    *x509.Certificate
	CertPEM []byte
	TLS     tls.Certificate
}

// LoadKeys reads the EMS key and certificate from dir.
func LoadKeys(dir string) (*Keys, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("EMS certificate in %s: %v", dir, err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the EMS key is not an RSA key: tokens are RS256")
	}
	return &Keys{Key: key, Cert: pair.Leaf, CertPEM: certPEM, TLS: pair}, nil
}

// Fingerprint is the SHA-256 fingerprint of the EMS certificate.
func (k *Keys) Fingerprint() [32]byte { return sha256.Sum256(k.Cert.Raw) }

// ensureCertificate makes the EMS key and certificate on first use: RSA
// 2048, self-signed, CN the serial number, valid for loopback names so a
// lab's clients can also check it by name.
func ensureCertificate(dir, serial string) error {
	if _, err := os.Stat(filepath.Join(dir, certFile)); err == nil {
		return nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	sn, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: serial, Organization: []string{"Fortinet"}, OrganizationalUnit: []string{"FortiClient EMS (fosim)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// matchCertificate makes a new EMS key and certificate when the serial
// number is no longer the certificate's CN (a lab file gave the EMS
// another serial): the certificate names the EMS. A running EMS serves
// the new one once restarted.
func matchCertificate(dir, serial string) error {
	k, err := LoadKeys(dir)
	if err != nil {
		return ensureCertificate(dir, serial)
	}
	if k.Cert.Subject.CommonName == serial {
		return nil
	}
	if err := os.Remove(filepath.Join(dir, certFile)); err != nil {
		return err
	}
	return ensureCertificate(dir, serial)
}

// ErrNoToken says why EMS gives an endpoint no token.
var ErrNoToken = errors.New("no ZTNA token")

// IssueToken signs the ZTNA token of the endpoint uid at now: its tags as
// the rules give them now, valid for the token lifetime.
func (c *Config) IssueToken(k *Keys, uid string, now time.Time) (string, error) {
	if !c.ZTNAToken {
		return "", fmt.Errorf("%w: Enable ZTNA Token is off on this EMS", ErrNoToken)
	}
	e, ok := c.Endpoint(uid)
	if !ok {
		return "", fmt.Errorf("%w: no endpoint %s", ErrNoToken, uid)
	}
	if !e.Registered {
		return "", fmt.Errorf("%w: endpoint %s is not registered", ErrNoToken, uid)
	}
	tags := []TokenTag{}
	for _, t := range c.TagsOf(e) {
		tags = append(tags, TokenTag{Name: t.Name, Type: t.Type})
	}
	claims := TokenClaims{
		Endpoint: TokenEndpoint{UID: e.UID, Tags: tags, CertSN: e.CertSN},
		RegisteredClaims: jwt.RegisteredClaims{
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Duration(c.TokenLifetime))),
			IssuedAt:  jwt.NewNumericDate(now),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(k.Key)
}
