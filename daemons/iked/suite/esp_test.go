package suite

import (
	"crypto/rand"
	"errors"
	"testing"
)

// sealESP seals with SealESP, failing the test on an error.
func sealESP(t *testing.T, s Suite, enc, integ []byte, spi, seq uint32, inner []byte, next byte) []byte {
	t.Helper()
	pkt, err := s.SealESP(enc, integ, spi, seq, inner, next)
	if err != nil {
		t.Fatal(err)
	}
	return pkt
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
