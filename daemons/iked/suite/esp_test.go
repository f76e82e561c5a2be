package suite

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"
)

// sealESP is the sender's side of RFC 4303, for the test only.
func sealESP(t *testing.T, s Suite, enc, integ []byte, spi, seq uint32, inner []byte, next byte) []byte {
	t.Helper()
	hdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, spi), seq)
	bs := 4
	if !s.AEAD() {
		b, _ := s.block(enc)
		bs = b.BlockSize()
	}
	pad := (bs - (len(inner)+2)%bs) % bs
	plain := append([]byte(nil), inner...)
	for i := 1; i <= pad; i++ {
		plain = append(plain, byte(i))
	}
	plain = append(plain, byte(pad), next)
	if s.AEAD() {
		aead, _ := s.aead(enc)
		iv := make([]byte, 8)
		rand.Read(iv)
		nonce := append(append([]byte{}, enc[len(enc)-4:]...), iv...)
		return aead.Seal(append(hdr, iv...), nonce, plain, hdr)
	}
	b, _ := s.block(enc)
	iv := make([]byte, bs)
	rand.Read(iv)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, plain)
	pkt := append(append(hdr, iv...), ct...)
	h, n := integHash(s.Integ)
	m := hmac.New(h, integ)
	m.Write(pkt)
	return append(pkt, m.Sum(nil)[:n]...)
}

func TestOpenESP(t *testing.T) {
	for _, name := range []string{"aes128-sha256", "aes256-sha1", "3des-sha512", "aes128gcm", "aes256gcm", "chacha20poly1305"} {
		s, err := ParseESP(name)
		if err != nil {
			t.Fatal(err)
		}
		enc := make([]byte, s.encrKeyLen())
		integ := make([]byte, s.integKeyLen())
		rand.Read(enc)
		rand.Read(integ)
		inner := []byte("an IPv4 packet from the peer's virtual address")
		pkt := sealESP(t, s, enc, integ, 0xc0ffee01, 7, inner, 4)
		got, next, err := s.OpenESP(enc, integ, pkt)
		if err != nil || string(got) != string(inner) || next != 4 {
			t.Fatalf("%s: %q %d %v", name, got, next, err)
		}
		pkt[len(pkt)/2] ^= 1
		if _, _, err := s.OpenESP(enc, integ, pkt); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%s: a flipped bit gave %v", name, err)
		}
		if _, _, err := s.OpenESP(enc, integ, pkt[:9]); err == nil {
			t.Fatalf("%s: a truncated packet opened", name)
		}
	}
}
