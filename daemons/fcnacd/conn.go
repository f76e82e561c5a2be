package fcnacd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
)

// conn is the connection to one EMS: a goroutine that connects, syncs in
// full, then follows the push stream, and reconnects after a wait when
// anything fails. Its state is guarded by the daemon's mu.
type conn struct {
	d      *Daemon
	cfg    emsConfig
	cancel context.CancelFunc
	done   chan struct{}
	kickCh chan struct{}

	state                   fcnacdapi.State
	lastErr                 string
	serial, tenant, version string
	cert                    *x509.Certificate
	connected, lastSync     time.Time
	lastPush, disconnected  time.Time
	outOfSync, websocket    bool
	synced                  bool
	pushes                  uint64
	records                 map[string]*record
	byTag                   map[string]map[string]*record // tag → UID → record
	byIP                    map[netip.Addr]map[string]*record
	tags                    []string // the EMS's tags, its order
	oosTimer                *clock.Timer
	failures                int // in a row, for the debug stream
	pingFailed              atomic.Bool
	lastLoggedErr           string
}

func newConn(d *Daemon, cfg emsConfig) *conn {
	return &conn{d: d, cfg: cfg, done: make(chan struct{}), kickCh: make(chan struct{}, 1), state: fcnacdapi.StateConnecting,
		records: map[string]*record{}, byTag: map[string]map[string]*record{}, byIP: map[netip.Addr]map[string]*record{}}
}

func (c *conn) run() {
	ctx, cancel := context.WithCancel(c.d.ctx)
	c.cancel = cancel
	c.d.wg.Add(1)
	go func() {
		defer c.d.wg.Done()
		defer close(c.done)
		c.loop(ctx)
	}()
}

func (c *conn) stop() {
	c.cancel()
	<-c.done
	c.d.mu.Lock()
	if c.oosTimer != nil {
		c.oosTimer.Stop()
	}
	c.d.mu.Unlock()
}

// kick ends a wait between attempts (a new trusted certificate).
func (c *conn) kick() {
	select {
	case c.kickCh <- struct{}{}:
	default:
	}
}

func (c *conn) logf(format string, args ...any) {
	c.d.log.Printf(1, "fcnacd: EMS %d (%s) %s: %s", c.cfg.ID, c.cfg.Name, c.addr(), fmt.Sprintf(format, args...))
}

func (c *conn) addr() string { return net.JoinHostPort(c.cfg.Server, strconv.Itoa(c.cfg.Port)) }

func (c *conn) loop(ctx context.Context) {
	delay := c.d.opt.RetryMin
	for ctx.Err() == nil {
		err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if c.markDown(err) {
			delay = c.d.opt.RetryMin
		}
		c.wait(ctx, delay)
		delay = min(delay*2, c.d.opt.RetryMax)
	}
}

// wait waits d on the appliance clock, or less when kicked.
func (c *conn) wait(ctx context.Context, d time.Duration) {
	due := make(chan struct{})
	t := c.d.rt.Clock.AfterFunc(d, func() { close(due) })
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-due:
	case <-c.kickCh:
	}
}

// untrustedError: the EMS presented a certificate that is not trusted.
type untrustedError struct{ cert *x509.Certificate }

func (e *untrustedError) Error() string {
	return fmt.Sprintf("the EMS certificate (CN=%s, SHA-256 %s) is not trusted", e.cert.Subject.CommonName, fingerprint(e.cert))
}

var errMismatched = errors.New("mismatched EMS serial number")

// httpClient is a client for this EMS. verify checks the certificate the
// EMS presents; fcnacd pins it against the trusted remote certificates
// (InsecureSkipVerify only turns off the name and chain checks, which
// pinning the exact certificate replaces).
func (c *conn) httpClient(verify func(*x509.Certificate) error) *http.Client {
	dialer := &net.Dialer{Timeout: c.cfg.CallTimeout}
	if c.cfg.SourceIP.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: c.cfg.SourceIP.AsSlice()}
	}
	tr := &http.Transport{
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the EMS presented no certificate")
				}
				return verify(cs.PeerCertificates[0])
			}},
		TLSHandshakeTimeout:   c.cfg.CallTimeout,
		ResponseHeaderTimeout: c.cfg.CallTimeout,
		MaxIdleConnsPerHost:   2,
	}
	return &http.Client{Transport: tr}
}

// get fetches one API answer within call-timeout.
func get[T any](ctx context.Context, c *conn, client *http.Client, path string, decode func(io.Reader) (T, error)) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.addr()+path, nil)
	if err != nil {
		return zero, err
	}
	req.Header.Set("X-FortiGate-Serial", c.d.serial)
	resp, err := client.Do(req)
	if err != nil {
		return zero, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return zero, fmt.Errorf("%s: EMS answered %s", path, resp.Status)
	}
	v, err := decode(resp.Body)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

type endpointAnswer struct {
	revision uint64
	records  []record
	dropped  []error
}

