package ems

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/fosim/fosim/clock"
)

// Version is the EMS version fosim's EMS answers with: ZTNA tokens need
// EMS 7.4.4 or later (seed 002).
const Version = "7.4.4"

// Capabilities are what this EMS does, in FortiOS's fctems capability
// names: push over a WebSocket, the tags API, a tenant id.
var Capabilities = []string{"websocket", "common-tags-api", "tenant-id"}

// Info is GET /api/v1/system/info.
type Info struct {
	Serial       string   `json:"serial"`
	TenantID     string   `json:"tenant_id"`
	Version      string   `json:"version"`
	ZTNAToken    bool     `json:"ztna_token"`
	Capabilities []string `json:"capabilities"`
}

// Record is one endpoint as the API gives it: the EMS's record and the
// tags its rules give it now.
type Record struct {
	Endpoint
	Tags []Tag `json:"tags"`
}

// Push is one WebSocket message (JSON text). Type "hello" opens the
// stream with the current revision; "update" carries what changed since
// the previous message: every tag EMS has now (Tags), the endpoint records
// added or changed, and the UIDs removed.
type Push struct {
	Type      string   `json:"type"`
	Revision  uint64   `json:"revision"`
	Tags      []Tag    `json:"tags,omitempty"`
	Endpoints []Record `json:"endpoints,omitempty"`
	Removed   []string `json:"removed,omitempty"`
}

// EndpointList is GET /api/v1/endpoints.
type EndpointList struct {
	Revision  uint64   `json:"revision"`
	Endpoints []Record `json:"endpoints"`
}

// TagList is GET /api/v1/tags.
type TagList struct {
	Tags []Tag `json:"tags"`
}

// TokenAnswer is POST /api/v1/endpoints/{uid}/token.
type TokenAnswer struct {
	Token string `json:"token"`
}

// Server is a running EMS.
type Server struct {
	dir   string
	clock *clock.Clock
	keys  *Keys

	// writeMu serialises the server's own writes of the store
	// (registrations).
	writeMu sync.Mutex

	mu       sync.Mutex
	cfg      *Config
	stamp    string
	revision uint64
	records  map[string]Record // by UID, as last pushed
	tags     []Tag
	streams  map[*stream]bool
	// fabric lists the FortiGates that connected, by serial number.
	fabric map[string]FabricDevice
	// tunnels are the endpoints' last VPN tunnel-down messages, by UID
	tunnels map[string]TunnelDown
}

// TunnelDown is a FortiGate's message that an endpoint's VPN tunnel went
// down (seed 001: "sent tunnel-down message to EMS"): EMS marks the
// endpoint off the VPN.
type TunnelDown struct {
	UID       string    `json:"uid"`
	FortiGate string    `json:"fortigate"`
	Interface string    `json:"interface"`
	Addr      string    `json:"addr,omitempty"`
	VDOM      string    `json:"vdom"`
	At        time.Time `json:"at"`
}

// maxTunnelMarks bounds the marks kept (one per endpoint).
const maxTunnelMarks = 200000

type stream struct {
	out  chan Push
	done chan struct{}
}

// NewServer opens the EMS in dir, making its store on first use as Open
// does. Token times come from clk, which a lab can advance.
func NewServer(dir string, clk *clock.Clock) (*Server, error) {
	if _, err := os.Stat(filepath.Join(dir, configFile)); errors.Is(err, os.ErrNotExist) {
		if _, err := Open(dir); err != nil {
			return nil, err
		}
	}
	s := &Server{dir: dir, clock: clk, streams: map[*stream]bool{}, fabric: map[string]FabricDevice{}, tunnels: map[string]TunnelDown{}}
	// The store is read once, by reload; the key and certificate are made
	// again if they were removed, as Open does.
	cfg, err := s.reload()
	if err != nil {
		return nil, err
	}
	if err := ensureCertificate(dir, cfg.Serial); err != nil {
		return nil, err
	}
	if s.keys, err = LoadKeys(dir); err != nil {
		return nil, err
	}
	return s, nil
}

// Keys returns the EMS key and certificate.
func (s *Server) Keys() *Keys { return s.keys }

// Serial is the EMS's serial number, from the store as last read.
func (s *Server) Serial() string { return s.config().Serial }

// TLSConfig is the EMS's HTTPS configuration: its own certificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.keys.TLS}, MinVersion: tls.VersionTLS12}
}

func fileStamp(name string) (string, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return "", err
	}
	stamp := fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		stamp += fmt.Sprint(" ", st.Ino)
	}
	return stamp, nil
}

