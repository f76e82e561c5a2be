package cmdb

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// builtinKey is fosim's built-in secret key. As on FortiOS, a backup made
// with it restores on any fosim appliance; "set private-data-encryption
// enable" switches to a key of this appliance alone. It protects a backup
// from casual reading, not from someone who has this source.
var builtinKey = sha256.Sum256([]byte("fosim built-in private data key v1"))

// Secrets encrypts and decrypts reversible secrets (psksecret, passwd).
type Secrets struct {
	aead cipher.AEAD
}

// NewSecrets makes a Secrets for a 32-byte key; nil means the built-in key.
func NewSecrets(key []byte) *Secrets {
	if key == nil {
		key = builtinKey[:]
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("cmdb: bad secret key: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Secrets{aead: aead}
}

// Encrypt returns the base64 text printed after "ENC".
func (s *Secrets) Encrypt(plain string) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), nil)
	return base64.StdEncoding.EncodeToString(out)
}

// ErrDecrypt is returned for an ENC value made with another key.
var ErrDecrypt = errors.New("secret does not decrypt with this appliance's key")

// Decrypt returns the clear text of an ENC value.
func (s *Secrets) Decrypt(enc string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", ErrDecrypt
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}

// HashPassword makes the one-way "SH2…" form of an admin password: a salt
// and SHA-256 of salt+password, base64 encoded.
func HashPassword(pw string) string {
	salt := make([]byte, 12)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	return hashWithSalt(salt, pw)
}

func hashWithSalt(salt []byte, pw string) string {
	h := sha256.Sum256(append(append([]byte{}, salt...), pw...))
	return "SH2" + base64.StdEncoding.EncodeToString(append(append([]byte{}, salt...), h[:]...))
}

func validHash(h string) bool {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "SH2"))
	return strings.HasPrefix(h, "SH2") && err == nil && len(raw) == 12+32
}

// CheckPassword tells whether pw matches a stored hash ("SH2…").
func CheckPassword(hash, pw string) bool {
	if !validHash(hash) {
		return false
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(hash, "SH2"))
	return subtle.ConstantTimeCompare([]byte(hashWithSalt(raw[:12], pw)), []byte(hash)) == 1
}
