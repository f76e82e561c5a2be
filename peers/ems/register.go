package ems

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Registration is what FortiClient tells its EMS when it registers and on
// each telemetry connection after (POST /api/v1/endpoints/register): who
// it is and what it sees of its host. The wire format is fosim's own;
// FortiClient's telemetry protocol is not public.
type Registration struct {
	UID        string     `json:"uid"`
	IP         netip.Addr `json:"ip"`
	MACs       []string   `json:"macs,omitempty"`
	Host       string     `json:"host,omitempty"`
	User       string     `json:"user,omitempty"`
	OS         string     `json:"os,omitempty"`
	FCTVersion string     `json:"fct_version,omitempty"`
}

// Registered is the EMS's answer to a registration: what FortiClient puts
// in its FCT data (the EMS serial number and tenant id), the record as the
// EMS keeps it now with the tags its rules give, and the endpoint's ZTNA
// token when the EMS has "Enable ZTNA Token" on.
type Registered struct {
	Serial   string `json:"serial"`
	TenantID string `json:"tenant_id"`
	Record   Record `json:"endpoint"`
	Token    string `json:"token,omitempty"`
}

// maxRegistration bounds a registration body.
const maxRegistration = 16 << 10

// register is POST /api/v1/endpoints/register: the endpoint is added, or
// its record updated from what FortiClient reports, and marked registered
// and online. The EMS's own fields (client certificate serial, on-net and
// quarantine status) are kept; a new endpoint gets a certificate serial.
// The public IP is the address the request came from, as EMS sees a
// FortiClient behind NAT.
func (s *Server) register(w http.ResponseWriter, r *http.Request, _ *Config) {
	var reg Registration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegistration))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reg); err != nil {
		http.Error(w, "bad registration: "+err.Error(), http.StatusBadRequest)
		return
	}
	from, err := netip.ParseAddrPort(r.RemoteAddr)
	var public netip.Addr
	if err == nil && from.Addr().Unmap().Is4() {
		public = from.Addr().Unmap()
	}
	answer, err := s.Register(reg, public)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, answer)
}

// Register adds or updates the endpoint reg describes, as a registration
// request does, and pushes the change to the FortiGates at once. public is
// the address the endpoint came from (invalid: kept as it was).
func (s *Server) Register(reg Registration, public netip.Addr) (*Registered, error) {
	// Writes of the store are read-modify-write on the file, as the
	// administration commands do: one registration at a time.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// the store as the EMS serves it, read again only if its file changed
	current, err := s.reload()
	if err != nil {
		return nil, err
	}
	cfg := current.clone()
	e := Endpoint{UID: strings.ToUpper(reg.UID), Registered: true, Online: true}
	if old, ok := cfg.Endpoint(reg.UID); ok {
		e = *old
		e.Registered, e.Online = true, true
	}
	e.IP, e.MACs, e.Host, e.User, e.OS, e.FCTVersion = reg.IP, reg.MACs, reg.Host, reg.User, reg.OS, reg.FCTVersion
	if public.IsValid() {
		e.PublicIP = public
	}
	if e.CertSN == "" {
		e.CertSN = NewCertSN()
	}
	if err := cfg.SetEndpoint(e); err != nil {
		return nil, err
	}
	if err := cfg.Save(s.dir); err != nil {
		return nil, err
	}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	saved, _ := cfg.Endpoint(e.UID)
	answer := &Registered{Serial: cfg.Serial, TenantID: cfg.TenantID, Record: Record{Endpoint: *saved, Tags: cfg.TagsOf(saved)}}
	if cfg.ZTNAToken {
		if answer.Token, err = cfg.IssueToken(s.keys, e.UID, s.clock.Now()); err != nil {
			return nil, err
		}
	}
	return answer, nil
}

// Register is FortiClient's side: it posts reg to the EMS at addr
// (host:port) with hc, whose TLS configuration decides whether the EMS
// certificate is trusted.
func Register(ctx context.Context, hc *http.Client, addr string, reg Registration) (*Registered, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("EMS address %q: %v", addr, err)
	}
	body, err := json.Marshal(reg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/api/v1/endpoints/register", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("EMS %s unreachable: %w", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("EMS %s refused the registration: %s", addr, strings.TrimSpace(string(b)))
	}
	var answer Registered
	if err := json.Unmarshal(b, &answer); err != nil {
		return nil, fmt.Errorf("EMS %s: bad registration answer: %v", addr, err)
	}
	if answer.Serial == "" || answer.TenantID == "" {
		return nil, errors.New("EMS " + addr + ": the registration answer has no serial number or tenant id")
	}
	return &answer, nil
}