// session is one connection: a full sync, then the push stream until it
// fails.
func (c *conn) session(ctx context.Context) error {
	var presented atomic.Pointer[x509.Certificate]
	client := c.httpClient(func(cert *x509.Certificate) error {
		presented.Store(cert)
		if !c.d.trusted(cert) {
			return &untrustedError{cert}
		}
		return nil
	})
	defer client.CloseIdleConnections()
	// The state stays what the last attempt found (connecting at first,
	// else why it failed) until this one succeeds.
	info, err := get(ctx, c, client, "/api/v1/system/info", decodeInfo)
	if err != nil {
		return err
	}
	if c.cfg.SerialNumber != "" && !strings.EqualFold(info.Serial, c.cfg.SerialNumber) {
		return fmt.Errorf("%w: the EMS is %s, serial-number is %s", errMismatched, info.Serial, c.cfg.SerialNumber)
	}
	// The stream opens before the full sync: its hello's revision and the
	// list's say which pushes the list already holds.
	dialCtx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	ws, _, err := websocket.Dial(dialCtx, "wss://"+c.addr()+"/api/v1/ws", &websocket.DialOptions{HTTPClient: client,
		HTTPHeader: http.Header{"X-FortiGate-Serial": {c.d.serial}}})
	if err != nil {
		cancel()
		return fmt.Errorf("push stream: %w", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(MaxMessage)
	_, b, err := ws.Read(dialCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("push stream: %w", err)
	}
	if hello, err := decodePush(b); err != nil || !hello.Hello {
		return fmt.Errorf("push stream: no hello (%v)", err)
	}
	var tags []wireTag
	if c.cfg.PullTags {
		if tags, err = get(ctx, c, client, "/api/v1/tags", decodeTags); err != nil {
			return err
		}
	}
	list, err := get(ctx, c, client, "/api/v1/endpoints", func(r io.Reader) (endpointAnswer, error) {
		rev, recs, dropped, err := decodeEndpoints(r)
		return endpointAnswer{rev, recs, dropped}, err
	})
	if err != nil {
		return err
	}
	c.logDropped(list.dropped)
	c.replace(info, presented.Load(), tags, list.records)
	// An EMS that vanishes without closing the stream (a cable, a
	// firewall) is noticed by pings: a pong must come within call-timeout.
	pingCtx, stopPing := context.WithCancel(ctx)
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		c.ping(pingCtx, ws)
	}()
	defer func() { stopPing(); <-pingDone }()
	last := list.revision
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if c.pingFailed.Swap(false) {
				return fmt.Errorf("push stream: no answer to a ping within call-timeout %v (EMS unreachable or slow)", c.cfg.CallTimeout)
			}
			return fmt.Errorf("push stream: %w", err)
		}
		p, err := decodePush(b)
		if err != nil {
			return fmt.Errorf("push stream: %w", err)
		}
		if p.Hello || p.Revision <= last {
			continue
		}
		if p.Revision != last+1 {
			return fmt.Errorf("push stream: revision %d after %d, syncing again", p.Revision, last)
		}
		last = p.Revision
		c.logDropped(p.Dropped)
		c.applyPush(p)
	}
}

// ping checks the push stream every Options.PingInterval (real time: a
// peer's silence cannot follow a lab clock).
func (c *conn) ping(ctx context.Context, ws *websocket.Conn) {
	t := time.NewTicker(c.d.opt.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			err := ws.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.pingFailed.Store(true)
				ws.CloseNow()
				return
			}
		}
	}
}

func (c *conn) logDropped(errs []error) {
	for i, err := range errs {
		if i == 5 {
			c.logf("%d more malformed records dropped", len(errs)-i)
			return
		}
		c.logf("record dropped: %v", err)
	}
}

// markDown records a failed session and says why in the debug stream;
// it reports whether the connection had been up. The records stay (the
// tag cache) until out-of-sync-threshold passes.
func (c *conn) markDown(err error) (wasUp bool) {
	state := fcnacdapi.StateDisconnected
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // the URL is the EMS's address, already in every line
	}
	why := err.Error()
	var untrusted *untrustedError
	var netErr net.Error
	switch {
	case errors.As(err, &untrusted):
		state = fcnacdapi.StateUntrusted
		why += ": run execute fctems verify " + c.cfg.Name
	case errors.Is(err, errMismatched):
		state = fcnacdapi.StateMismatched
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		why = fmt.Sprintf("EMS did not answer within call-timeout %v (unreachable or slow): %v", c.cfg.CallTimeout, err)
	}
	d := c.d
	d.mu.Lock()
	wasUp = c.state == fcnacdapi.StateConnected
	c.state, c.lastErr, c.websocket = state, why, false
	now := d.rt.Clock.Now()
	if wasUp || c.disconnected.IsZero() {
		c.disconnected = now
	}
	if c.oosTimer == nil && !c.outOfSync {
		c.oosTimer = d.rt.Clock.AfterFunc(c.cfg.OutOfSync, c.markOutOfSync)
	}
	c.failures++
	repeat := why == c.lastLoggedErr
	c.lastLoggedErr = why
	n := c.failures
	d.mu.Unlock()
	if state == fcnacdapi.StateMismatched {
		c.d.setDirtyReason(c.cfg.ID, "mismatched-ems-sn")
	}
	switch {
	case wasUp:
		c.logf("connection lost: %s; tags stay cached for out-of-sync-threshold %v", why, c.cfg.OutOfSync)
	case !repeat:
		c.logf("cannot connect: %s", why)
	case n%10 == 0:
		c.logf("still cannot connect (%d attempts): %s", n, why)
	}
	return wasUp
}

