// Package suite maps FortiOS proposal names to IKEv2 transforms and does the
// cryptography of an IKE SA: Diffie-Hellman, the PRF and prf+, key
// derivation (RFC 7296 §2.14), the SK payload's encryption and integrity
// (CBC+HMAC, AES-GCM, ChaCha20-Poly1305) and PSK authentication (§2.15).
// Every primitive comes from the standard library or golang.org/x/crypto.
package suite

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strings"

	"github.com/fosim/fosim/daemons/iked/ike"
)

// Transform IDs (IANA "IKEv2 Transform Type" registries).
const (
	EncrDES      = 2
	Encr3DES     = 3
	EncrAESCBC   = 12
	EncrAESGCM16 = 20
	EncrChaCha   = 28
	EncrNull     = 11

	PRFMD5    = 1
	PRFSHA1   = 2
	PRFSHA256 = 5
	PRFSHA384 = 6
	PRFSHA512 = 7

	IntegNone   = 0
	IntegMD5    = 1
	IntegSHA1   = 2
	IntegSHA256 = 12
	IntegSHA384 = 13
	IntegSHA512 = 14
)

// Suite is one chosen set of algorithms.
type Suite struct {
	Encr    uint16
	KeyLen  int // encryption key bits (AES)
	PRF     uint16
	Integ   uint16
	DHGroup uint16
	ESN     bool
}

// AEAD tells whether the cipher carries its own integrity.
func (s Suite) AEAD() bool { return s.Encr == EncrAESGCM16 || s.Encr == EncrChaCha }

// Name renders a suite the FortiOS way: "aes128-sha256",
// "aes256gcm-prfsha384", "chacha20poly1305-prfsha256".
func (s Suite) Name() string {
	enc := encrName(s.Encr, s.KeyLen)
	if s.AEAD() {
		return enc + "-prf" + prfName(s.PRF)
	}
	if s.PRF == 0 { // ESP
		return enc + "-" + integName(s.Integ)
	}
	return enc + "-" + integName(s.Integ)
}

func encrName(id uint16, bits int) string {
	switch id {
	case EncrAESCBC:
		return fmt.Sprintf("aes%d", bits)
	case EncrAESGCM16:
		return fmt.Sprintf("aes%dgcm", bits)
	case EncrChaCha:
		return "chacha20poly1305"
	case Encr3DES:
		return "3des"
	case EncrDES:
		return "des"
	case EncrNull:
		return "null"
	}
	return fmt.Sprintf("encr%d", id)
}

// hashes are the FortiOS names of the hash functions, as PRF and as
// integrity transform.
var hashes = []struct {
	name       string
	prf, integ uint16
}{
	{"md5", PRFMD5, IntegMD5},
	{"sha1", PRFSHA1, IntegSHA1},
	{"sha256", PRFSHA256, IntegSHA256},
	{"sha384", PRFSHA384, IntegSHA384},
	{"sha512", PRFSHA512, IntegSHA512},
}

func prfName(id uint16) string {
	for _, h := range hashes {
		if h.prf == id {
			return h.name
		}
	}
	return fmt.Sprintf("prf%d", id)
}

func integName(id uint16) string {
	if id == IntegNone {
		return "null"
	}
	for _, h := range hashes {
		if h.integ == id {
			return h.name
		}
	}
	return fmt.Sprintf("integ%d", id)
}

// ParseIKE reads a FortiOS phase1 proposal name into a suite (without DH).
func ParseIKE(name string) (Suite, error) {
	enc, rest, ok := strings.Cut(name, "-")
	if !ok {
		return Suite{}, fmt.Errorf("bad proposal %q", name)
	}
	var s Suite
	var err error
	if s.Encr, s.KeyLen, err = parseEncr(enc); err != nil {
		return s, err
	}
	if s.AEAD() {
		p, ok := strings.CutPrefix(rest, "prf")
		if !ok {
			return s, fmt.Errorf("bad proposal %q", name)
		}
		s.PRF, err = parseHash(p, true)
		return s, err
	}
	h, err := parseHash(rest, true)
	if err != nil {
		return s, err
	}
	s.PRF = h
	s.Integ, _ = parseHash(rest, false)
	return s, nil
}

// ParseESP reads a FortiOS phase2 proposal name ("aes128-sha256",
// "aes256gcm", "chacha20poly1305", "null-sha1").
func ParseESP(name string) (Suite, error) {
	enc, integ, _ := strings.Cut(name, "-")
	var s Suite
	var err error
	if s.Encr, s.KeyLen, err = parseEncr(enc); err != nil {
		return s, err
	}
	if s.AEAD() {
		if integ != "" {
			return s, fmt.Errorf("bad proposal %q", name)
		}
		return s, nil
	}
	if integ == "" || integ == "null" {
		return s, nil
	}
	s.Integ, err = parseHash(integ, false)
	return s, err
}

func parseEncr(e string) (uint16, int, error) {
	switch e {
	case "des":
		return EncrDES, 64, nil
	case "3des":
		return Encr3DES, 192, nil
	case "null":
		return EncrNull, 0, nil
	case "chacha20poly1305":
		return EncrChaCha, 256, nil
	case "aes128", "aes192", "aes256":
		return EncrAESCBC, atoiBits(e[3:]), nil
	case "aes128gcm", "aes192gcm", "aes256gcm":
		return EncrAESGCM16, atoiBits(e[3:6]), nil
	}
	return 0, 0, fmt.Errorf("unsupported cipher %q", e)
}

