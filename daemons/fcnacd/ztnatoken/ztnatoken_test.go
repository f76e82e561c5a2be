package ztnatoken

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fosim/fosim/internal/peertest"
)

const uid = "F8A6AFF3531843B4972CBDBEEEB30E3C"

var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// seedClaims are seed 002's token claims, with times around now.
func seedClaims(iat time.Time, life time.Duration) jwt.MapClaims {
	return jwt.MapClaims{
		"endpoint": map[string]any{
			"uid": uid,
			"tags": []any{
				map[string]any{"name": "a", "type": 1, "levl": nil},
				map[string]any{"name": "all_registered_clients", "type": 1, "levl": nil},
				map[string]any{"name": "Low", "type": 3, "levl": nil},
			},
			"nwifs": nil, "ztna_cert_sn": "B09D97178121B588ED3055137577522C7B689B79", "owner": nil,
		},
		"iat": iat.Unix(), "exp": iat.Add(life).Unix(),
	}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	now := time.Now()
	tok := sign(t, jwt.SigningMethodRS256, testKey, seedClaims(now, time.Hour))
	got, err := Verify(tok, &testKey.PublicKey, now, uid)
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != uid || len(got.Tags) != 3 || !got.HasTag("a") || got.Tags[2].Type != 3 || got.CertSN == "" || got.ExpiresAt.Sub(got.IssuedAt) != time.Hour {
		t.Fatalf("token %+v", got)
	}
	if _, err := Verify(tok, &testKey.PublicKey, now.Add(time.Hour+time.Second), uid); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("an expired token on the appliance clock: %v", err)
	}
	if _, err := Verify(tok, &testKey.PublicKey, now, "6108A9179A5C40D7BD57504E15114C1F"); !errors.Is(err, ErrUIDMismatch) {
		t.Fatalf("another UID: %v", err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := Verify(tok, &other.PublicKey, now, uid); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("another EMS's key: %v", err)
	}
	if _, err := Verify(tok, nil, now, uid); err == nil {
		t.Fatal("no key")
	}
	if _, err := Verify(tok, &testKey.PublicKey, now.Add(-time.Minute), uid); !errors.Is(err, jwt.ErrTokenUsedBeforeIssued) {
		t.Fatalf("a token issued in the future: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Now()
	pubDER, _ := x509.MarshalPKIXPublicKey(&testKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	noExp := seedClaims(now, time.Hour)
	delete(noExp, "exp")
	noUID := seedClaims(now, time.Hour)
	noUID["endpoint"] = map[string]any{"tags": []any{}}
	cases := map[string]string{
		"alg none":                  sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, seedClaims(now, time.Hour)),
		"HS256 with the public key": sign(t, jwt.SigningMethodHS256, pubPEM, seedClaims(now, time.Hour)),
		"HS256 with the DER key":    sign(t, jwt.SigningMethodHS256, pubDER, seedClaims(now, time.Hour)),
		"RS512":                     sign(t, jwt.SigningMethodRS512, testKey, seedClaims(now, time.Hour)),
		"PS256":                     sign(t, jwt.SigningMethodPS256, testKey, seedClaims(now, time.Hour)),
		"no exp":                    sign(t, jwt.SigningMethodRS256, testKey, noExp),
		"no uid":                    sign(t, jwt.SigningMethodRS256, testKey, noUID),
		"too long":                  strings.Repeat("A", MaxLen+1),
		"empty":                     "",
		"two parts":                 "eyJhbGciOiJSUzI1NiJ9.e30",
		"a signature cut off":       sign(t, jwt.SigningMethodRS256, testKey, seedClaims(now, time.Hour))[:400],
	}
	for name, tok := range cases {
		if got, err := Verify(tok, &testKey.PublicKey, now, uid); err == nil {
			t.Errorf("%s: accepted: %+v", name, got)
		}
	}
}

func havePyJWT(t *testing.T) {
	t.Helper()
	peertest.Need(t, exec.Command("/usr/bin/python3", "-c", "import jwt, cryptography").Run() == nil,
		"python3-jwt (Debian: apt-get install python3-jwt)")
}

// pyjwtSign has Debian's PyJWT sign claims (JSON) with the PEM key in file.
const pyjwtSign = `
import json, sys, jwt
key = open(sys.argv[1]).read()
print(jwt.encode(json.loads(sys.argv[2]), key, algorithm="RS256"))
`

// TestPyJWTSignedTokenAccepted: a token signed by a third-party JWT
// implementation with the EMS key passes the FortiGate's verifier.
func TestPyJWTSignedTokenAccepted(t *testing.T) {
	havePyJWT(t)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(testKey)
	keyFile := filepath.Join(t.TempDir(), "ems-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	claims := `{"endpoint":{"uid":"` + uid + `","tags":[{"name":"a","type":1,"levl":null}],"nwifs":null,"ztna_cert_sn":"B09D97178121B588ED3055137577522C7B689B79","owner":null},` +
		`"exp":` + itoa(now.Add(time.Hour).Unix()) + `,"iat":` + itoa(now.Unix()) + `}`
	out, err := exec.Command("/usr/bin/python3", "-c", pyjwtSign, keyFile, claims).CombinedOutput()
	if err != nil {
		t.Fatalf("PyJWT: %v\n%s", err, out)
	}
	tok := strings.TrimSpace(string(out))
	got, err := Verify(tok, &testKey.PublicKey, now, uid)
	if err != nil {
		t.Fatalf("PyJWT's token refused: %v", err)
	}
	if !got.HasTag("a") || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("token %+v", got)
	}
	if _, err := Verify(tok, &testKey.PublicKey, now.Add(2*time.Hour), uid); err == nil {
		t.Fatal("PyJWT's token accepted after its exp")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func FuzzVerify(f *testing.F) {
	now := time.Now()
	f.Add(sign(f, jwt.SigningMethodRS256, testKey, seedClaims(now, time.Hour)))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := Verify(tok, &testKey.PublicKey, now, "")
		if err == nil && got.UID == "" {
			t.Fatal("a token without a uid passed")
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	tok := sign(b, jwt.SigningMethodRS256, testKey, seedClaims(now, time.Hour))
	for b.Loop() {
		if _, err := Verify(tok, &testKey.PublicKey, now, uid); err != nil {
			b.Fatal(err)
		}
	}
}

// pyjwtRate has PyJWT verify the token n times with the public key and
// prints the verifications per second.
const pyjwtRate = `
import sys, time, jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
key = load_pem_public_key(open(sys.argv[1], "rb").read())
tok, n = sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
for _ in range(n):
    jwt.decode(tok, key, algorithms=["RS256"])
print(n / (time.perf_counter() - start))
`

// BenchmarkVerifyVsPyJWT: the FortiGate verifier's rate against PyJWT's
// for the same seed-shaped token and key, in the same run.
func BenchmarkVerifyVsPyJWT(b *testing.B) {
	if exec.Command("/usr/bin/python3", "-c", "import jwt, cryptography").Run() != nil {
		b.Skip("!!!!!!!! SKIPPED: python3-jwt is missing")
	}
	now := time.Now()
	tok := sign(b, jwt.SigningMethodRS256, testKey, seedClaims(now, time.Hour))
	pubDER, _ := x509.MarshalPKIXPublicKey(&testKey.PublicKey)
	keyFile := filepath.Join(b.TempDir(), "ems-pub.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", pyjwtRate, keyFile, tok, "3000").CombinedOutput()
	if err != nil {
		b.Fatalf("PyJWT: %v\n%s", err, out)
	}
	py, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("PyJWT rate %q", out)
	}
	start := time.Now()
	for b.Loop() {
		if _, err := Verify(tok, &testKey.PublicKey, now, uid); err != nil {
			b.Fatal(err)
		}
	}
	goRate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(goRate, "go-verifies/s")
	b.ReportMetric(py, "pyjwt-verifies/s")
	b.ReportMetric(goRate/py, "x-pyjwt")
}
