package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"

	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// RekeyIKE replaces the IKE SA by CREATE_CHILD_SA (RFC 7296 §1.3.2) with
// the dialled proposal and a fresh Diffie-Hellman, deletes the old SA and
// carries on over the new one; the child SA stays.
func (t *Tunnel) RekeyIKE(ctx context.Context) error {
	s := t.cfg.IKE
	dh, err := suite.NewDH(s.DHGroup)
	if err != nil {
		return err
	}
	ni := make([]byte, 32)
	rand.Read(ni)
	newSPI := ike.NewIKESPI()
	in, err := t.call(ctx, ike.CREATE_CHILD_SA, []ike.Payload{
		{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: 1, Protocol: ike.ProtoIKE, SPI: binary.BigEndian.AppendUint64(nil, newSPI), Transforms: s.Transforms(ike.ProtoIKE)}}}},
		{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: ni}},
		{Type: ike.PayloadKE, Body: &ike.KE{Group: s.DHGroup, Data: dh.Public()}},
	})
	if err != nil {
		return err
	}
	sa := ike.Get[*ike.SA](in, ike.PayloadSA)
	nr := ike.Get[*ike.Nonce](in, ike.PayloadNonce)
	ke := ike.Get[*ike.KE](in, ike.PayloadKE)
	if sa == nil || nr == nil || ke == nil || len(sa.Proposals) != 1 || len(sa.Proposals[0].SPI) != 8 {
		return errors.New("ike: malformed IKE SA rekey response")
	}
	shared, err := dh.Shared(ke.Data)
	if err != nil {
		return err
	}
	newR := binary.BigEndian.Uint64(sa.Proposals[0].SPI)
	keys := suite.DeriveRekeyedIKE(t.keys, s, shared, ni, nr.Data, newSPI, newR)
	// the rekey's initiator deletes the old SA, over the old SA
	if _, err := t.call(ctx, ike.INFORMATIONAL, []ike.Payload{{Type: ike.PayloadDelete, Body: &ike.Delete{Protocol: ike.ProtoIKE}}}); err != nil {
		return err
	}
	t.spiI, t.spiR, t.keys, t.msgID = newSPI, newR, keys, 0
	return nil
}

// RekeyChild replaces the child SA (RFC 7296 §1.3.3): CREATE_CHILD_SA with
// REKEY_SA (and a key exchange when the ESP suite has a group, for PFS),
// then a delete of the old one.
func (t *Tunnel) RekeyChild(ctx context.Context) error {
	s := t.cfg.ESP
	ni := make([]byte, 32)
	rand.Read(ni)
	newIn := ike.NewESPSPI()
	payloads := []ike.Payload{
		{Type: ike.PayloadNotify, Body: &ike.Notify{Protocol: ike.ProtoESP, SPI: ike.ESPSPIBytes(t.SPIIn), Type: ike.NotifyRekeySA}},
		{Type: ike.PayloadSA, Body: &ike.SA{Proposals: []ike.Proposal{{Number: 1, Protocol: ike.ProtoESP, SPI: ike.ESPSPIBytes(newIn), Transforms: s.Transforms(ike.ProtoESP)}}}},
		{Type: ike.PayloadNonce, Body: &ike.Nonce{Data: ni}},
	}
	var dh suite.DH
	if s.DHGroup != 0 {
		var err error
		if dh, err = suite.NewDH(s.DHGroup); err != nil {
			return err
		}
		payloads = append(payloads, ike.Payload{Type: ike.PayloadKE, Body: &ike.KE{Group: s.DHGroup, Data: dh.Public()}})
	}
	payloads = append(payloads,
		ike.Payload{Type: ike.PayloadTSi, Body: &ike.TS{Selectors: []ike.Selector{any4}}},
		ike.Payload{Type: ike.PayloadTSr, Body: &ike.TS{Selectors: []ike.Selector{any4}}})
	in, err := t.call(ctx, ike.CREATE_CHILD_SA, payloads)
	if err != nil {
		return err
	}
	sa := ike.Get[*ike.SA](in, ike.PayloadSA)
	if sa == nil || len(sa.Proposals) != 1 || len(sa.Proposals[0].SPI) != 4 {
		return errors.New("ike: malformed child SA rekey response")
	}
	nr := ike.Get[*ike.Nonce](in, ike.PayloadNonce)
	if nr == nil {
		return errors.New("ike: child SA rekey response without a nonce")
	}
	var shared []byte
	if dh != nil {
		ke := ike.Get[*ike.KE](in, ike.PayloadKE)
		if ke == nil {
			return errors.New("ike: child SA rekey response without KE")
		}
		if shared, err = dh.Shared(ke.Data); err != nil {
			return err
		}
	}
	old := t.SPIIn
	t.SPIIn, t.SPIOut = newIn, binary.BigEndian.Uint32(sa.Proposals[0].SPI)
	t.espEnc, t.espInteg, _, _ = t.keys.ChildKeys(s, shared, ni, nr.Data)
	t.espSeq = 0
	_, err = t.call(ctx, ike.INFORMATIONAL, []ike.Payload{{Type: ike.PayloadDelete, Body: &ike.Delete{Protocol: ike.ProtoESP, SPISize: 4, SPIs: [][]byte{ike.ESPSPIBytes(old)}}}})
	return err
}
