// Package client is fosim's own IKEv2 initiator: it dials a gateway with a
// pre-shared key, asks for a mode-cfg address, creates one child SA and can
// delete it again. "fosim client" and the tests and benchmarks use it.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/fosim/fosim/daemons/iked/fctdata"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// Config describes the tunnel to dial.
type Config struct {
	Server  netip.AddrPort
	PSK     []byte
	ID      string // an IPv4 address or a FQDN; the local address when empty
	IKE     suite.Suite
	ESP     suite.Suite
	ModeCfg bool
	// EAPIdentity, when set, authenticates the user by EAP after the
	// gateway's PSK AUTH (FortiClient's PSK + EAP), with EAPPassword and
	// EAPMethod (eap.MSCHAPv2 unless eap.MD5; the gateway is told by Nak).
	EAPIdentity string
	EAPPassword []byte
	EAPMethod   byte
	// IdentityAfterSuccess, when set, answers the gateway's MS-CHAPv2
	// success with an EAP Identity of this name instead of the
	// acknowledgement, then acknowledges the next request: a peer trying
	// to take another user's name with its own keys (for tests and labs
	// of the gateway's refusal).
	IdentityAfterSuccess string
	// FCT, when set, is sent as FortiClient's FORTICLIENT_CONNECT notify
	// in the first IKE_AUTH request (its UID, IP, MACs, EMS serial …), and
	// ZTNAToken, when set, as the ZTNA_TAG notify (the JWT of its tags
	// from its EMS) in the request that completes authentication.
	FCT       *fctdata.Data
	ZTNAToken string
	// FCTRaw, when set, is sent as the FORTICLIENT_CONNECT data instead
	// of FCT, as is: malformed data, for tests and labs of the gateway's
	// refusal.
	FCTRaw []byte
	// Local is the address to send from (default: any).
	Local netip.AddrPort
	// Transport is TransportUDP (the default) or TransportTCP (RFC 9329,
	// Server then being the gateway's ike-tcp-port).
	Transport string
	// Timeout per exchange (default 2s, with retransmissions).
	Timeout time.Duration
}

// Tunnel is an established IKE SA with its child SA.
type Tunnel struct {
	cfg        Config
	conn       carrier
	spiI, spiR uint64
	keys       *suite.Keys
	msgID      uint32
	// VirtualIP is the mode-cfg address the gateway assigned, with the
	// netmask, DNS servers and split-include subnets it sent along.
	VirtualIP netip.Addr
	Netmask   netip.Addr
	DNS       []netip.Addr
	Split     []netip.Prefix
	// SPIs of the child SA: In is ours (the gateway sends with it).
	SPIIn, SPIOut uint32
	// Responder is the gateway's ID.
	Responder string
	// ZTNATokenAccepted: the gateway answered EMS_ZTNA_TAGS_CHECK_SUCCESS
	// (it took the tags of the ZTNA token).
	ZTNATokenAccepted bool
	// espEnc and espInteg are the child SA's outbound keys, espSeq its
	// last sequence number sent
	espEnc, espInteg []byte
	espSeq           uint32
}

// ErrRejected wraps an error notify from the gateway.
type ErrRejected struct{ Notify uint16 }

func (e ErrRejected) Error() string { return "gateway refused: " + ike.NotifyName(e.Notify) }

