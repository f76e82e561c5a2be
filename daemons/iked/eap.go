package iked

import (
	"crypto/des"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4" // MS-CHAPv2 is built on MD4; nothing else uses it

	"github.com/fosim/fosim/daemons/iked/ike"
)

// EAP (RFC 3748) as the authenticator: Identity, MD5-Challenge and
// MS-CHAPv2 (RFC 2759; keys per RFC 3079).
const (
	eapRequest  = 1
	eapResponse = 2
	eapSuccess  = 3
	eapFailure  = 4

	eapIdentity = 1
	eapNak      = 3
	eapMD5      = 4
	eapMSCHAPv2 = 26
)

type eapPacket struct {
	code, id, typ byte
	data          []byte
}

func parseEAP(b []byte) (eapPacket, error) {
	if len(b) < 4 {
		return eapPacket{}, errors.New("eap: short")
	}
	p := eapPacket{code: b[0], id: b[1]}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 4 || n > len(b) {
		return p, errors.New("eap: bad length")
	}
	if p.code == eapRequest || p.code == eapResponse {
		if n < 5 {
			return p, errors.New("eap: no type")
		}
		p.typ, p.data = b[4], b[5:n]
	}
	return p, nil
}

func (p eapPacket) encode() []byte {
	n := 4
	if p.code == eapRequest || p.code == eapResponse {
		n += 1 + len(p.data)
	}
	b := make([]byte, 4, n)
	b[0], b[1] = p.code, p.id
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	if p.code == eapRequest || p.code == eapResponse {
		b = append(b, p.typ)
		b = append(b, p.data...)
	}
	return b
}

// eapState is an EAP conversation in progress on an IKE SA.
type eapState struct {
	id        byte
	identity  string
	method    byte
	challenge []byte
	msk       []byte // nil for methods without keys (MD5)
	done      bool   // EAP Success sent: the AUTH payload comes next
	// what the first IKE_AUTH asked for, answered once EAP succeeds
	first []ike.Payload
	idr   *ike.ID // the ID we sent, which the final AUTH covers
}

// md5Response is the EAP-MD5 response value: MD5(id | password | challenge).
func md5Response(id byte, password, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write(password)
	h.Write(challenge)
	return h.Sum(nil)
}

func ntPasswordHash(password []byte) []byte {
	u := utf16.Encode([]rune(string(password)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

func challengeHash(peer, auth []byte, user string) []byte {
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

func ntResponse(challenge, pwHash []byte) []byte {
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

func authenticatorResponse(pwHash, ntResp, chHash []byte) string {
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

// mschapv2MSK is the MSK of EAP-MS-CHAPv2: the server's receive key then
// its send key (RFC 3079), the same 32 bytes the peer computes as its send
// then receive key.
func mschapv2MSK(pwHash, ntResp []byte) []byte {
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

// users lists who may log in on a phase1: the members of authusrgrp that
// are local password users.
func (d *Daemon) userPassword(gw *Phase1, name string) ([]byte, bool) {
	if gw.AuthGroup == "" {
		return nil, false
	}
	for _, m := range d.cfg.Groups[gw.AuthGroup] {
		if m == name {
			pw, ok := d.cfg.Users[name]
			return pw, ok
		}
	}
	return nil, false
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
