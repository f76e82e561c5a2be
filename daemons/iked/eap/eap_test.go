package eap

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// RFC 2759 §9.2 and RFC 3079 §3.5.3 test vectors.
func TestMSCHAPv2Vectors(t *testing.T) {
	auth := unhex("5B5D7C7D7B3F2F3E3C2C602132262628")
	peer := unhex("21402324255E262A28295F2B3A337C7E")
	ch := ChallengeHash(peer, auth, "User")
	if !bytes.Equal(ch, unhex("D02E4386BCE91226")) {
		t.Fatalf("ChallengeHash %X", ch)
	}
	pw := NTPasswordHash([]byte("clientPass"))
	if !bytes.Equal(pw, unhex("44EBBA8D5312B8D611474411F56989AE")) {
		t.Fatalf("PasswordHash %X", pw)
	}
	nt := NTResponse(ch, pw)
	if !bytes.Equal(nt, unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")) {
		t.Fatalf("NT-Response %X", nt)
	}
	if got := AuthenticatorResponse(pw, nt, ch); got != "S=407A5589115FD0D6209F510FE9C04566932CDA56" {
		t.Fatalf("AuthenticatorResponse %s", got)
	}
	msk := MSCHAPv2MSK(pw, nt)
	// RFC 3079 §3.5.3: the server's 128-bit send start key (Magic3), the
	// second half of the MSK (receive key first).
	if len(msk) != 32 || !bytes.Equal(msk[16:], unhex("8B7CDC149B993A1BA118CB153F56DCCB")) {
		t.Fatalf("MSK %X", msk)
	}
}
