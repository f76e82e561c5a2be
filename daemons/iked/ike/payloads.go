package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Protocol IDs.
const (
	ProtoIKE = 1
	ProtoAH  = 2
	ProtoESP = 3
)

// Transform types (RFC 7296 §3.3.2).
const (
	TransformENCR  = 1
	TransformPRF   = 2
	TransformINTEG = 3
	TransformDH    = 4
	TransformESN   = 5
)

// AttrKeyLength is the Key Length transform attribute.
const AttrKeyLength = 14

// Transform is one transform of a proposal.
type Transform struct {
	Type   uint8
	ID     uint16
	KeyLen uint16 // 0 when absent
}

// Proposal is one proposal of an SA payload.
type Proposal struct {
	Number     uint8
	Protocol   uint8
	SPI        []byte
	Transforms []Transform
}

// SA is a security association payload.
type SA struct{ Proposals []Proposal }

func decodeSA(d []byte) (*SA, error) {
	sa := &SA{}
	for len(d) > 0 {
		if len(d) < 8 {
			return nil, ErrShort
		}
		last := d[0]
		n := int(binary.BigEndian.Uint16(d[2:4]))
		if n < 8 || n > len(d) {
			return nil, ErrLength
		}
		p := Proposal{Number: d[4], Protocol: d[5]}
		spiSize, nt := int(d[6]), int(d[7])
		body := d[8:n]
		if spiSize > len(body) {
			return nil, ErrLength
		}
		p.SPI = clone(body[:spiSize])
		body = body[spiSize:]
		for i := 0; i < nt; i++ {
			if len(body) < 8 {
				return nil, ErrShort
			}
			tl := int(binary.BigEndian.Uint16(body[2:4]))
			if tl < 8 || tl > len(body) {
				return nil, ErrLength
			}
			t := Transform{Type: body[4], ID: binary.BigEndian.Uint16(body[6:8])}
			attrs := body[8:tl]
			for len(attrs) >= 4 {
				at := binary.BigEndian.Uint16(attrs[0:2])
				if at&0x8000 != 0 { // TV
					if at&0x7fff == AttrKeyLength {
						t.KeyLen = binary.BigEndian.Uint16(attrs[2:4])
					}
					attrs = attrs[4:]
					continue
				}
				al := int(binary.BigEndian.Uint16(attrs[2:4]))
				if 4+al > len(attrs) {
					return nil, ErrLength
				}
				attrs = attrs[4+al:]
			}
			p.Transforms = append(p.Transforms, t)
			body = body[tl:]
		}
		sa.Proposals = append(sa.Proposals, p)
		d = d[n:]
		if last == 0 {
			break
		}
	}
	return sa, nil
}

