// Package ems is a FortiClient EMS simulator, a peer of the appliance run
// beside it in its own process ("fosim ems"). It keeps its own store (a
// JSON file, the EMS key and certificate in a data directory): the EMS
// serial number and tenant id, the registered endpoints, the tag rules
// that give endpoints their ZTNA tags, and the ZTNA token settings. It
// serves the FortiGate connector over HTTPS and pushes changes over a
// WebSocket (README.md documents the API, which is fosim's own: EMS's is
// not public), and it signs ZTNA tokens (RS256 JWTs) with the EMS key.
package ems

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fosim/fosim/internal/atomicfile"
	"github.com/fosim/fosim/internal/forticlient"
)

// Files in the data directory.
const (
	configFile = "ems.json"
	certFile   = "ems-cert.pem"
	keyFile    = "ems-key.pem"
)

// Token lifetime bounds and default: EMS's "ZTNA Token Timeout" (fosim's
// numbers: seed 002's token lives one hour, exp − iat = 3600).
const (
	DefaultTokenLifetime = time.Hour
	MinTokenLifetime     = time.Minute
	MaxTokenLifetime     = 7 * 24 * time.Hour
)

// Tag types as the seed's token carries them ("type":1 for the zero-trust
// tags "a" and "all_registered_clients", 3 for "Low", a vulnerability
// severity tag). fosim keeps the number and gives it no other meaning.
const (
	TagTypeZeroTrust     = 1
	TagTypeVulnerability = 3
)

// Limits that keep one store, and so one sync, bounded.
const (
	MaxEndpoints = 100_000
	MaxRules     = 1024
	MaxMACs      = 32
	MaxTagName   = forticlient.MaxTagName
)

