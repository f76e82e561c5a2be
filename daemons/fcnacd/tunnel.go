package fcnacd

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
)

// maxTunnelDowns bounds the tunnel-down messages in flight: a flush of
// many tunnels must not open a connection per tunnel at once; past it the
// message is dropped and the debug stream says so.
const maxTunnelDowns = 16

// TunnelDown implements fcnacdapi.Connector: one POST
// /api/v1/endpoints/{uid}/tunnel-down to every connected EMS, within
// call-timeout, off the caller's goroutine (iked calls it under its lock).
func (d *Daemon) TunnelDown(ev fcnacdapi.TunnelEvent) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	enabled := false
	for id, ec := range d.cfg.ems {
		if !ec.Enabled {
			continue
		}
		enabled = true
		c := d.conns[id]
		if c == nil || c.state != fcnacdapi.StateConnected || c.cert == nil || d.ctx == nil || d.ctx.Err() != nil {
			continue
		}
		select {
		case d.tunnelSlots <- struct{}{}:
		default:
			d.log.Printf(1, "fcnacd: EMS %d (%s): too many tunnel-down messages in flight, the one of %s is dropped", id, ec.Name, ev.UID)
			continue
		}
		cert := c.cert
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer func() { <-d.tunnelSlots }()
			if err := c.sendTunnelDown(d.ctx, cert, ev); err != nil {
				d.log.Printf(1, "fcnacd: EMS %d (%s): tunnel-down message of %s not delivered: %v", c.cfg.ID, c.cfg.Name, ev.UID, err)
			}
		}()
	}
	return enabled
}

// tunnelDown is the message's body (fosim's EMS API, peers/ems README).
type tunnelDown struct {
	Interface string `json:"interface"`
	Addr      string `json:"addr,omitempty"`
	VDOM      string `json:"vdom"`
}

func (c *conn) sendTunnelDown(ctx context.Context, cert *x509.Certificate, ev fcnacdapi.TunnelEvent) error {
	client := c.httpClient(func(got *x509.Certificate) error {
		if !got.Equal(cert) {
			return errors.New("the EMS presented another certificate than the connection's")
		}
		return nil
	})
	defer client.CloseIdleConnections()
	body := tunnelDown{Interface: ev.Interface, VDOM: ev.VDOM}
	if ev.Addr.IsValid() {
		body.Addr = ev.Addr.String()
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+c.addr()+"/api/v1/endpoints/"+url.PathEscape(ev.UID)+"/tunnel-down", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-FortiGate-Serial", c.d.serial)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("EMS answered %s", resp.Status)
	}
	return nil
}