func (sa *SA) encode(b []byte) []byte {
	for i, p := range sa.Proposals {
		start := len(b)
		last := byte(2)
		if i == len(sa.Proposals)-1 {
			last = 0
		}
		b = append(b, last, 0, 0, 0, p.Number, p.Protocol, byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j, t := range p.Transforms {
			ts := len(b)
			tlast := byte(3)
			if j == len(p.Transforms)-1 {
				tlast = 0
			}
			b = append(b, tlast, 0, 0, 0, t.Type, 0)
			b = binary.BigEndian.AppendUint16(b, t.ID)
			if t.KeyLen != 0 {
				b = binary.BigEndian.AppendUint16(b, 0x8000|AttrKeyLength)
				b = binary.BigEndian.AppendUint16(b, t.KeyLen)
			}
			binary.BigEndian.PutUint16(b[ts+2:ts+4], uint16(len(b)-ts))
		}
		binary.BigEndian.PutUint16(b[start+2:start+4], uint16(len(b)-start))
	}
	return b
}

// Notify message types used by fosim (RFC 7296 §3.10.1 and others).
const (
	NotifyUnsupportedCritical     = 1
	NotifyInvalidIKESPI           = 4
	NotifyInvalidSyntax           = 7
	NotifyInvalidMessageID        = 9
	NotifyInvalidSPI              = 11
	NotifyNoProposalChosen        = 14
	NotifyInvalidKEPayload        = 17
	NotifyAuthenticationFailed    = 24
	NotifySinglePairRequired      = 34
	NotifyNoAdditionalSAS         = 35
	NotifyInternalAddressFail     = 36
	NotifyFailedCPRequired        = 37
	NotifyTSUnacceptable          = 38
	NotifyInvalidSelectors        = 39
	NotifyTemporaryFailure        = 43
	NotifyChildSANotFound         = 44
	NotifyInitialContact          = 16384
	NotifySetWindowSize           = 16385
	NotifyIPCOMPSupported         = 16387
	NotifyNATDetectionSourceIP    = 16388
	NotifyNATDetectionDestIP      = 16389
	NotifyCookie                  = 16390
	NotifyUseTransportMode        = 16391
	NotifyRekeySA                 = 16393
	NotifyESPTFCPaddingNotSupp    = 16394
	NotifyNonFirstFragmentsAlso   = 16395
	NotifyMOBIKESupported         = 16396
	NotifyEAPOnlyAuthentication   = 16417
	NotifyFragmentationSupported  = 16430
	NotifySignatureHashAlgorithms = 16431

	// NotifyFortiClientConnect is FortiClient's private FORTICLIENT_CONNECT
	// (0xF100, in RFC 7296's private-use status range), its FCT data
	// (package fctdata): the type public reverse engineering of
	// FortiClient 7.4 records.
	NotifyFortiClientConnect = 0xF100
	// The ZTNA posture notifies of seed 002 (FortiOS 7.4.5+): no public
	// source gives their numbers, so these are fosim's own, in the same
	// private ranges (status: 40960+, error: 8192-16383). Replace them
	// when a capture shows FortiClient's.
	NotifyZTNATag                  = 0xF1F0 // ZTNA_TAG: FortiClient's JWT of its tags
	NotifyEMSZTNATagsCheckSuccess  = 0xF1F1 // EMS_ZTNA_TAGS_CHECK_SUCCESS
	NotifyEMSZTNATagsCheckFailure  = 0x3F10 // the IKE_AUTH ZTNA TAGS check failure notification
	NotifyEMSSerialNumberCheckFail = 0x3F11 // ems-sn-check refused the client's EMS
)

var notifyNames = map[uint16]string{
	NotifyUnsupportedCritical: "UNSUPPORTED_CRITICAL_PAYLOAD", NotifyInvalidIKESPI: "INVALID_IKE_SPI",
	NotifyInvalidSyntax: "INVALID_SYNTAX", NotifyInvalidMessageID: "INVALID_MESSAGE_ID",
	NotifyInvalidSPI: "INVALID_SPI", NotifyNoProposalChosen: "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload: "INVALID_KE_PAYLOAD", NotifyAuthenticationFailed: "AUTHENTICATION_FAILED",
	NotifySinglePairRequired: "SINGLE_PAIR_REQUIRED", NotifyNoAdditionalSAS: "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFail: "INTERNAL_ADDRESS_FAILURE", NotifyFailedCPRequired: "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable: "TS_UNACCEPTABLE", NotifyInvalidSelectors: "INVALID_SELECTORS",
	NotifyTemporaryFailure: "TEMPORARY_FAILURE", NotifyChildSANotFound: "CHILD_SA_NOT_FOUND",
	NotifyInitialContact: "INITIAL_CONTACT", NotifyFortiClientConnect: "FORTICLIENT_CONNECT",
	NotifyZTNATag: "ZTNA_TAG", NotifyEMSZTNATagsCheckSuccess: "EMS_ZTNA_TAGS_CHECK_SUCCESS",
	NotifyEMSZTNATagsCheckFailure: "EMS_ZTNA_TAGS_CHECK_FAILURE", NotifyEMSSerialNumberCheckFail: "EMS_SN_CHECK_FAILURE",
}

// NotifyName is the RFC 7296 name of a notify type, or its number.
func NotifyName(t uint16) string {
	if n, ok := notifyNames[t]; ok {
		return n
	}
	return fmt.Sprintf("notify %d", t)
}

// Notify is a notify payload.
type Notify struct {
	Protocol uint8
	SPI      []byte
	Type     uint16
	Data     []byte
}

func decodeNotify(d []byte) (*Notify, error) {
	if len(d) < 4 {
		return nil, ErrShort
	}
	n := &Notify{Protocol: d[0], Type: binary.BigEndian.Uint16(d[2:4])}
	spi := int(d[1])
	if 4+spi > len(d) {
		return nil, ErrLength
	}
	n.SPI = clone(d[4 : 4+spi])
	n.Data = clone(d[4+spi:])
	return n, nil
}

func (n *Notify) encode(b []byte) []byte {
	b = append(b, n.Protocol, byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, n.Type)
	b = append(b, n.SPI...)
	return append(b, n.Data...)
}

// IsError tells an error notify (types below 16384).
func (n *Notify) IsError() bool { return n.Type < 16384 }

// FirstError is the first error notify among payloads, or nil.
func FirstError(payloads []Payload) *Notify {
	for _, n := range Notifies(payloads) {
		if n.IsError() {
			return n
		}
	}
	return nil
}

// Delete is a delete payload.
type Delete struct {
	Protocol uint8
	SPISize  uint8
	SPIs     [][]byte
}

func decodeDelete(d []byte) (*Delete, error) {
	if len(d) < 4 {
		return nil, ErrShort
	}
	del := &Delete{Protocol: d[0], SPISize: d[1]}
	n := int(binary.BigEndian.Uint16(d[2:4]))
	d = d[4:]
	size := int(del.SPISize)
	if size*n > len(d) {
		return nil, ErrLength
	}
	for i := 0; i < n && size > 0; i++ {
		del.SPIs = append(del.SPIs, clone(d[:size]))
		d = d[size:]
	}
	return del, nil
}

func (del *Delete) encode(b []byte) []byte {
	b = append(b, del.Protocol, del.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(del.SPIs)))
	for _, s := range del.SPIs {
		b = append(b, s...)
	}
	return b
}

