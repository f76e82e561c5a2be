package client

import (
	"context"
	"fmt"
	"time"

	"github.com/fosim/fosim/daemons/iked/ike"
)

// Request is a request the gateway sent on the tunnel.
type Request struct {
	Exchange uint8
	Payloads []ike.Payload
}

// AnswerRequest waits for the gateway's next request (a DPD probe, a
// delete: INFORMATIONAL), answers it with an empty response and returns
// it. Other exchanges (the gateway's rekeys) are returned unanswered with
// an error: this client does not take them.
func (t *Tunnel) AnswerRequest(ctx context.Context) (Request, error) {
	deadline := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	for {
		b, err := t.conn.receive(deadline)
		if err != nil {
			return Request{}, err
		}
		h, err := ike.DecodeHeader(b)
		if err != nil || h.IsResponse() || h.SPIi != t.spiI || h.SPIr != t.spiR {
			continue
		}
		ps, err := t.open(b)
		if err != nil {
			return Request{}, err
		}
		req := Request{Exchange: h.ExchangeType, Payloads: ps}
		if h.ExchangeType != ike.INFORMATIONAL {
			return req, fmt.Errorf("ike: the gateway's exchange %d is not answered by this client", h.ExchangeType)
		}
		resp := t.keys.Protect(ike.Header{SPIi: t.spiI, SPIr: t.spiR, ExchangeType: h.ExchangeType, Flags: ike.FlagInitiator | ike.FlagResponse, MessageID: h.MessageID}, nil, true)
		return req, t.conn.sendIKE(resp)
	}
}
