package iked

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/debuglog"
	"github.com/fosim/fosim/daemons/iked/ike"
)

// fuzzDaemon is iked with a dial-up phase1, not listening: packets are fed
// to handle directly.
func fuzzDaemon(t testing.TB) (*Daemon, *net.UDPConn) {
	st := cmdbtest.Store(t)
	// A factory store has port1; a dial-up phase1 with its phase2.
	cmdbtest.Apply(t, st, `config vpn ipsec phase1-interface
edit dialup
set type dynamic
set interface port1
set ike-version 2
set proposal aes128-sha256 aes128gcm-prfsha256
set dhgrp 19 14
set psksecret s3cret
next
end
config vpn ipsec phase2-interface
edit p2
set phase1name dialup
set pfs disable
next
end
`)
	c := clock.New(time.UTC)
	d := New(Options{})
	d.rt = &daemons.Runtime{Store: st, Clock: c, Debug: debuglog.New(c.Now)}
	d.log = d.rt.Debug.Logger("ike")
	var err error
	if d.cfg, err = loadConfig(st); err != nil {
		t.Fatal(err)
	}
	// a socket to answer on, nobody reads it
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close(); d.Stop(context.Background()) })
	return d, sock
}

func validInit() []byte {
	m := &ike.Message{Header: ike.Header{SPIi: 0x1122334455667788, ExchangeType: ike.IKE_SA_INIT, Flags: ike.FlagInitiator},
		Payloads: []ike.Payload{
			{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: 1, Protocol: ike.ProtoIKE, Transforms: []ike.Transform{
				{Type: ike.TransformENCR, ID: 12, KeyLen: 128}, {Type: ike.TransformPRF, ID: 5}, {Type: ike.TransformINTEG, ID: 12}, {Type: ike.TransformDH, ID: 19}}}}}},
			{Type: ike.PayloadKE, Body: &ike.KE{Group: 19, Data: make([]byte, 64)}},
			{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: make([]byte, 32)}},
		}}
	return m.Encode()
}

// FuzzResponder feeds arbitrary packets to iked: it must never panic, and
// no packet may leave more than one half-open SA behind.
func FuzzResponder(f *testing.F) {
	f.Add(validInit())
	f.Add([]byte{})
	f.Add(make([]byte, ike.HeaderLen))
	d, sock := fuzzDaemon(f)
	local := netip.MustParseAddrPort("127.0.0.1:500")
	peer := netip.MustParseAddrPort("127.0.0.2:500")
	f.Fuzz(func(t *testing.T, b []byte) {
		before := len(d.sas)
		d.handle(path{udp: sock}, nil, local, peer, b)
		if len(d.sas) > before+1 {
			t.Fatalf("one packet made %d SAs", len(d.sas)-before)
		}
		if len(d.sas) > 1000 {
			d.Flush("")
			d.mu.Lock()
			d.sas, d.halfOpen = map[uint64]*ikeSA{}, map[halfKey]*ikeSA{}
			d.mu.Unlock()
		}
	})
}

func TestTruncatedPacketsLeaveNoState(t *testing.T) {
	d, sock := fuzzDaemon(t)
	local := netip.MustParseAddrPort("127.0.0.1:500")
	peer := netip.MustParseAddrPort("127.0.0.2:500")
	b := validInit()
	for i := 0; i < len(b); i++ {
		d.handle(path{udp: sock}, nil, local, peer, b[:i])
	}
	if len(d.sas) != 0 {
		t.Fatalf("truncated packets left %d SAs", len(d.sas))
	}
	// the whole packet (with a KE that is not a curve point) is refused too
	d.handle(path{udp: sock}, nil, local, peer, b)
	if len(d.sas) != 0 {
		t.Fatalf("an invalid KE left %d SAs", len(d.sas))
	}
}
