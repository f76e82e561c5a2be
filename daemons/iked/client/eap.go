package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fosim/fosim/daemons/iked/eap"
	"github.com/fosim/fosim/daemons/iked/ike"
)

// ErrEAPFailure is the gateway's EAP Failure: a wrong user or password.
var ErrEAPFailure = errors.New("ike: EAP authentication failed")

// runEAP answers the gateway's EAP requests (the first comes in in) until
// EAP Success, as the peer (RFC 3748), and returns the MSK (nil for MD5).
func (t *Tunnel) runEAP(ctx context.Context, in []ike.Payload) ([]byte, error) {
	method := t.cfg.EAPMethod
	if method == 0 {
		method = eap.MSCHAPv2
	}
	var msk, pwHash, nt, chHash []byte
	swapped := false
	for {
		ep := ike.Get[*ike.EAP](in, ike.PayloadEAP)
		if ep == nil {
			return nil, errors.New("ike: IKE_AUTH response without EAP")
		}
		req, err := eap.Parse(ep.Data)
		if err != nil {
			return nil, err
		}
		switch req.Code {
		case eap.Success:
			return msk, nil
		case eap.Failure:
			return nil, ErrEAPFailure
		case eap.Request:
		default:
			return nil, fmt.Errorf("ike: unexpected EAP code %d", req.Code)
		}
		resp := eap.Packet{Code: eap.Response, ID: req.ID, Type: req.Type}
		switch {
		case swapped && req.Type == eap.MSCHAPv2 && len(req.Data) >= 1 && req.Data[0] == 1:
			// the attack's second half: a challenge answered as a success
			resp.Data = []byte{3}
		case req.Type == eap.Identity:
			resp.Data = []byte(t.cfg.EAPIdentity)
		case req.Type != method && (req.Type == eap.MD5 || req.Type == eap.MSCHAPv2) && (msk == nil && pwHash == nil):
			resp.Type, resp.Data = eap.Nak, []byte{method}
		case req.Type == eap.MD5:
			if len(req.Data) < 1+16 || int(req.Data[0]) > len(req.Data)-1 {
				return nil, errors.New("ike: short EAP-MD5 challenge")
			}
			challenge := req.Data[1 : 1+int(req.Data[0])]
			resp.Data = append([]byte{16}, eap.MD5Response(req.ID, t.cfg.EAPPassword, challenge)...)
		case req.Type == eap.MSCHAPv2 && len(req.Data) >= 5 && req.Data[0] == 1: // Challenge
			if len(req.Data) < 5+16 || req.Data[4] != 16 {
				return nil, errors.New("ike: short MS-CHAPv2 challenge")
			}
			authCh := req.Data[5:21]
			peerCh := make([]byte, 16)
			rand.Read(peerCh)
			pwHash = eap.NTPasswordHash(t.cfg.EAPPassword)
			chHash = eap.ChallengeHash(peerCh, authCh, t.cfg.EAPIdentity)
			nt = eap.NTResponse(chHash, pwHash)
			// opcode, MS-CHAPv2 ID, length, value size 49, peer challenge,
			// 8 reserved, NT-Response, flags, name (RFC 2759 §4)
			data := []byte{2, req.Data[1], 0, 0, 49}
			data = append(data, peerCh...)
			data = append(data, make([]byte, 8)...)
			data = append(data, nt...)
			data = append(data, 0)
			data = append(data, t.cfg.EAPIdentity...)
			binary.BigEndian.PutUint16(data[2:4], uint16(len(data)))
			resp.Data = data
		case req.Type == eap.MSCHAPv2 && len(req.Data) >= 4 && req.Data[0] == 3: // Success
			if nt == nil {
				return nil, errors.New("ike: MS-CHAPv2 success before a challenge")
			}
			want := eap.AuthenticatorResponse(pwHash, nt, chHash)
			if len(req.Data) < 4+len(want) || string(req.Data[4:4+len(want)]) != want {
				return nil, errors.New("ike: the gateway's MS-CHAPv2 authenticator response does not verify")
			}
			msk = eap.MSCHAPv2MSK(pwHash, nt)
			resp.Data = []byte{3}
			if name := t.cfg.IdentityAfterSuccess; name != "" && !swapped {
				resp.Type, resp.Data, swapped = eap.Identity, []byte(name), true
			}
		case req.Type == eap.MSCHAPv2 && len(req.Data) >= 1 && req.Data[0] == 4: // Failure
			return nil, ErrEAPFailure
		default:
			return nil, fmt.Errorf("ike: unsupported EAP request type %d", req.Type)
		}
		var err2 error
		in, err2 = t.call(ctx, ike.IKE_AUTH, []ike.Payload{{Type: ike.PayloadEAP, Body: &ike.EAP{Data: resp.Encode()}}})
		if err2 != nil {
			return nil, err2
		}
	}
}
