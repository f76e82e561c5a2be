// Package ike is the IKEv2 wire format (RFC 7296): messages, payloads and
// their encoding. It knows no state and no crypto: encrypted payloads are
// carried as bytes for the SA layer to open.
package ike

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Exchange types (RFC 7296 §3.1).
const (
	IKE_SA_INIT     = 34
	IKE_AUTH        = 35
	CREATE_CHILD_SA = 36
	INFORMATIONAL   = 37
)

// Header flags.
const (
	FlagInitiator = 0x08
	FlagVersion   = 0x10
	FlagResponse  = 0x20
)

// Payload types (RFC 7296 §3.2).
type PayloadType uint8

const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53
)

// HeaderLen is the fixed IKE header size.
const HeaderLen = 28

// MaxMessage bounds what Decode accepts (RFC 7296 allows 64 KiB over UDP).
const MaxMessage = 65535

// Header is the IKE header.
type Header struct {
	SPIi, SPIr   uint64
	NextPayload  PayloadType
	Version      uint8 // 0x20 for IKEv2
	ExchangeType uint8
	Flags        uint8
	MessageID    uint32
	Length       uint32
}

// IsResponse tells the R flag.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator tells the I flag.
func (h *Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// Message is a decoded IKE message.
type Message struct {
	Header   Header
	Payloads []Payload
}

// Payload is one payload: its type, critical bit and body.
type Payload struct {
	Type     PayloadType
	Critical bool
	Body     Body
}

// Body is a payload body.
type Body interface {
	encode(b []byte) []byte
}

// Errors of Decode.
var (
	ErrShort   = errors.New("ike: message truncated")
	ErrVersion = errors.New("ike: not IKEv2")
	ErrLength  = errors.New("ike: bad length")
)

// DecodeHeader reads the header of b.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, ErrShort
	}
	h.SPIi = binary.BigEndian.Uint64(b[0:8])
	h.SPIr = binary.BigEndian.Uint64(b[8:16])
	h.NextPayload = PayloadType(b[16])
	h.Version = b[17]
	h.ExchangeType = b[18]
	h.Flags = b[19]
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	if h.Version>>4 != 2 {
		return h, ErrVersion
	}
	if h.Length < HeaderLen || int(h.Length) > len(b) || h.Length > MaxMessage {
		return h, ErrLength
	}
	return h, nil
}

// Decode parses a whole message. The SK payload, if any, stays encrypted
// (an *Encrypted body) and is the last payload.
func Decode(b []byte) (*Message, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	ps, err := DecodePayloads(h.NextPayload, b[HeaderLen:h.Length])
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Payloads: ps}, nil
}

// DecodePayloads parses a payload chain starting with type first (the
// plaintext of an SK payload is such a chain).
func DecodePayloads(first PayloadType, b []byte) ([]Payload, error) {
	var out []Payload
	next := first
	for next != PayloadNone {
		if len(b) < 4 {
			return nil, ErrShort
		}
		typ := next
		next = PayloadType(b[0])
		critical := b[1]&0x80 != 0
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n < 4 || n > len(b) {
			return nil, ErrLength
		}
		data := b[4:n]
		b = b[n:]
		body, err := decodeBody(typ, next, data)
		if err != nil {
			return nil, fmt.Errorf("ike: payload %d: %w", typ, err)
		}
		out = append(out, Payload{Type: typ, Critical: critical, Body: body})
		if typ == PayloadSK || typ == PayloadSKF {
			break // the rest is inside
		}
	}
	return out, nil
}

