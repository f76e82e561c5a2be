package iked

import (
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/iked/ike"
)

// iked's own requests on an IKE SA (rekeys, deletes, DPD probes). IKEv2
// allows one outstanding request per direction by default (RFC 7296 §2.3,
// window size 1), so a second request waits in the SA's queue until the
// first is answered or given up. Retransmits run on the appliance clock.

// retransmits is the default schedule: the waits after each transmission
// before the next one; after the last wait the request is given up.
var retransmits = []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// outstanding is a request of ours waiting for its response.
type outstanding struct {
	msgID    uint32
	msg      []byte // as sent, for retransmits
	sent     int
	schedule []time.Duration
	timer    *clock.Timer
	// onReply handles the decrypted response; onGiveUp runs when the
	// schedule is over without one. Both run under d.mu.
	onReply  func(in []ike.Payload)
	onGiveUp func()
	// onSend runs on each transmission (DPD counts its probes)
	onSend func()
}

// queuedRequest is a request waiting for the window.
type queuedRequest struct {
	exchange uint8
	payloads func() []ike.Payload // built when sent: nonces and SPIs stay fresh
	req      outstanding
}

// startRequest sends a request of ours, or queues it behind the one in
// flight. Called under d.mu.
func (d *Daemon) startRequest(sa *ikeSA, exchange uint8, payloads func() []ike.Payload, req outstanding) {
	if req.schedule == nil {
		req.schedule = retransmits
	}
	if sa.pending != nil {
		sa.queue = append(sa.queue, queuedRequest{exchange, payloads, req})
		return
	}
	p := req
	p.msgID = sa.ourMsgID
	p.msg = d.request(sa, exchange, payloads())
	sa.pending = &p
	d.transmit(sa, &p)
}

// transmit sends (or resends) the pending request and arms the next wait.
func (d *Daemon) transmit(sa *ikeSA, p *outstanding) {
	d.send(sa.path, sa.peer, p.msg)
	if p.onSend != nil {
		p.onSend()
	}
	wait := p.schedule[p.sent]
	p.sent++
	p.timer = d.rt.Clock.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.unlock()
		if sa.pending != p || sa.state == stateDeleted {
			return
		}
		if p.sent < len(p.schedule) {
			d.transmit(sa, p)
			return
		}
		sa.pending = nil
		if p.onGiveUp != nil {
			p.onGiveUp()
		}
		d.nextRequest(sa)
	})
}

// handleResponse takes the answer to our pending request.
func (d *Daemon) handleResponse(sa *ikeSA, hdr ike.Header, msg []byte) {
	p := sa.pending
	if p == nil || hdr.MessageID != p.msgID {
		d.stats.Dropped++
		return
	}
	payloads, ok := d.open(sa, msg)
	if !ok {
		return
	}
	p.timer.Stop()
	sa.pending = nil
	sa.lastRecv = d.now()
	sa.dpdMissed = 0
	if p.onReply != nil {
		p.onReply(payloads)
	}
	d.nextRequest(sa)
}

// nextRequest sends the first queued request, if the SA is still there.
func (d *Daemon) nextRequest(sa *ikeSA) {
	if sa.pending != nil || len(sa.queue) == 0 || sa.state == stateDeleted {
		return
	}
	q := sa.queue[0]
	sa.queue = sa.queue[1:]
	d.startRequest(sa, q.exchange, q.payloads, q.req)
}