// markOutOfSync runs when the EMS has been away out-of-sync-threshold:
// its records no longer resolve tags.
func (c *conn) markOutOfSync() {
	c.d.mu.Lock()
	c.oosTimer = nil
	fire := c.state != fcnacdapi.StateConnected && !c.outOfSync
	if fire {
		c.outOfSync = true
	}
	n := len(c.records)
	c.d.mu.Unlock()
	if fire {
		c.logf("out of sync for over %v: its %d endpoint records no longer resolve tags", c.cfg.OutOfSync, n)
	}
}

// replace installs a full sync.
func (c *conn) replace(info *wireInfo, cert *x509.Certificate, tags []wireTag, recs []record) {
	d := c.d
	d.mu.Lock()
	now := d.rt.Clock.Now()
	c.serial, c.tenant, c.version, c.cert = info.Serial, info.TenantID, info.Version, cert
	c.state, c.lastErr, c.websocket, c.synced, c.outOfSync = fcnacdapi.StateConnected, "", true, true, false
	c.connected, c.lastSync, c.disconnected, c.failures, c.lastLoggedErr = now, now, time.Time{}, 0, ""
	if c.oosTimer != nil {
		c.oosTimer.Stop()
		c.oosTimer = nil
	}
	c.records = make(map[string]*record, len(recs))
	c.byTag = map[string]map[string]*record{}
	c.byIP = make(map[netip.Addr]map[string]*record, len(recs))
	for i := range recs {
		c.putLocked(&recs[i])
	}
	changed := c.setTagsLocked(tags)
	n, nt := len(c.records), len(c.tags)
	d.mu.Unlock()
	c.logf("connected to %s (EMS %s), synced %d endpoints and %d tags", info.Serial, info.Version, n, nt)
	d.setDirtyReason(c.cfg.ID, "none")
	if changed {
		d.kickWrite()
	}
}

// applyPush installs one update.
func (c *conn) applyPush(p *push) {
	d := c.d
	d.mu.Lock()
	c.lastPush = d.rt.Clock.Now()
	c.pushes++
	for _, uid := range p.Removed {
		c.removeLocked(uid)
	}
	for i := range p.Records {
		c.putLocked(&p.Records[i])
	}
	changed := c.setTagsLocked(p.Tags)
	d.mu.Unlock()
	if d.log.Enabled(1) {
		c.logf("push %d: %d endpoints changed, %d removed", p.Revision, len(p.Records), len(p.Removed))
	}
	if changed {
		d.kickWrite()
	}
}

func (c *conn) putLocked(r *record) {
	c.removeLocked(r.UID)
	if len(c.records) >= MaxEndpoints {
		return
	}
	if !c.cfg.PullTags {
		r.Tags = nil
	}
	c.records[r.UID] = r
	for _, t := range r.Tags {
		m := c.byTag[t]
		if m == nil {
			m = map[string]*record{}
			c.byTag[t] = m
		}
		m[r.UID] = r
	}
	m := c.byIP[r.IP]
	if m == nil {
		m = map[string]*record{}
		c.byIP[r.IP] = m
	}
	m[r.UID] = r
}

func (c *conn) removeLocked(uid string) {
	old := c.records[uid]
	if old == nil {
		return
	}
	delete(c.records, uid)
	for _, t := range old.Tags {
		if m := c.byTag[t]; m != nil {
			delete(m, uid)
			if len(m) == 0 {
				delete(c.byTag, t)
			}
		}
	}
	if m := c.byIP[old.IP]; m != nil {
		delete(m, uid)
		if len(m) == 0 {
			delete(c.byIP, old.IP)
		}
	}
}

// setTagsLocked sets the EMS's tag list (and the tags records carry that
// it did not list); it reports whether the set changed.
func (c *conn) setTagsLocked(tags []wireTag) bool {
	var names []string
	if c.cfg.PullTags {
		seen := make(map[string]bool, len(tags))
		add := func(name string) {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
		for _, t := range tags {
			add(t.Name)
		}
		for t := range c.byTag {
			add(t)
		}
	}
	if len(names) > MaxTags {
		names = names[:MaxTags]
	}
	old := slices.Clone(c.tags)
	slices.Sort(old)
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	c.tags = names
	return !slices.Equal(old, sorted)
}

// fillLocked copies the connection's state into e.
func (c *conn) fillLocked(e *fcnacdapi.EMS) {
	e.State, e.LastError = c.state, c.lastErr
	e.Serial, e.TenantID, e.Version = c.serial, c.tenant, c.version
	e.Connected, e.LastSync, e.LastPush, e.Disconnected = c.connected, c.lastSync, c.lastPush, c.disconnected
	e.OutOfSync, e.Websocket, e.Pushes = c.outOfSync, c.websocket, c.pushes
	e.Endpoints, e.Tags = len(c.records), len(c.tags)
}
