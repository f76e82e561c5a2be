package iked

import (
	"encoding/binary"
)

// ESP from peers (UDP-encapsulated on the NAT-T port, RFC 3948) is
// verified and decrypted with the child SA's inbound keys and counted, for
// "diagnose vpn tunnel list" and the tunnel summary, and it shows the peer
// alive to DPD. iked forwards and answers nothing: there is no data plane.

// forgetChild drops a child SA from the ESP index.
func (d *Daemon) forgetChild(c *childSA) {
	if d.esp[c.spiIn] == c {
		delete(d.esp, c.spiIn)
	}
}

func (d *Daemon) handleESP(pkt []byte) {
	d.mu.Lock()
	defer d.unlock()
	if len(pkt) < 8 {
		d.stats.Dropped++
		return
	}
	c := d.esp[binary.BigEndian.Uint32(pkt)]
	if c == nil || c.owner == nil || c.owner.state != stateEstablished {
		d.stats.Dropped++ // an SPI iked does not hold (any more)
		return
	}
	inner, _, err := c.suite.OpenESP(c.encIn, c.integIn, pkt)
	if err != nil {
		c.rxErrors++
		return
	}
	c.rxPackets++
	c.rxBytes += uint64(len(inner))
	c.lastRx = d.now()
	c.owner.lastRecv = c.lastRx
}
