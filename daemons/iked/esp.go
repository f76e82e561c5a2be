package iked

import (
	"encoding/binary"

	"github.com/fosim/fosim/daemons/iked/ike"
)

// ESP from peers (UDP-encapsulated on the NAT-T port, RFC 3948) is
// verified and decrypted with the child SA's inbound keys and counted, for
// "diagnose vpn tunnel list" and the tunnel summary, and it shows the peer
// alive to DPD. iked forwards and answers nothing: there is no data plane.

// newESPSPI is an inbound SPI no child SA of iked holds.
func (d *Daemon) newESPSPI() uint32 {
	for {
		if v := ike.NewESPSPI(); d.esp[v] == nil {
			return v
		}
	}
}

// forgetChild drops a child SA from the ESP index.
func (d *Daemon) forgetChild(c *childSA) {
	if d.esp[c.spiIn] == c {
		delete(d.esp, c.spiIn)
	}
}

// handleESP takes one packet off the NAT-T socket. The decryption runs
// outside the daemon's lock (a child's keys never change), so ESP does not
// hold up IKE; the replay check is made again when the count is taken.
func (d *Daemon) handleESP(pkt []byte) {
	if len(pkt) < 8 {
		d.drop()
		return
	}
	seq := binary.BigEndian.Uint32(pkt[4:8])
	d.mu.Lock()
	c := d.esp[binary.BigEndian.Uint32(pkt)]
	if c == nil || c.owner == nil || c.owner.state != stateEstablished {
		d.stats.Dropped++ // an SPI iked does not hold (any more)
		d.mu.Unlock()
		return
	}
	fresh := c.replay.fresh(seq)
	s, enc, integ := c.suite, c.encIn, c.integIn
	d.mu.Unlock()
	var inner []byte
	var err error
	if fresh {
		inner, _, err = s.OpenESP(enc, integ, pkt)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !fresh || err != nil || !c.replay.fresh(seq) {
		c.rxErrors++ // replayed, too old for the window, or forged
		return
	}
	c.replay.accept(seq) // only verified packets move the window
	c.rxPackets++
	c.rxBytes += uint64(len(inner))
	c.lastRx = d.now()
	if c.owner != nil {
		c.owner.lastRecv = c.lastRx
	}
}

func (d *Daemon) drop() {
	d.mu.Lock()
	d.stats.Dropped++
	d.mu.Unlock()
}

// replayWindow is RFC 4303 §3.4.3's anti-replay check over the last 64
// sequence numbers (no extended sequence numbers: iked does not offer
// them).
type replayWindow struct {
	top  uint32 // highest sequence number accepted
	seen uint64 // bit i: top-i was accepted
}

// fresh says whether seq may be accepted: never zero, not seen, not older
// than the window.
func (w *replayWindow) fresh(seq uint32) bool {
	if seq == 0 {
		return false
	}
	if seq > w.top {
		return true
	}
	back := w.top - seq
	return back < 64 && w.seen&(1<<back) == 0
}

func (w *replayWindow) accept(seq uint32) {
	if seq > w.top {
		shift := seq - w.top
		if shift >= 64 {
			w.seen = 0
		} else {
			w.seen <<= shift
		}
		w.seen |= 1
		w.top = seq
		return
	}
	w.seen |= 1 << (w.top - seq)
}