// reload reads the store when its file changed (the admin commands write
// it while the EMS runs) and pushes what changed to every stream. A bad
// edit is an error, returned with the last good store, which the EMS
// keeps serving.
func (s *Server) reload() (*Config, error) {
	name := filepath.Join(s.dir, configFile)
	stamp, err := fileStamp(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg != nil && stamp == s.stamp {
		return s.cfg, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return s.cfg, fmt.Errorf("%s: %w", name, err)
	}
	s.cfg, s.stamp = cfg, stamp
	s.publishLocked()
	return cfg, nil
}

// publishLocked diffs the records against the last push and sends the
// change to every stream.
func (s *Server) publishLocked() {
	records := make(map[string]Record, len(s.cfg.Endpoints))
	var changed []Record
	for i := range s.cfg.Endpoints {
		e := s.cfg.Endpoints[i]
		r := Record{Endpoint: e, Tags: s.cfg.TagsOf(&e)}
		records[e.UID] = r
		if old, ok := s.records[e.UID]; !ok || !sameRecord(old, r) {
			changed = append(changed, r)
		}
	}
	var removed []string
	for uid := range s.records {
		if _, ok := records[uid]; !ok {
			removed = append(removed, uid)
		}
	}
	slices.Sort(removed)
	tags := s.cfg.AllTags()
	first := s.records == nil
	tagsChanged := !slices.Equal(tags, s.tags)
	s.records, s.tags = records, tags
	if first || (len(changed) == 0 && len(removed) == 0 && !tagsChanged) {
		return
	}
	s.revision++
	p := Push{Type: "update", Revision: s.revision, Tags: tags, Endpoints: changed, Removed: removed}
	for st := range s.streams {
		select {
		case st.out <- p:
		default:
			// A stream that cannot keep up is closed: its FortiGate
			// reconnects and syncs in full.
			delete(s.streams, st)
			close(st.done)
		}
	}
}

// sameRecord tells whether a and b are alike: DeepEqual is stricter than
// comparing their JSON (a nil and an empty list differ), so at worst a
// record is pushed again unchanged, never left out.
func sameRecord(a, b Record) bool { return reflect.DeepEqual(a, b) }

// Run watches the store until ctx ends, so that an edit reaches the
// FortiGates on push within a moment.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if cfg, _ := s.reload(); cfg != nil && cfg.Down {
				s.closeStreams()
			}
		}
	}
}

func (s *Server) closeStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		delete(s.streams, st)
		close(st.done)
	}
}

func (s *Server) config() *Config {
	cfg, err := s.reload()
	if err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cfg
	}
	return cfg
}

// Listener wraps ln: while the EMS is down every connection is closed as
// soon as it is accepted, as a FortiGate sees an unreachable EMS.
func (s *Server) Listener(ln net.Listener) net.Listener { return &downListener{Listener: ln, s: s} }

type downListener struct {
	net.Listener
	s *Server
}

func (l *downListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.s.config().Down {
			return c, nil
		}
		c.Close()
	}
}

// Handler serves the API (README.md).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/system/info", s.slow(func(w http.ResponseWriter, r *http.Request, cfg *Config) {
		writeJSON(w, Info{Serial: cfg.Serial, TenantID: cfg.TenantID, Version: Version, ZTNAToken: cfg.ZTNAToken,
			Capabilities: Capabilities})
	}))
	mux.HandleFunc("GET /api/v1/system/certificate", s.slow(func(w http.ResponseWriter, r *http.Request, cfg *Config) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.keys.CertPEM)
	}))
	mux.HandleFunc("GET /api/v1/tags", s.slow(func(w http.ResponseWriter, r *http.Request, cfg *Config) {
		writeJSON(w, TagList{Tags: cfg.AllTags()})
	}))
	mux.HandleFunc("GET /api/v1/endpoints", s.slow(func(w http.ResponseWriter, r *http.Request, _ *Config) {
		// The store and its revision are read together: a FortiGate that
		// streams from a hello applies the pushes after this revision.
		s.mu.Lock()
		list := EndpointList{Revision: s.revision, Endpoints: make([]Record, 0, len(s.cfg.Endpoints))}
		for _, e := range s.cfg.Endpoints {
			list.Endpoints = append(list.Endpoints, s.records[e.UID]) // the records as last pushed
		}
		s.mu.Unlock()
		writeJSON(w, list)
	}))
	mux.HandleFunc("POST /api/v1/endpoints/{uid}/token", s.slow(func(w http.ResponseWriter, r *http.Request, cfg *Config) {
		tok, err := cfg.IssueToken(s.keys, r.PathValue("uid"), s.clock.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, TokenAnswer{Token: tok})
	}))
	mux.HandleFunc("POST /api/v1/endpoints/register", s.slow(s.register))
	mux.HandleFunc("POST /api/v1/endpoints/{uid}/tunnel-down", s.slow(s.tunnelDown))
	mux.HandleFunc("GET /api/v1/ws", s.slow(s.serveStream))
	return mux
}

