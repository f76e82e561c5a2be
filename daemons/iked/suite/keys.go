package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/fosim/fosim/daemons/iked/ike"
)

// Keys are the keys of an IKE SA (RFC 7296 §2.14).
type Keys struct {
	Suite      Suite
	SKd        []byte
	SKai, SKar []byte
	SKei, SKer []byte // AEAD keys end with their 4-byte salt
	SKpi, SKpr []byte
}

// encrKeyLen is the key material of the cipher, salt included for AEADs.
func (s Suite) encrKeyLen() int {
	switch s.Encr {
	case EncrAESCBC:
		return s.KeyLen / 8
	case EncrAESGCM16:
		return s.KeyLen/8 + 4
	case EncrChaCha:
		return 32 + 4
	case Encr3DES:
		return 24
	case EncrDES:
		return 8
	}
	return 0
}

func (s Suite) prfLen() int { return prfHash(s.PRF)().Size() }

func (s Suite) integKeyLen() int {
	h, _ := integHash(s.Integ)
	if h == nil {
		return 0
	}
	return h().Size()
}

// DeriveIKE computes SKEYSEED and the seven keys from g^ir and the nonces
// and SPIs of IKE_SA_INIT.
func DeriveIKE(s Suite, shared, ni, nr []byte, spii, spir uint64) *Keys {
	skeyseed := s.Prf(append(append([]byte{}, ni...), nr...), shared)
	return expandKeys(s, skeyseed, ni, nr, spii, spir)
}

// expandKeys is {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
func expandKeys(s Suite, skeyseed, ni, nr []byte, spii, spir uint64) *Keys {
	seed := append(append(append([]byte{}, ni...), nr...), make([]byte, 16)...)
	binary.BigEndian.PutUint64(seed[len(ni)+len(nr):], spii)
	binary.BigEndian.PutUint64(seed[len(ni)+len(nr)+8:], spir)
	pl, il, el := s.prfLen(), s.integKeyLen(), s.encrKeyLen()
	if s.AEAD() {
		il = 0
	}
	km := s.PRFPlus(skeyseed, seed, pl+2*il+2*el+2*pl)
	take := func(n int) []byte {
		k := km[:n]
		km = km[n:]
		return k
	}
	return &Keys{Suite: s, SKd: take(pl), SKai: take(il), SKar: take(il), SKei: take(el), SKer: take(el), SKpi: take(pl), SKpr: take(pl)}
}

// ChildKeys computes the KEYMAT of a child SA: initiator-to-responder then
// responder-to-initiator encryption and integrity keys (§2.17).
func (k *Keys) ChildKeys(esp Suite, shared, ni, nr []byte) (encI, integI, encR, integR []byte) {
	el, il := esp.encrKeyLen(), esp.integKeyLen()
	if esp.AEAD() {
		il = 0
	}
	seed := append(append(append([]byte{}, shared...), ni...), nr...)
	km := k.Suite.PRFPlus(k.SKd, seed, 2*(el+il))
	return km[:el], km[el : el+il], km[el+il : 2*el+il], km[2*el+il:]
}

// Seal builds the SK payload body for plaintext payloads: hdr is the
// message header bytes up to and including the SK generic payload header
// (its lengths final), fromInitiator selects the key direction. It returns
// the body (IV, ciphertext, ICV); for CBC suites the caller appends it and
// then calls Sign over the whole message.
func (k *Keys) Seal(hdr, plain []byte, fromInitiator bool) ([]byte, error) {
	key := k.SKer
	if fromInitiator {
		key = k.SKei
	}
	s := k.Suite
	if s.AEAD() {
		aead, err := s.aead(key)
		if err != nil {
			return nil, err
		}
		iv := make([]byte, 8)
		rand.Read(iv)
		padded := append(append([]byte{}, plain...), 0) // no padding, pad length 0
		nonce := append(append([]byte{}, key[len(key)-4:]...), iv...)
		return append(iv, aead.Seal(nil, nonce, padded, hdr)...), nil
	}
	block, err := s.block(key)
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	padLen := bs - (len(plain)+1)%bs
	if padLen == bs {
		padLen = 0
	}
	padded := append(append([]byte{}, plain...), make([]byte, padLen+1)...)
	padded[len(padded)-1] = byte(padLen)
	iv := make([]byte, bs)
	rand.Read(iv)
	out := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, padded)
	_, icvLen := integHash(s.Integ)
	return append(append(iv, out...), make([]byte, icvLen)...), nil
}

// Sign fills the ICV at the end of a whole message for CBC suites.
func (k *Keys) Sign(msg []byte, fromInitiator bool) {
	s := k.Suite
	if s.AEAD() {
		return
	}
	key := k.SKar
	if fromInitiator {
		key = k.SKai
	}
	h, n := integHash(s.Integ)
	m := hmac.New(h, key)
	m.Write(msg[:len(msg)-n])
	copy(msg[len(msg)-n:], m.Sum(nil)[:n])
}

// SealedLen is the SK body length for a plaintext of n bytes, for the
// header lengths that must be final before sealing.
func (k *Keys) SealedLen(n int) int {
	s := k.Suite
	if s.AEAD() {
		return 8 + n + 1 + 16
	}
	bs := 16
	if s.Encr == Encr3DES || s.Encr == EncrDES {
		bs = 8
	}
	padLen := bs - (n+1)%bs
	if padLen == bs {
		padLen = 0
	}
	_, icvLen := integHash(s.Integ)
	return bs + n + padLen + 1 + icvLen
}