// Dial runs IKE_SA_INIT and IKE_AUTH.
func Dial(ctx context.Context, cfg Config) (*Tunnel, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	conn, err := dialCarrier(cfg)
	if err != nil {
		return nil, err
	}
	t := &Tunnel{cfg: cfg, conn: conn, spiI: ike.NewIKESPI()}
	if err := t.handshake(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return t, nil
}

// exchange sends a request and waits for the response with the same
// message ID, retransmitting on timeout.
func (t *Tunnel) exchange(ctx context.Context, req []byte, msgID uint32) ([]byte, error) {
	for try := 0; try < 3; try++ {
		if err := t.conn.sendIKE(req); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(t.cfg.Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		for {
			b, err := t.conn.receive(deadline)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break
				}
				return nil, err
			}
			h, err := ike.DecodeHeader(b)
			if err != nil || !h.IsResponse() || h.MessageID != msgID || h.SPIi != t.spiI {
				continue
			}
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, errors.New("ike: no response from the gateway")
}

func refused(ps []ike.Payload) error {
	if n := ike.FirstError(ps); n != nil {
		return ErrRejected{n.Type}
	}
	return nil
}

func (t *Tunnel) handshake(ctx context.Context) error {
	cfg := t.cfg
	dh, err := suite.NewDH(cfg.IKE.DHGroup)
	if err != nil {
		return err
	}
	ni := make([]byte, 32)
	rand.Read(ni)
	init := &ike.Message{Header: ike.Header{SPIi: t.spiI, ExchangeType: ike.IKE_SA_INIT, Flags: ike.FlagInitiator},
		Payloads: []ike.Payload{
			{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: 1, Protocol: ike.ProtoIKE, Transforms: cfg.IKE.Transforms(ike.ProtoIKE)}}}},
			{Type: ike.PayloadKE, Body: &ike.KE{Group: cfg.IKE.DHGroup, Data: dh.Public()}},
			{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: ni}},
			{Type: ike.PayloadNotify, Body: &ike.Notify{Type: ike.NotifyNATDetectionSourceIP, Data: ike.NATHash(t.spiI, 0, t.conn.local())}},
			{Type: ike.PayloadNotify, Body: &ike.Notify{Type: ike.NotifyNATDetectionDestIP, Data: ike.NATHash(t.spiI, 0, cfg.Server)}},
		}}
	initReq := init.Encode()
	initResp, err := t.exchange(ctx, initReq, 0)
	if err != nil {
		return err
	}
	m, err := ike.Decode(initResp)
	if err != nil {
		return err
	}
	// A gateway under load answers with a COOKIE: send it back first.
	if ns := ike.Notifies(m.Payloads); len(ns) > 0 && ns[0].Type == ike.NotifyCookie {
		init.Payloads = append([]ike.Payload{{Type: ike.PayloadNotify, Body: &ike.Notify{Type: ike.NotifyCookie, Data: ns[0].Data}}}, init.Payloads...)
		initReq = init.Encode()
		if initResp, err = t.exchange(ctx, initReq, 0); err != nil {
			return err
		}
		if m, err = ike.Decode(initResp); err != nil {
			return err
		}
	}
	if err := refused(m.Payloads); err != nil {
		return err
	}
	ke := ike.Get[*ike.KE](m.Payloads, ike.PayloadKE)
	nr := ike.Get[*ike.Nonce](m.Payloads, ike.PayloadNonce)
	if ke == nil || nr == nil {
		return errors.New("ike: IKE_SA_INIT response without KE or nonce")
	}
	shared, err := dh.Shared(ke.Data)
	if err != nil {
		return err
	}
	t.spiR = m.Header.SPIr
	t.keys = suite.DeriveIKE(cfg.IKE, shared, ni, nr.Data, t.spiI, t.spiR)

	return t.authenticate(ctx, initReq, initResp, ni, nr.Data)
}