// slow wraps a handler: it notes the FortiGate that asks, and waits the
// configured delay first.
func (s *Server) slow(h func(http.ResponseWriter, *http.Request, *Config)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg := s.config()
		if cfg == nil {
			http.Error(w, "EMS store unreadable", http.StatusServiceUnavailable)
			return
		}
		if sn := r.Header.Get("X-FortiGate-Serial"); sn != "" && len(sn) <= 32 {
			s.mu.Lock()
			if _, ok := s.fabric[sn]; ok || len(s.fabric) < 1024 {
				from, _, _ := net.SplitHostPort(r.RemoteAddr)
				s.fabric[sn] = FabricDevice{Serial: sn, From: from, LastSeen: s.clock.Now()}
			}
			s.mu.Unlock()
		}
		if d := time.Duration(cfg.Delay); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		h(w, r, cfg)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// serveStream is the push WebSocket: a hello, then an update per change.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, _ *Config) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	st := &stream{out: make(chan Push, 64), done: make(chan struct{})}
	s.mu.Lock()
	s.streams[st] = true
	hello := Push{Type: "hello", Revision: s.revision}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.streams[st] {
			delete(s.streams, st)
			close(st.done)
		}
		s.mu.Unlock()
	}()
	ctx := c.CloseRead(r.Context()) // the FortiGate sends nothing but pings
	send := func(p Push) error {
		b, _ := json.Marshal(p)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	if send(hello) != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.done:
			c.Close(websocket.StatusGoingAway, "EMS stream closed")
			return
		case p := <-st.out:
			if send(p) != nil {
				return
			}
		}
	}
}

// FabricDevice is a FortiGate that reached the EMS.
type FabricDevice struct {
	Serial string `json:"serial"`
	// From is the address it last came from.
	From     string    `json:"from"`
	LastSeen time.Time `json:"last_seen"`
}

// Fabric lists the FortiGates that reached the EMS, the least recent
// first.
func (s *Server) Fabric() []FabricDevice {
	s.mu.Lock()
	out := make([]FabricDevice, 0, len(s.fabric))
	for _, d := range s.fabric {
		out = append(out, d)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b FabricDevice) int { return a.LastSeen.Compare(b.LastSeen) })
	return out
}

// AdminHandler is the EMS's loopback-only administration: the lab clock,
// the FortiGates seen, and a token for an endpoint on the lab clock.
//
//	GET  /clock                    the EMS clock (RFC 3339)
//	POST /clock/advance?by=DUR     move the clock forward (Go duration)
//	GET  /fabric                   the FortiGates that connected (JSON)
//	POST /token?uid=UID            a ZTNA token, issued now on the EMS clock
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clock", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, s.clock.Now().Format(time.RFC3339)+"\n")
	})
	mux.HandleFunc("POST /clock/advance", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("by"))
		if err != nil || d <= 0 {
			http.Error(w, "by: a positive duration such as 90m", http.StatusBadRequest)
			return
		}
		s.clock.Advance(d)
		io.WriteString(w, s.clock.Now().Format(time.RFC3339)+"\n")
	})
	mux.HandleFunc("GET /tunnels", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.TunnelDowns())
	})
	mux.HandleFunc("GET /fabric", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Fabric())
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		cfg := s.config()
		tok, err := cfg.IssueToken(s.keys, r.URL.Query().Get("uid"), s.clock.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		io.WriteString(w, tok+"\n")
	})
	return mux
}

// tunnelDown is POST /api/v1/endpoints/{uid}/tunnel-down: the endpoint
// must be one of this EMS's; the body is {"interface","addr","vdom"}.
func (s *Server) tunnelDown(w http.ResponseWriter, r *http.Request, cfg *Config) {
	uid := r.PathValue("uid")
	if !slices.ContainsFunc(cfg.Endpoints, func(e Endpoint) bool { return e.UID == uid }) {
		http.Error(w, "no endpoint "+uid, http.StatusNotFound)
		return
	}
	var body struct {
		Interface string `json:"interface"`
		Addr      string `json:"addr"`
		VDOM      string `json:"vdom"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Interface == "" || len(body.Interface) > 64 || len(body.VDOM) > 32 {
		http.Error(w, "bad tunnel-down message", http.StatusBadRequest)
		return
	}
	if body.Addr != "" {
		if _, err := netip.ParseAddr(body.Addr); err != nil {
			http.Error(w, "bad tunnel-down address", http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tunnels[uid]; !ok && len(s.tunnels) >= maxTunnelMarks {
		http.Error(w, "too many endpoints", http.StatusServiceUnavailable)
		return
	}
	s.tunnels[uid] = TunnelDown{UID: uid, FortiGate: r.Header.Get("X-FortiGate-Serial"), Interface: body.Interface, Addr: body.Addr, VDOM: body.VDOM, At: s.clock.Now()}
	writeJSON(w, struct{}{})
}

// TunnelDowns lists the endpoints' last tunnel-down messages, by UID.
func (s *Server) TunnelDowns() []TunnelDown {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TunnelDown, 0, len(s.tunnels))
	for _, t := range s.tunnels {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b TunnelDown) int { return strings.Compare(a.UID, b.UID) })
	return out
}