func atoiBits(s string) int {
	switch s {
	case "128":
		return 128
	case "192":
		return 192
	}
	return 256
}

func parseHash(name string, prf bool) (uint16, error) {
	for _, h := range hashes {
		if h.name == name {
			if prf {
				return h.prf, nil
			}
			return h.integ, nil
		}
	}
	return 0, fmt.Errorf("unsupported hash %q", name)
}

// Transforms renders a suite as the transforms of an IKE proposal.
func (s Suite) Transforms(protocol uint8) []ike.Transform {
	var t []ike.Transform
	keyLen := uint16(0)
	if s.Encr == EncrAESCBC || s.Encr == EncrAESGCM16 {
		keyLen = uint16(s.KeyLen)
	}
	t = append(t, ike.Transform{Type: ike.TransformENCR, ID: s.Encr, KeyLen: keyLen})
	if protocol == ike.ProtoIKE {
		t = append(t, ike.Transform{Type: ike.TransformPRF, ID: s.PRF})
	}
	if !s.AEAD() && s.Integ != IntegNone {
		t = append(t, ike.Transform{Type: ike.TransformINTEG, ID: s.Integ})
	}
	if s.DHGroup != 0 {
		t = append(t, ike.Transform{Type: ike.TransformDH, ID: s.DHGroup})
	}
	if protocol == ike.ProtoESP {
		esn := uint16(0)
		if s.ESN {
			esn = 1
		}
		t = append(t, ike.Transform{Type: ike.TransformESN, ID: esn})
	}
	return t
}

// Match picks the first offered proposal (in the peer's order) that one of
// ours accepts: same cipher and key length, PRF, integrity, and a DH group
// from groups (for child SAs without PFS, groups is empty and no DH may be
// required). It returns the chosen suite and the peer's proposal.
func Match(offered []ike.Proposal, protocol uint8, ours []Suite, groups []uint16, requireDH bool) (Suite, *ike.Proposal, bool) {
	for i := range offered {
		p := &offered[i]
		if p.Protocol != protocol {
			continue
		}
		for _, o := range ours {
			s, ok := accepts(p, protocol, o, groups, requireDH)
			if ok {
				return s, p, true
			}
		}
	}
	return Suite{}, nil, false
}

func accepts(p *ike.Proposal, protocol uint8, o Suite, groups []uint16, requireDH bool) (Suite, bool) {
	s := o
	s.DHGroup = 0
	var encrOK, prfOK, integOK, dhOK, esnOK bool
	hasInteg, hasDH, hasESN := false, false, false
	for _, t := range p.Transforms {
		switch t.Type {
		case ike.TransformENCR:
			kl := int(t.KeyLen)
			if t.ID == EncrChaCha && kl == 0 {
				kl = 256
			}
			if t.ID == Encr3DES && kl == 0 {
				kl = 192
			}
			if t.ID == o.Encr && (kl == o.KeyLen || o.Encr == EncrNull) {
				encrOK = true
			}
		case ike.TransformPRF:
			if t.ID == o.PRF {
				prfOK = true
			}
		case ike.TransformINTEG:
			hasInteg = true
			if t.ID == o.Integ {
				integOK = true
			}
		case ike.TransformDH:
			hasDH = true
			for _, g := range groups {
				if t.ID == g && !dhOK {
					dhOK = true
					s.DHGroup = g
				}
			}
			if t.ID == 0 && len(groups) == 0 {
				dhOK = true
			}
		case ike.TransformESN:
			hasESN = true
			if t.ID == 0 {
				esnOK = true
			}
		}
	}
	if protocol == ike.ProtoIKE && !prfOK {
		return s, false
	}
	if !encrOK {
		return s, false
	}
	if o.AEAD() {
		integOK = !hasInteg || integOK
	} else if o.Integ == IntegNone {
		integOK = !hasInteg
	}
	if !integOK {
		return s, false
	}
	if requireDH && !dhOK {
		return s, false
	}
	if !requireDH && hasDH && len(groups) > 0 && !dhOK {
		return s, false
	}
	if protocol == ike.ProtoESP && hasESN && !esnOK {
		return s, false
	}
	return s, true
}

// prfHash returns the hash of a PRF or integrity transform.
func prfHash(id uint16) func() hash.Hash {
	switch id {
	case PRFMD5:
		return md5.New
	case PRFSHA1:
		return sha1.New
	case PRFSHA384:
		return sha512.New384
	case PRFSHA512:
		return sha512.New
	}
	return sha256.New
}

func integHash(id uint16) (func() hash.Hash, int) {
	switch id {
	case IntegMD5:
		return md5.New, 12
	case IntegSHA1:
		return sha1.New, 12
	case IntegSHA256:
		return sha256.New, 16
	case IntegSHA384:
		return sha512.New384, 24
	case IntegSHA512:
		return sha512.New, 32
	}
	return nil, 0
}

// Prf computes prf(key, data).
func (s Suite) Prf(key []byte, data ...[]byte) []byte {
	m := hmac.New(prfHash(s.PRF), key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// PRFPlus computes prf+(key, seed) to n bytes (RFC 7296 §2.13).
func (s Suite) PRFPlus(key, seed []byte, n int) []byte {
	var out, t []byte
	for i := byte(1); len(out) < n; i++ {
		t = s.Prf(key, t, seed, []byte{i})
		out = append(out, t...)
	}
	return out[:n]
}
