// Package eap is EAP (RFC 3748) as IKEv2 carries it: the packet format and
// the two methods fosim speaks, MD5-Challenge and MS-CHAPv2 (RFC 2759, keys
// per RFC 3079). iked is the authenticator, fosim's client the peer.
package eap

import (
	"crypto/des"
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4" // MS-CHAPv2 is built on MD4; nothing else uses it
)

// Codes and the method types fosim uses.
const (
	Request  = 1
	Response = 2
	Success  = 3
	Failure  = 4

	Identity = 1
	Nak      = 3
	MD5      = 4
	MSCHAPv2 = 26
)

// Packet is an EAP packet; Type and Data only for requests and responses.
type Packet struct {
	Code, ID, Type byte
	Data           []byte
}

// Parse reads an EAP packet.
func Parse(b []byte) (Packet, error) {
	if len(b) < 4 {
		return Packet{}, errors.New("eap: short")
	}
	p := Packet{Code: b[0], ID: b[1]}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 4 || n > len(b) {
		return p, errors.New("eap: bad length")
	}
	if p.Code == Request || p.Code == Response {
		if n < 5 {
			return p, errors.New("eap: no type")
		}
		p.Type, p.Data = b[4], b[5:n]
	}
	return p, nil
}

// Encode writes the packet.
func (p Packet) Encode() []byte {
	n := 4
	if p.Code == Request || p.Code == Response {
		n += 1 + len(p.Data)
	}
	b := make([]byte, 4, n)
	b[0], b[1] = p.Code, p.ID
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	if p.Code == Request || p.Code == Response {
		b = append(b, p.Type)
		b = append(b, p.Data...)
	}
	return b
}

// MD5Response is the EAP-MD5 response value: MD5(id | password | challenge).
func MD5Response(id byte, password, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write(password)
	h.Write(challenge)
	return h.Sum(nil)
}

// NTPasswordHash is MD4 of the UTF-16LE password (RFC 2759 §8.3).
func NTPasswordHash(password []byte) []byte {
	u := utf16.Encode([]rune(string(password)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

// ChallengeHash is the 8-byte challenge both sides sign (RFC 2759 §8.2):
// the peer's, the authenticator's, the user name.
func ChallengeHash(peer, auth []byte, user string) []byte {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:] // the user name without its domain
	}
	h := sha1.New()
	h.Write(peer)
	h.Write(auth)
	h.Write([]byte(user))
	return h.Sum(nil)[:8]
}

// desKey spreads 7 key bytes over an 8-byte DES key (parity bits unused).
func desKey(k []byte) []byte {
	return []byte{k[0], k[0]<<7 | k[1]>>1, k[1]<<6 | k[2]>>2, k[2]<<5 | k[3]>>3,
		k[3]<<4 | k[4]>>4, k[4]<<3 | k[5]>>5, k[5]<<2 | k[6]>>6, k[6] << 1}
}

// NTResponse is the peer's 24-byte answer (RFC 2759 §8.5).
func NTResponse(challenge, pwHash []byte) []byte {
	z := append(append([]byte{}, pwHash...), make([]byte, 21-len(pwHash))...)
	out := make([]byte, 24)
	for i := 0; i < 3; i++ {
		c, _ := des.NewCipher(desKey(z[7*i : 7*i+7]))
		c.Encrypt(out[8*i:], challenge)
	}
	return out
}

var (
	magic1 = []byte("Magic server to client signing constant")
	magic2 = []byte("Pad to make it do more than one iteration")
	magic3 = []byte("This is the MPPE Master Key")
	// RFC 3079 §3.4
	keyMagic2 = []byte("On the client side, this is the send key; on the server side, it is the receive key.")
	keyMagic3 = []byte("On the client side, this is the receive key; on the server side, it is the send key.")
)

// AuthenticatorResponse is the "S=…" string the authenticator proves
// itself with (RFC 2759 §8.7).
func AuthenticatorResponse(pwHash, ntResp, chHash []byte) string {
	hh := md4.New()
	hh.Write(pwHash)
	pwHashHash := hh.Sum(nil)
	d := sha1.New()
	d.Write(pwHashHash)
	d.Write(ntResp)
	d.Write(magic1)
	digest := d.Sum(nil)
	d = sha1.New()
	d.Write(digest)
	d.Write(chHash)
	d.Write(magic2)
	return "S=" + strings.ToUpper(hex.EncodeToString(d.Sum(nil)))
}

// MSCHAPv2MSK is the MSK of EAP-MS-CHAPv2: the server's receive key then
// its send key (RFC 3079), the same 32 bytes the peer computes as its send
// then receive key.
func MSCHAPv2MSK(pwHash, ntResp []byte) []byte {
	hh := md4.New()
	hh.Write(pwHash)
	d := sha1.New()
	d.Write(hh.Sum(nil))
	d.Write(ntResp)
	d.Write(magic3)
	master := d.Sum(nil)[:16]
	key := func(magic []byte) []byte {
		h := sha1.New()
		h.Write(master)
		h.Write(make([]byte, 40))
		h.Write(magic)
		pad := make([]byte, 40)
		for i := range pad {
			pad[i] = 0xf2
		}
		h.Write(pad)
		return h.Sum(nil)[:16]
	}
	return append(key(keyMagic2), key(keyMagic3)...)
}
