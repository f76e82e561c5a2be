package suite

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"

	"github.com/fosim/fosim/daemons/iked/ike"
)

// OpenESP verifies and decrypts one ESP packet (RFC 4303: SPI, sequence
// number, IV, encrypted payload with padding, pad length and next header,
// ICV) with a child SA's inbound keys: AES-CBC (and 3DES, DES) with HMAC,
// AES-GCM (RFC 4106) or ChaCha20-Poly1305 (RFC 7634), whose last four key
// bytes are the salt. It returns the inner packet and its next header.
func (s Suite) OpenESP(enc, integ, pkt []byte) ([]byte, byte, error) {
	if len(pkt) < 8 {
		return nil, 0, ike.ErrShort
	}
	var plain []byte
	if s.AEAD() {
		if len(pkt) < 8+8+16+2 || len(enc) < 4 {
			return nil, 0, ike.ErrShort
		}
		aead, err := s.aead(enc)
		if err != nil {
			return nil, 0, err
		}
		nonce := append(append([]byte{}, enc[len(enc)-4:]...), pkt[8:16]...)
		if plain, err = aead.Open(nil, nonce, pkt[16:], pkt[:8]); err != nil {
			return nil, 0, ErrIntegrity
		}
	} else {
		var n int
		if s.Integ != 0 {
			h, size := integHash(s.Integ)
			if h == nil || len(pkt) < 8+size {
				return nil, 0, ike.ErrShort
			}
			n = size
			m := hmac.New(h, integ)
			m.Write(pkt[:len(pkt)-n])
			if subtle.ConstantTimeCompare(m.Sum(nil)[:n], pkt[len(pkt)-n:]) != 1 {
				return nil, 0, ErrIntegrity
			}
		}
		body := pkt[8 : len(pkt)-n]
		if s.Encr == EncrNull {
			plain = append([]byte(nil), body...)
		} else {
			block, err := s.block(enc)
			if err != nil {
				return nil, 0, err
			}
			bs := block.BlockSize()
			if len(body) < 2*bs || len(body)%bs != 0 {
				return nil, 0, ike.ErrLength
			}
			plain = make([]byte, len(body)-bs)
			cipher.NewCBCDecrypter(block, body[:bs]).CryptBlocks(plain, body[bs:])
		}
	}
	if len(plain) < 2 {
		return nil, 0, ike.ErrShort
	}
	next, pad := plain[len(plain)-1], int(plain[len(plain)-2])
	if pad+2 > len(plain) {
		return nil, 0, ike.ErrLength
	}
	return plain[:len(plain)-2-pad], next, nil
}