// Config is everything the EMS stores.
type Config struct {
	// Serial is the EMS serial number ("FCTEMS" and ten digits).
	Serial string `json:"serial"`
	// TenantID is the EMS tenant id: 32 hex digits (seed 002's default
	// tenant is all zeros; the ec-shm record shows a real one).
	TenantID string `json:"tenant_id"`
	// ZTNAToken is "Enable ZTNA Token"; TokenLifetime its timeout.
	ZTNAToken     bool     `json:"ztna_token"`
	TokenLifetime Duration `json:"token_lifetime"`
	// Down makes the EMS unreachable: every connection is closed as it is
	// accepted (seed 002 example 2). Delay holds every answer that long
	// ("slow to respond").
	Down      bool       `json:"down,omitempty"`
	Delay     Duration   `json:"delay,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
	Rules     []TagRule  `json:"rules"`
}

// Endpoint is one FortiClient endpoint as EMS knows it.
type Endpoint struct {
	// UID is the FortiClient UID (32 upper-case hex digits).
	UID      string     `json:"uid"`
	IP       netip.Addr `json:"ip"`
	PublicIP netip.Addr `json:"public_ip,omitzero"`
	// MACs are the endpoint's MAC addresses, the first its main one.
	MACs       []string `json:"macs,omitempty"`
	Host       string   `json:"host,omitempty"`
	User       string   `json:"user,omitempty"`
	OS         string   `json:"os,omitempty"`
	FCTVersion string   `json:"fct_version,omitempty"`
	// Registered, Online and OffNet are the EMS's status of the endpoint.
	Registered  bool `json:"registered"`
	Online      bool `json:"online"`
	OffNet      bool `json:"off_net,omitempty"`
	Quarantined bool `json:"quarantined,omitempty"`
	// CertSN is the serial number of the endpoint's ZTNA client
	// certificate (40 upper-case hex digits, as the seed's ztna_cert_sn).
	CertSN string `json:"cert_sn"`
}

// TagRule gives Tag to every endpoint that meets all of its conditions.
type TagRule struct {
	Tag        string      `json:"tag"`
	Type       int         `json:"type"`
	Conditions []Condition `json:"conditions"`
}

// Condition is one test of an endpoint.
type Condition struct {
	// Field is registered, online, on-net, quarantined (Value yes or no),
	// os, host, user (Value is a case-insensitive substring), uid (equal),
	// ip (Value is a prefix, 10.0.0.0/8, or an address), or all.
	Field string `json:"field"`
	Value string `json:"value,omitempty"`
}

// Tag is one ZTNA tag of an endpoint, as tokens and the API carry it.
type Tag struct {
	Name string `json:"name"`
	Type int    `json:"type"`
}

// Duration is a time.Duration written as Go's text ("1h0m0s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"1h\": %v", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Open reads the store in dir, creating it on first use: a new serial
// number and tenant id, the ZTNA token feature on, and the EMS key and
// certificate.
func Open(dir string) (*Config, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, os.ErrNotExist) {
		c := &Config{Serial: newSerial(), TenantID: randomHex(16), ZTNAToken: true, TokenLifetime: Duration(DefaultTokenLifetime)}
		if err := ensureCertificate(dir, c.Serial); err != nil {
			return nil, err
		}
		return c, c.Save(dir)
	}
	if err != nil {
		return nil, err
	}
	c, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, configFile), err)
	}
	return c, ensureCertificate(dir, c.Serial)
}

func parseConfig(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func newSerial() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(10_000_000_000))
	return fmt.Sprintf("FCTEMS%010d", n)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// NewUID returns a random FortiClient UID.
func NewUID() string { return randomHex(16) }

// NewCertSN returns a random client certificate serial number.
func NewCertSN() string { return randomHex(20) }

// Save writes the configuration atomically (a temporary file, then a
// rename), so a running EMS never reads half of it.
func (c *Config) Save(dir string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := matchCertificate(dir, c.Serial); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, configFile), append(b, '\n'), 0o600)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToUpper(s) == s
}

// Validate checks the whole configuration.
func (c *Config) Validate() error {
	if !strings.HasPrefix(c.Serial, "FCTEMS") || len(c.Serial) != 16 || strings.Trim(c.Serial[6:], "0123456789") != "" {
		return fmt.Errorf("EMS serial number %q: FCTEMS and ten digits", c.Serial)
	}
	if !isHex(c.TenantID, 32) {
		return fmt.Errorf("tenant id %q: 32 upper-case hex digits", c.TenantID)
	}
	if lt := time.Duration(c.TokenLifetime); lt < MinTokenLifetime || lt > MaxTokenLifetime {
		return fmt.Errorf("ZTNA token timeout %v: %v to %v", lt, MinTokenLifetime, MaxTokenLifetime)
	}
	if c.Delay < 0 || time.Duration(c.Delay) > 10*time.Minute {
		return fmt.Errorf("delay %v: 0 to 10m", time.Duration(c.Delay))
	}
	if len(c.Endpoints) > MaxEndpoints {
		return fmt.Errorf("%d endpoints: at most %d", len(c.Endpoints), MaxEndpoints)
	}
	uids := make(map[string]bool, len(c.Endpoints))
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		if err := e.Validate(); err != nil {
			return err
		}
		if uids[e.UID] {
			return fmt.Errorf("endpoint %s listed twice", e.UID)
		}
		uids[e.UID] = true
	}
	if len(c.Rules) > MaxRules {
		return fmt.Errorf("%d tag rules: at most %d", len(c.Rules), MaxRules)
	}
	for _, r := range c.Rules {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks one endpoint.
func (e *Endpoint) Validate() error {
	if !isHex(e.UID, 32) {
		return fmt.Errorf("FortiClient UID %q: 32 upper-case hex digits", e.UID)
	}
	if !e.IP.Is4() {
		return fmt.Errorf("endpoint %s: IP %q is not an IPv4 address", e.UID, e.IP)
	}
	if e.PublicIP.IsValid() && !e.PublicIP.Is4() {
		return fmt.Errorf("endpoint %s: public IP %q is not an IPv4 address", e.UID, e.PublicIP)
	}
	if len(e.MACs) > MaxMACs {
		return fmt.Errorf("endpoint %s: %d MAC addresses, at most %d", e.UID, len(e.MACs), MaxMACs)
	}
	for i, m := range e.MACs {
		mac, ok := forticlient.CanonMAC(m)
		if !ok {
			return fmt.Errorf("endpoint %s: bad MAC address %q", e.UID, m)
		}
		e.MACs[i] = mac
	}
	if e.CertSN != "" && !isHex(e.CertSN, 40) {
		return fmt.Errorf("endpoint %s: client certificate serial %q: 40 upper-case hex digits", e.UID, e.CertSN)
	}
	for _, s := range []string{e.Host, e.User, e.OS, e.FCTVersion} {
		if len(s) > 255 || strings.ContainsAny(s, "\r\n\x00") {
			return fmt.Errorf("endpoint %s: bad field %q", e.UID, s)
		}
	}
	return nil
}

var conditionFields = []string{"all", "registered", "online", "on-net", "quarantined", "os", "host", "user", "uid", "ip"}

// Validate checks one rule.
func (r TagRule) Validate() error {
	if !forticlient.ValidTagName(r.Tag) {
		return fmt.Errorf("tag %q: 1 to %d characters, no spaces or quotes", r.Tag, MaxTagName)
	}
	if r.Type < 0 || r.Type > 255 {
		return fmt.Errorf("tag %s: type %d: 0 to 255", r.Tag, r.Type)
	}
	if len(r.Conditions) == 0 {
		return fmt.Errorf("tag %s: a rule needs at least one condition (all, to tag every endpoint)", r.Tag)
	}
	for _, c := range r.Conditions {
		if !slices.Contains(conditionFields, c.Field) {
			return fmt.Errorf("tag %s: unknown condition %q (one of %s)", r.Tag, c.Field, strings.Join(conditionFields, ", "))
		}
		switch c.Field {
		case "registered", "online", "on-net", "quarantined":
			if c.Value != "yes" && c.Value != "no" {
				return fmt.Errorf("tag %s: %s=%q: yes or no", r.Tag, c.Field, c.Value)
			}
		case "ip":
			if _, err := parsePrefix(c.Value); err != nil {
				return fmt.Errorf("tag %s: ip=%q: %v", r.Tag, c.Value, err)
			}
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

// ParseCondition reads FIELD=VALUE (or all).
func ParseCondition(s string) Condition {
	f, v, _ := strings.Cut(s, "=")
	return Condition{Field: f, Value: v}
}

func (c Condition) String() string {
	if c.Value == "" {
		return c.Field
	}
	return c.Field + "=" + c.Value
}

func (c Condition) holds(e *Endpoint) bool {
	yes := c.Value == "yes"
	contains := func(s string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(c.Value)) }
	switch c.Field {
	case "all":
		return true
	case "registered":
		return e.Registered == yes
	case "online":
		return e.Online == yes
	case "on-net":
		return !e.OffNet == yes
	case "quarantined":
		return e.Quarantined == yes
	case "os":
		return contains(e.OS)
	case "host":
		return contains(e.Host)
	case "user":
		return contains(e.User)
	case "uid":
		return strings.EqualFold(e.UID, c.Value)
	case "ip":
		p, err := parsePrefix(c.Value)
		return err == nil && p.Contains(e.IP)
	}
	return false
}

// TagsOf lists the tags the rules give e, in rule order, each once.
func (c *Config) TagsOf(e *Endpoint) []Tag {
	var out []Tag
	for _, r := range c.Rules {
		if slices.ContainsFunc(out, func(t Tag) bool { return t.Name == r.Tag }) {
			continue
		}
		ok := true
		for _, cond := range r.Conditions {
			if !cond.holds(e) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, Tag{Name: r.Tag, Type: r.Type})
		}
	}
	return out
}

// AllTags lists every tag a rule defines, in rule order, each once: EMS
// shares its tags with the FortiGate whether or not an endpoint has them.
func (c *Config) AllTags() []Tag {
	var out []Tag
	for _, r := range c.Rules {
		if !slices.ContainsFunc(out, func(t Tag) bool { return t.Name == r.Tag }) {
			out = append(out, Tag{Name: r.Tag, Type: r.Type})
		}
	}
	return out
}

// clone is a copy of c that shares nothing with it: the server's store
// stays as read while a registration edits and validates the copy.
func (c *Config) clone() *Config {
	out := *c
	out.Endpoints = slices.Clone(c.Endpoints)
	for i := range out.Endpoints {
		out.Endpoints[i].MACs = slices.Clone(out.Endpoints[i].MACs)
	}
	out.Rules = slices.Clone(c.Rules)
	for i := range out.Rules {
		out.Rules[i].Conditions = slices.Clone(out.Rules[i].Conditions)
	}
	return &out
}

// Endpoint returns the endpoint with uid.
func (c *Config) Endpoint(uid string) (*Endpoint, bool) {
	for i := range c.Endpoints {
		if strings.EqualFold(c.Endpoints[i].UID, uid) {
			return &c.Endpoints[i], true
		}
	}
	return nil, false
}

// SetEndpoint adds e or replaces the endpoint with its UID.
func (c *Config) SetEndpoint(e Endpoint) error {
	e.UID = strings.ToUpper(e.UID)
	if err := e.Validate(); err != nil {
		return err
	}
	if old, ok := c.Endpoint(e.UID); ok {
		*old = e
		return nil
	}
	if len(c.Endpoints) >= MaxEndpoints {
		return fmt.Errorf("at most %d endpoints", MaxEndpoints)
	}
	c.Endpoints = append(c.Endpoints, e)
	return nil
}

// DeleteEndpoint removes the endpoint with uid.
func (c *Config) DeleteEndpoint(uid string) error {
	for i := range c.Endpoints {
		if strings.EqualFold(c.Endpoints[i].UID, uid) {
			c.Endpoints = slices.Delete(c.Endpoints, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("no endpoint %s", uid)
}

// SetRule adds r or replaces the rule of its tag.
func (c *Config) SetRule(r TagRule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	for i := range c.Rules {
		if c.Rules[i].Tag == r.Tag {
			c.Rules[i] = r
			return nil
		}
	}
	if len(c.Rules) >= MaxRules {
		return fmt.Errorf("at most %d tag rules", MaxRules)
	}
	c.Rules = append(c.Rules, r)
	return nil
}

// DeleteRule removes the rule of tag.
func (c *Config) DeleteRule(tag string) error {
	for i := range c.Rules {
		if c.Rules[i].Tag == tag {
			c.Rules = slices.Delete(c.Rules, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("no tag rule %s", tag)
}