// ErrIntegrity is returned when an SK payload fails its check.
var ErrIntegrity = errors.New("ike: integrity check failed")

// Open checks and decrypts the SK payload of msg (whole message bytes);
// skOffset is where the SK payload's generic header starts.
func (k *Keys) Open(msg []byte, skOffset int, fromInitiator bool) ([]byte, error) {
	s := k.Suite
	key, ikey := k.SKer, k.SKar
	if fromInitiator {
		key, ikey = k.SKei, k.SKai
	}
	if skOffset+4 > len(msg) {
		return nil, ike.ErrShort
	}
	body := msg[skOffset+4:]
	if s.AEAD() {
		if len(body) < 8+16+1 {
			return nil, ike.ErrShort
		}
		aead, err := s.aead(key)
		if err != nil {
			return nil, err
		}
		iv := body[:8]
		nonce := append(append([]byte{}, key[len(key)-4:]...), iv...)
		plain, err := aead.Open(nil, nonce, body[8:], msg[:skOffset+4])
		if err != nil {
			return nil, ErrIntegrity
		}
		return unpad(plain)
	}
	h, n := integHash(s.Integ)
	if h == nil || len(body) < n {
		return nil, ike.ErrShort
	}
	m := hmac.New(h, ikey)
	m.Write(msg[:len(msg)-n])
	if subtle.ConstantTimeCompare(m.Sum(nil)[:n], msg[len(msg)-n:]) != 1 {
		return nil, ErrIntegrity
	}
	block, err := s.block(key)
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	ct := body[:len(body)-n]
	if len(ct) < 2*bs || len(ct)%bs != 0 {
		return nil, ike.ErrLength
	}
	plain := make([]byte, len(ct)-bs)
	cipher.NewCBCDecrypter(block, ct[:bs]).CryptBlocks(plain, ct[bs:])
	return unpad(plain)
}

func unpad(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return nil, ike.ErrShort
	}
	pad := int(p[len(p)-1])
	if pad+1 > len(p) {
		return nil, ike.ErrLength
	}
	return p[:len(p)-1-pad], nil
}

func (s Suite) aead(key []byte) (cipher.AEAD, error) {
	k := key[:len(key)-4]
	if s.Encr == EncrChaCha {
		return chacha20poly1305.New(k)
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (s Suite) block(key []byte) (cipher.Block, error) {
	switch s.Encr {
	case Encr3DES:
		return des.NewTripleDESCipher(key)
	case EncrDES:
		return des.NewCipher(key)
	}
	return aes.NewCipher(key)
}

// PSKAuth computes the AUTH data of a pre-shared key (§2.15): the signed
// octets are the peer's first message, the other side's nonce and the
// MACed ID payload body.
func (k *Keys) PSKAuth(psk, message, nonce, idBody []byte, initiator bool) []byte {
	skp := k.SKpr
	if initiator {
		skp = k.SKpi
	}
	maced := k.Suite.Prf(skp, idBody)
	pad := k.Suite.Prf(psk, []byte("Key Pad for IKEv2"))
	return k.Suite.Prf(pad, message, nonce, maced)
}

// IDBody is the ID payload body the AUTH covers: type, 3 reserved, data.
func IDBody(id *ike.ID) []byte {
	return append([]byte{id.Type, 0, 0, 0}, id.Data...)
}

// DeriveRekeyedIKE computes the keys of an IKE SA that replaces old in a
// CREATE_CHILD_SA rekey (RFC 7296 §2.18): SKEYSEED = prf(SK_d (old), g^ir
// (new) | Ni | Nr), then prf+ as for a new SA with the new SPIs.
func DeriveRekeyedIKE(old *Keys, s Suite, shared, ni, nr []byte, spii, spir uint64) *Keys {
	return expandKeys(s, old.Suite.Prf(old.SKd, shared, ni, nr), ni, nr, spii, spir)
}

// Protect builds a whole protected message: the header h (its lengths and
// first payload are filled in) and an SK payload carrying payloads, sealed
// and signed in the direction of the sender.
func (k *Keys) Protect(h ike.Header, payloads []ike.Payload, fromInitiator bool) []byte {
	plain := ike.EncodePayloads(nil, payloads)
	first := ike.PayloadNone
	if len(payloads) > 0 {
		first = payloads[0].Type
	}
	bodyLen := k.SealedLen(len(plain))
	hdr := make([]byte, ike.HeaderLen+4)
	binary.BigEndian.PutUint64(hdr[0:8], h.SPIi)
	binary.BigEndian.PutUint64(hdr[8:16], h.SPIr)
	hdr[16] = byte(ike.PayloadSK)
	hdr[17] = 0x20
	hdr[18] = h.ExchangeType
	hdr[19] = h.Flags
	binary.BigEndian.PutUint32(hdr[20:24], h.MessageID)
	binary.BigEndian.PutUint32(hdr[24:28], uint32(ike.HeaderLen+4+bodyLen))
	hdr[28] = byte(first)
	binary.BigEndian.PutUint16(hdr[30:32], uint16(4+bodyLen))
	body, err := k.Seal(hdr, plain, fromInitiator)
	if err != nil {
		return nil
	}
	msg := append(hdr, body...)
	k.Sign(msg, fromInitiator)
	return msg
}