// Traffic selector types.
const (
	TSIPv4Range = 7
	TSIPv6Range = 8
)

// Selector is one traffic selector.
type Selector struct {
	Type               uint8
	IPProtocol         uint8
	StartPort, EndPort uint16
	Start, End         netip.Addr
}

// TS is a traffic selector payload (TSi or TSr).
type TS struct{ Selectors []Selector }

func decodeTS(d []byte) (*TS, error) {
	if len(d) < 4 {
		return nil, ErrShort
	}
	n := int(d[0])
	d = d[4:]
	ts := &TS{}
	for i := 0; i < n; i++ {
		if len(d) < 8 {
			return nil, ErrShort
		}
		l := int(binary.BigEndian.Uint16(d[2:4]))
		if l > len(d) {
			return nil, ErrLength
		}
		s := Selector{Type: d[0], IPProtocol: d[1], StartPort: binary.BigEndian.Uint16(d[4:6]), EndPort: binary.BigEndian.Uint16(d[6:8])}
		switch {
		case s.Type == TSIPv4Range && l == 16:
			s.Start, _ = netip.AddrFromSlice(d[8:12])
			s.End, _ = netip.AddrFromSlice(d[12:16])
		case s.Type == TSIPv6Range && l == 40:
			s.Start, _ = netip.AddrFromSlice(d[8:24])
			s.End, _ = netip.AddrFromSlice(d[24:40])
		default:
			if l < 8 {
				return nil, ErrLength
			}
			d = d[l:]
			continue // an unknown selector type is skipped
		}
		ts.Selectors = append(ts.Selectors, s)
		d = d[l:]
	}
	return ts, nil
}

func (ts *TS) encode(b []byte) []byte {
	b = append(b, byte(len(ts.Selectors)), 0, 0, 0)
	for _, s := range ts.Selectors {
		start := len(b)
		b = append(b, s.Type, s.IPProtocol, 0, 0)
		b = binary.BigEndian.AppendUint16(b, s.StartPort)
		b = binary.BigEndian.AppendUint16(b, s.EndPort)
		b = append(b, s.Start.AsSlice()...)
		b = append(b, s.End.AsSlice()...)
		binary.BigEndian.PutUint16(b[start+2:start+4], uint16(len(b)-start))
	}
	return b
}

// Configuration payload types and attributes (RFC 7296 §3.15).
const (
	CFGRequest = 1
	CFGReply   = 2
	CFGSet     = 3
	CFGAck     = 4

	CPInternalIP4Address = 1
	CPInternalIP4Netmask = 2
	CPInternalIP4DNS     = 3
	CPInternalIP4NBNS    = 4
	CPInternalIP4DHCP    = 6
	CPApplicationVersion = 7
	CPInternalIP6Address = 8
	CPInternalIP6DNS     = 10
	CPInternalIP4Subnet  = 13
	CPSupportedAttrs     = 14
	CPInternalIP6Subnet  = 15
)

// CPAttr is one configuration attribute.
type CPAttr struct {
	Type  uint16
	Value []byte
}

// CP is a configuration payload.
type CP struct {
	Type  uint8
	Attrs []CPAttr
}

func decodeCP(d []byte) (*CP, error) {
	if len(d) < 4 {
		return nil, ErrShort
	}
	cp := &CP{Type: d[0]}
	d = d[4:]
	for len(d) >= 4 {
		t := binary.BigEndian.Uint16(d[0:2]) & 0x7fff
		l := int(binary.BigEndian.Uint16(d[2:4]))
		if 4+l > len(d) {
			return nil, ErrLength
		}
		cp.Attrs = append(cp.Attrs, CPAttr{Type: t, Value: clone(d[4 : 4+l])})
		d = d[4+l:]
	}
	if len(d) != 0 {
		return nil, ErrLength
	}
	return cp, nil
}

func (cp *CP) encode(b []byte) []byte {
	b = append(b, cp.Type, 0, 0, 0)
	for _, a := range cp.Attrs {
		b = binary.BigEndian.AppendUint16(b, a.Type&0x7fff)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}