// authenticate runs IKE_AUTH: with a PSK, one exchange; with EAP, the
// first request carries no AUTH, the gateway proves itself with the PSK
// and runs EAP, and a last exchange carries both AUTHs over the MSK.
func (t *Tunnel) authenticate(ctx context.Context, initReq, initResp, ni, nr []byte) error {
	cfg := t.cfg
	id := t.localID()
	payloads := []ike.Payload{{Type: ike.PayloadIDi, Body: id}}
	if cfg.EAPIdentity == "" {
		payloads = append(payloads, ike.Payload{Type: ike.PayloadAUTH, Body: &ike.Auth{Method: ike.AuthPSK, Data: t.keys.PSKAuth(cfg.PSK, initReq, nr, suite.IDBody(id), true)}})
	}
	switch {
	case cfg.FCTRaw != nil:
		payloads = append(payloads, ike.Payload{Type: ike.PayloadNotify, Body: &ike.Notify{Type: ike.NotifyFortiClientConnect, Data: cfg.FCTRaw}})
	case cfg.FCT != nil:
		payloads = append(payloads, ike.Payload{Type: ike.PayloadNotify, Body: &ike.Notify{Type: ike.NotifyFortiClientConnect, Data: cfg.FCT.Encode()}})
	}
	if cfg.ZTNAToken != "" && cfg.EAPIdentity == "" {
		payloads = append(payloads, ztnaTag(cfg.ZTNAToken))
	}
	if cfg.ModeCfg {
		payloads = append(payloads, ike.Payload{Type: ike.PayloadCP, Body: &ike.CP{Type: ike.CFGRequest, Attrs: []ike.CPAttr{
			{Type: ike.CPInternalIP4Address}, {Type: ike.CPInternalIP4Netmask}, {Type: ike.CPInternalIP4DNS}, {Type: ike.CPInternalIP4Subnet}}}})
	}
	t.SPIIn = ike.NewESPSPI()
	payloads = append(payloads,
		ike.Payload{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: 1, Protocol: ike.ProtoESP, SPI: ike.ESPSPIBytes(t.SPIIn), Transforms: cfg.ESP.Transforms(ike.ProtoESP)}}}},
		ike.Payload{Type: ike.PayloadTSi, Body: &ike.TS{Selectors: []ike.Selector{any4}}},
		ike.Payload{Type: ike.PayloadTSr, Body: &ike.TS{Selectors: []ike.Selector{any4}}},
	)
	t.msgID = 1
	in, err := t.call(ctx, ike.IKE_AUTH, payloads)
	if err != nil {
		// A refused child SA in an answer that authenticated leaves the
		// IKE SA up on the gateway (RFC 7296 §1.2): delete it, as
		// FortiClient does, rather than leave an orphan behind.
		var rej ErrRejected
		if errors.As(err, &rej) && ike.Get[*ike.Auth](in, ike.PayloadAUTH) != nil {
			t.Delete(ctx)
		}
		return err
	}
	idr := ike.Get[*ike.ID](in, ike.PayloadIDr)
	ra := ike.Get[*ike.Auth](in, ike.PayloadAUTH)
	if idr == nil || ra == nil {
		return errors.New("ike: IKE_AUTH response without IDr or AUTH")
	}
	if want := t.keys.PSKAuth(cfg.PSK, initResp, ni, suite.IDBody(idr), false); !bytes.Equal(want, ra.Data) {
		return errors.New("ike: the gateway's AUTH does not verify")
	}
	t.Responder = idr.Value()
	if cfg.EAPIdentity != "" {
		msk, err := t.runEAP(ctx, in)
		if err != nil {
			return err
		}
		ki := msk
		if ki == nil { // a method without keys (RFC 7296 §2.16)
			ki = t.keys.SKpi
		}
		kr := msk
		if kr == nil {
			kr = t.keys.SKpr
		}
		final := []ike.Payload{{Type: ike.PayloadAUTH, Body: &ike.Auth{Method: ike.AuthPSK, Data: t.keys.PSKAuth(ki, initReq, nr, suite.IDBody(id), true)}}}
		if cfg.ZTNAToken != "" {
			final = append(final, ztnaTag(cfg.ZTNAToken))
		}
		in, err = t.call(ctx, ike.IKE_AUTH, final)
		if err != nil {
			return err
		}
		ra = ike.Get[*ike.Auth](in, ike.PayloadAUTH)
		if ra == nil || !bytes.Equal(ra.Data, t.keys.PSKAuth(kr, initResp, ni, suite.IDBody(idr), false)) {
			return errors.New("ike: the gateway's AUTH after EAP does not verify")
		}
	}
	for _, n := range ike.Notifies(in) {
		if n.Type == ike.NotifyEMSZTNATagsCheckSuccess {
			t.ZTNATokenAccepted = true
		}
	}
	if cp := ike.Get[*ike.CP](in, ike.PayloadCP); cp != nil {
		for _, a := range cp.Attrs {
			switch {
			case a.Type == ike.CPInternalIP4Address && len(a.Value) == 4:
				t.VirtualIP = netip.AddrFrom4([4]byte(a.Value))
			case a.Type == ike.CPInternalIP4Netmask && len(a.Value) == 4:
				t.Netmask = netip.AddrFrom4([4]byte(a.Value))
			case a.Type == ike.CPInternalIP4DNS && len(a.Value) == 4:
				t.DNS = append(t.DNS, netip.AddrFrom4([4]byte(a.Value)))
			case a.Type == ike.CPInternalIP4Subnet && len(a.Value) == 8:
				mask := net.IPMask(a.Value[4:8])
				bits, _ := mask.Size()
				t.Split = append(t.Split, netip.PrefixFrom(netip.AddrFrom4([4]byte(a.Value[:4])), bits))
			}
		}
	}
	if sa := ike.Get[*ike.SA](in, ike.PayloadSA); sa != nil && len(sa.Proposals) == 1 && len(sa.Proposals[0].SPI) == 4 {
		t.SPIOut = binary.BigEndian.Uint32(sa.Proposals[0].SPI)
		// the initiator's keys carry its traffic (RFC 7296 §2.17)
		t.espEnc, t.espInteg, _, _ = t.keys.ChildKeys(cfg.ESP, nil, ni, nr)
	}
	return nil
}

