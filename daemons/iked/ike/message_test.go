package ike

import (
	"net/netip"
	"reflect"
	"testing"
)

func sampleInit() *Message {
	return &Message{
		Header: Header{SPIi: 0x99fc5cb379810d8d, ExchangeType: IKE_SA_INIT, Flags: FlagInitiator},
		Payloads: []Payload{
			{Type: PayloadSA, Body: &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
				{Type: TransformENCR, ID: 12, KeyLen: 128}, {Type: TransformPRF, ID: 5}, {Type: TransformINTEG, ID: 12}, {Type: TransformDH, ID: 19},
			}}}}},
			{Type: PayloadKE, Body: &KE{Group: 19, Data: make([]byte, 64)}},
			{Type: PayloadNonce, Body: &Nonce{Data: []byte("0123456789abcdef0123456789abcdef")}},
			{Type: PayloadNotify, Body: &Notify{Type: NotifyNATDetectionSourceIP, Data: make([]byte, 20)}},
			{Type: PayloadTSi, Body: &TS{Selectors: []Selector{{Type: TSIPv4Range, StartPort: 0, EndPort: 65535,
				Start: netip.MustParseAddr("10.0.0.0"), End: netip.MustParseAddr("10.0.0.255")}}}},
			{Type: PayloadCP, Body: &CP{Type: CFGRequest, Attrs: []CPAttr{{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS}}}},
			{Type: PayloadDelete, Body: &Delete{Protocol: ProtoESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}}}},
			{Type: PayloadIDi, Body: &ID{Type: IDIPv4, Data: []byte{172, 16, 200, 242}}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	m := sampleInit()
	b := m.Encode()
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Version, m.Header.Length, m.Header.NextPayload = 0x20, uint32(len(b)), PayloadSA
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n%#v\n%#v", got, m)
	}
	if id := Get[*ID](got.Payloads, PayloadIDi); id.String() != "IPV4_ADDR 172.16.200.242" {
		t.Fatalf("ID %s", id)
	}
}

func TestTruncatedNeverPanics(t *testing.T) {
	b := sampleInit().Encode()
	for i := range b {
		Decode(b[:i])
	}
}

// FuzzDecode: any input decodes or fails cleanly, and what decodes encodes
// back to a message that decodes to the same thing.
func FuzzDecode(f *testing.F) {
	f.Add(sampleInit().Encode())
	f.Add([]byte{})
	f.Add(make([]byte, HeaderLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(m.Encode())
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		again.Header.Length, m.Header.Length = 0, 0
		again.Header.NextPayload, m.Header.NextPayload = 0, 0
		if !reflect.DeepEqual(normalize(again), normalize(m)) {
			t.Fatalf("round trip differs:\n%#v\n%#v", m, again)
		}
	})
}

// normalize drops what encoding legitimately changes: the trailing payload
// chain after an SK payload, nil vs empty slices.
func normalize(m *Message) *Message {
	for _, p := range m.Payloads {
		switch b := p.Body.(type) {
		case *SA:
			for i := range b.Proposals {
				if len(b.Proposals[i].SPI) == 0 {
					b.Proposals[i].SPI = nil
				}
			}
		case *Notify:
			if len(b.SPI) == 0 {
				b.SPI = nil
			}
			if len(b.Data) == 0 {
				b.Data = nil
			}
		}
	}
	return m
}
