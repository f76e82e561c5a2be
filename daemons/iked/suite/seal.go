package suite

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
)

// SealESP builds one ESP packet (RFC 4303), the sender's side of OpenESP:
// fosim's client sends ESP with it so that the gateway's count of verified
// packets has something to count.
func (s Suite) SealESP(enc, integ []byte, spi, seq uint32, inner []byte, next byte) ([]byte, error) {
	hdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, spi), seq)
	bs := 4
	var block cipher.Block
	if !s.AEAD() && s.Encr != EncrNull {
		var err error
		if block, err = s.block(enc); err != nil {
			return nil, err
		}
		bs = block.BlockSize()
	}
	pad := (bs - (len(inner)+2)%bs) % bs
	plain := append([]byte(nil), inner...)
	for i := 1; i <= pad; i++ {
		plain = append(plain, byte(i))
	}
	plain = append(plain, byte(pad), next)
	if s.AEAD() {
		if len(enc) < 4 {
			return nil, errors.New("esp: AEAD key without salt")
		}
		aead, err := s.aead(enc)
		if err != nil {
			return nil, err
		}
		iv := make([]byte, 8)
		rand.Read(iv)
		nonce := append(append([]byte{}, enc[len(enc)-4:]...), iv...)
		return aead.Seal(append(hdr, iv...), nonce, plain, hdr), nil
	}
	pkt := hdr
	if block != nil {
		iv := make([]byte, bs)
		rand.Read(iv)
		ct := make([]byte, len(plain))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
		pkt = append(append(pkt, iv...), ct...)
	} else {
		pkt = append(pkt, plain...)
	}
	if s.Integ != 0 {
		h, n := integHash(s.Integ)
		if h == nil {
			return nil, errors.New("esp: unknown integrity algorithm")
		}
		m := hmac.New(h, integ)
		m.Write(pkt)
		pkt = append(pkt, m.Sum(nil)[:n]...)
	}
	return pkt, nil
}