// SendESP sends inner (an IPv4 packet, by its next header) through the
// child SA as ESP: in the TCP stream, or on UDP to a NAT-T port.
func (t *Tunnel) SendESP(inner []byte) error {
	if t.SPIOut == 0 {
		return errors.New("ike: no child SA")
	}
	t.espSeq++
	pkt, err := t.cfg.ESP.SealESP(t.espEnc, t.espInteg, t.SPIOut, t.espSeq, inner, 4)
	if err != nil {
		return err
	}
	return t.conn.sendESP(pkt)
}

func ztnaTag(token string) ike.Payload {
	return ike.Payload{Type: ike.PayloadNotify, Body: &ike.Notify{Type: ike.NotifyZTNATag, Data: []byte(token)}}
}

var any4 = ike.Selector{Type: ike.TSIPv4Range, EndPort: 65535, Start: netip.IPv4Unspecified(), End: netip.MustParseAddr("255.255.255.255")}

// call sends a protected request with the next message ID and returns the
// response's payloads, or the gateway's error notify as ErrRejected.
func (t *Tunnel) call(ctx context.Context, exchange uint8, payloads []ike.Payload) ([]ike.Payload, error) {
	id := t.msgID
	resp, err := t.exchange(ctx, t.request(exchange, id, payloads), id)
	if err != nil {
		return nil, err
	}
	t.msgID++
	in, err := t.open(resp)
	if err != nil {
		return nil, err
	}
	return in, refused(in)
}

func (t *Tunnel) localID() *ike.ID {
	id := t.cfg.ID
	if id == "" {
		id = t.conn.local().Addr().String()
	}
	if a, err := netip.ParseAddr(id); err == nil && a.Is4() {
		return &ike.ID{Type: ike.IDIPv4, Data: a.AsSlice()}
	}
	return &ike.ID{Type: ike.IDFQDN, Data: []byte(id)}
}

// request builds a protected request of the initiator.
func (t *Tunnel) request(exchange uint8, msgID uint32, payloads []ike.Payload) []byte {
	return t.keys.Protect(ike.Header{SPIi: t.spiI, SPIr: t.spiR, ExchangeType: exchange, Flags: ike.FlagInitiator, MessageID: msgID}, payloads, true)
}

func (t *Tunnel) open(msg []byte) ([]ike.Payload, error) {
	off, inner, err := ike.FindSK(msg)
	if err != nil {
		// an unprotected error notify
		if m, derr := ike.Decode(msg); derr == nil {
			if rerr := refused(m.Payloads); rerr != nil {
				return nil, rerr
			}
		}
		return nil, err
	}
	plain, err := t.keys.Open(msg, off, false)
	if err != nil {
		return nil, err
	}
	return ike.DecodePayloads(inner, plain)
}

// Delete sends an INFORMATIONAL delete of the IKE SA and closes.
func (t *Tunnel) Delete(ctx context.Context) error {
	defer t.conn.Close()
	req := t.request(ike.INFORMATIONAL, t.msgID, []ike.Payload{{Type: ike.PayloadDelete, Body: &ike.Delete{Protocol: ike.ProtoIKE}}})
	_, err := t.exchange(ctx, req, t.msgID)
	return err
}

// DPD sends an empty INFORMATIONAL (a liveness check) and waits for the
// answer.
func (t *Tunnel) DPD(ctx context.Context) error {
	req := t.request(ike.INFORMATIONAL, t.msgID, nil)
	_, err := t.exchange(ctx, req, t.msgID)
	t.msgID++
	return err
}

// SendZTNAToken sends a renewed ZTNA token (the ZTNA_TAG notify in an
// INFORMATIONAL), as FortiClient does when its tags change or its token
// is renewed, and tells whether the gateway answered
// EMS_ZTNA_TAGS_CHECK_SUCCESS.
func (t *Tunnel) SendZTNAToken(ctx context.Context, token string) (bool, error) {
	in, err := t.call(ctx, ike.INFORMATIONAL, []ike.Payload{ztnaTag(token)})
	if err != nil {
		return false, err
	}
	for _, n := range ike.Notifies(in) {
		if n.Type == ike.NotifyEMSZTNATagsCheckSuccess {
			return true, nil
		}
	}
	return false, nil
}

// Close drops the tunnel without telling the gateway.
func (t *Tunnel) Close() error { return t.conn.Close() }