func decodeBody(typ, next PayloadType, d []byte) (Body, error) {
	switch typ {
	case PayloadSA:
		return decodeSA(d)
	case PayloadKE:
		if len(d) < 4 {
			return nil, ErrShort
		}
		return &KE{Group: binary.BigEndian.Uint16(d[0:2]), Data: clone(d[4:])}, nil
	case PayloadIDi, PayloadIDr:
		if len(d) < 4 {
			return nil, ErrShort
		}
		return &ID{Type: d[0], Data: clone(d[4:])}, nil
	case PayloadAUTH:
		if len(d) < 4 {
			return nil, ErrShort
		}
		return &Auth{Method: d[0], Data: clone(d[4:])}, nil
	case PayloadNonce:
		return &Nonce{Data: clone(d)}, nil
	case PayloadNotify:
		return decodeNotify(d)
	case PayloadDelete:
		return decodeDelete(d)
	case PayloadVendorID:
		return &VendorID{Data: clone(d)}, nil
	case PayloadTSi, PayloadTSr:
		return decodeTS(d)
	case PayloadSK:
		return &Encrypted{Inner: next, Data: clone(d)}, nil
	case PayloadSKF:
		if len(d) < 4 {
			return nil, ErrShort
		}
		return &Fragment{Inner: next, Number: binary.BigEndian.Uint16(d[0:2]), Total: binary.BigEndian.Uint16(d[2:4]), Data: clone(d[4:])}, nil
	case PayloadCP:
		return decodeCP(d)
	case PayloadEAP:
		return &EAP{Data: clone(d)}, nil
	case PayloadCERT, PayloadCERTREQ:
		if len(d) < 1 {
			return nil, ErrShort
		}
		return &Cert{Request: typ == PayloadCERTREQ, Encoding: d[0], Data: clone(d[1:])}, nil
	}
	return &Unknown{Data: clone(d)}, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Encode serialises a message, computing payload chaining and lengths. An
// *Encrypted payload must be last and already sealed.
func (m *Message) Encode() []byte {
	b := make([]byte, HeaderLen, 512)
	h := m.Header
	h.NextPayload = PayloadNone
	if len(m.Payloads) > 0 {
		h.NextPayload = m.Payloads[0].Type
	}
	b = EncodePayloads(b, m.Payloads)
	binary.BigEndian.PutUint64(b[0:8], h.SPIi)
	binary.BigEndian.PutUint64(b[8:16], h.SPIr)
	b[16] = byte(h.NextPayload)
	if h.Version == 0 {
		h.Version = 0x20
	}
	b[17] = h.Version
	b[18] = h.ExchangeType
	b[19] = h.Flags
	binary.BigEndian.PutUint32(b[20:24], h.MessageID)
	binary.BigEndian.PutUint32(b[24:28], uint32(len(b)))
	return b
}

// EncodePayloads appends a payload chain (the plaintext of an SK payload
// is encoded with it too).
func EncodePayloads(b []byte, ps []Payload) []byte {
	for i, p := range ps {
		next := PayloadNone
		if enc, ok := p.Body.(*Encrypted); ok {
			next = enc.Inner
		} else if f, ok := p.Body.(*Fragment); ok {
			next = f.Inner
		} else if i+1 < len(ps) {
			next = ps[i+1].Type
		}
		start := len(b)
		crit := byte(0)
		if p.Critical {
			crit = 0x80
		}
		b = append(b, byte(next), crit, 0, 0)
		b = p.Body.encode(b)
		binary.BigEndian.PutUint16(b[start+2:start+4], uint16(len(b)-start))
	}
	return b
}

// Get returns the first payload of a type, or nil.
func Get[T Body](ps []Payload, typ PayloadType) T {
	var zero T
	for _, p := range ps {
		if p.Type == typ {
			if v, ok := p.Body.(T); ok {
				return v
			}
		}
	}
	return zero
}

// Notifies returns the notify payloads.
func Notifies(ps []Payload) []*Notify {
	var out []*Notify
	for _, p := range ps {
		if n, ok := p.Body.(*Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

// KE is a key exchange payload.
type KE struct {
	Group uint16
	Data  []byte
}

func (k *KE) encode(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, k.Group)
	b = append(b, 0, 0)
	return append(b, k.Data...)
}

// ID types (RFC 7296 §3.5).
const (
	IDIPv4      = 1
	IDFQDN      = 2
	IDRFC822    = 3
	IDIPv6      = 5
	IDDERASN1DN = 9
	IDKeyID     = 11
)

// ID is an identification payload.
type ID struct {
	Type uint8
	Data []byte
}

func (p *ID) encode(b []byte) []byte {
	b = append(b, p.Type, 0, 0, 0)
	return append(b, p.Data...)
}

// String renders the ID as FortiOS logs it ("IPV4_ADDR 172.16.200.242").
func (p *ID) String() string {
	switch p.Type {
	case IDIPv4:
		if a, ok := netip.AddrFromSlice(p.Data); ok && len(p.Data) == 4 {
			return "IPV4_ADDR " + a.String()
		}
	case IDIPv6:
		if a, ok := netip.AddrFromSlice(p.Data); ok && len(p.Data) == 16 {
			return "IPV6_ADDR " + a.String()
		}
	case IDFQDN:
		return "FQDN " + string(p.Data)
	case IDRFC822:
		return "USER_FQDN " + string(p.Data)
	case IDKeyID:
		return "KEY_ID " + string(p.Data)
	case IDDERASN1DN:
		return "DER_ASN1_DN"
	}
	return fmt.Sprintf("ID_TYPE_%d", p.Type)
}

// Value is the identity without its type ("172.16.200.242").
func (p *ID) Value() string {
	switch p.Type {
	case IDIPv4, IDIPv6:
		if a, ok := netip.AddrFromSlice(p.Data); ok {
			return a.Unmap().String()
		}
	}
	return string(p.Data)
}

// Auth methods.
const (
	AuthRSA        = 1
	AuthPSK        = 2
	AuthDSS        = 3
	AuthECDSA256   = 9
	AuthDigitalSig = 14
)

// Auth is an authentication payload.
type Auth struct {
	Method uint8
	Data   []byte
}

func (a *Auth) encode(b []byte) []byte {
	b = append(b, a.Method, 0, 0, 0)
	return append(b, a.Data...)
}

// Nonce is a nonce payload.
type Nonce struct{ Data []byte }

func (n *Nonce) encode(b []byte) []byte { return append(b, n.Data...) }

// VendorID is a vendor ID payload.
type VendorID struct{ Data []byte }

func (v *VendorID) encode(b []byte) []byte { return append(b, v.Data...) }

// EAP carries an EAP message.
type EAP struct{ Data []byte }

func (e *EAP) encode(b []byte) []byte { return append(b, e.Data...) }

// Cert is a certificate or certificate request payload.
type Cert struct {
	Request  bool
	Encoding uint8
	Data     []byte
}

func (c *Cert) encode(b []byte) []byte {
	b = append(b, c.Encoding)
	return append(b, c.Data...)
}

// Encrypted is an SK payload: IV, ciphertext and ICV, opened by the SA.
type Encrypted struct {
	Inner PayloadType // type of the first payload inside
	Data  []byte
}

func (e *Encrypted) encode(b []byte) []byte { return append(b, e.Data...) }

// Fragment is an SKF payload (RFC 7383).
type Fragment struct {
	Inner         PayloadType
	Number, Total uint16
	Data          []byte
}

func (f *Fragment) encode(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, f.Number)
	b = binary.BigEndian.AppendUint16(b, f.Total)
	return append(b, f.Data...)
}

// Unknown keeps a payload this package does not parse.
type Unknown struct{ Data []byte }

func (u *Unknown) encode(b []byte) []byte { return append(b, u.Data...) }

// FindSK returns the offset of the SK payload's generic header in a whole
// message and the type of the first payload inside it.
func FindSK(msg []byte) (int, PayloadType, error) {
	h, err := DecodeHeader(msg)
	if err != nil {
		return 0, 0, err
	}
	off, next := HeaderLen, h.NextPayload
	for next != PayloadNone {
		if off+4 > int(h.Length) {
			return 0, 0, ErrShort
		}
		if next == PayloadSK {
			return off, PayloadType(msg[off]), nil
		}
		n := int(binary.BigEndian.Uint16(msg[off+2 : off+4]))
		if n < 4 || off+n > int(h.Length) {
			return 0, 0, ErrLength
		}
		next = PayloadType(msg[off])
		off += n
	}
	return 0, 0, errors.New("ike: no encrypted payload")
}

// NATHash is the NAT detection hash of RFC 7296 §2.23: SHA-1 of the SPIs,
// the address and the port.
func NATHash(spii, spir uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	var b [18]byte
	binary.BigEndian.PutUint64(b[0:8], spii)
	binary.BigEndian.PutUint64(b[8:16], spir)
	h.Write(b[:16])
	h.Write(ap.Addr().Unmap().AsSlice())
	binary.BigEndian.PutUint16(b[16:18], ap.Port())
	h.Write(b[16:18])
	return h.Sum(nil)
}
