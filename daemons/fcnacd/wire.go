package fcnacd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/fosim/fosim/internal/forticlient"
)

// The EMS API's messages (peers/ems/README.md). They are decoded here,
// on the FortiGate side, and every record is checked before it is used:
// an EMS is a peer, its data is input.

// Limits on what an EMS may send.
const (
	// MaxBody bounds one HTTPS answer (100,000 endpoints of a few hundred
	// bytes each fit).
	MaxBody = 64 << 20
	// MaxMessage bounds one push message.
	MaxMessage = 16 << 20
	// MaxEndpoints and MaxTags bound one EMS's records and tags.
	MaxEndpoints = 200_000
	MaxTags      = 4096
	maxTagsPerEP = 256
	maxMACs      = 32
	maxField     = 255
)

type wireInfo struct {
	Serial       string   `json:"serial"`
	TenantID     string   `json:"tenant_id"`
	Version      string   `json:"version"`
	ZTNAToken    bool     `json:"ztna_token"`
	Capabilities []string `json:"capabilities"`
}

type wireTag struct {
	Name string `json:"name"`
	Type int    `json:"type"`
}

type wireRecord struct {
	UID         string    `json:"uid"`
	IP          string    `json:"ip"`
	PublicIP    string    `json:"public_ip"`
	MACs        []string  `json:"macs"`
	Host        string    `json:"host"`
	User        string    `json:"user"`
	OS          string    `json:"os"`
	FCTVersion  string    `json:"fct_version"`
	Registered  bool      `json:"registered"`
	Online      bool      `json:"online"`
	OffNet      bool      `json:"off_net"`
	Quarantined bool      `json:"quarantined"`
	CertSN      string    `json:"cert_sn"`
	Tags        []wireTag `json:"tags"`
}

type wireEndpointList struct {
	Revision  uint64            `json:"revision"`
	Endpoints []json.RawMessage `json:"endpoints"`
}

type wireTagList struct {
	Tags []wireTag `json:"tags"`
}

type wirePush struct {
	Type      string            `json:"type"`
	Revision  uint64            `json:"revision"`
	Tags      []wireTag         `json:"tags"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Removed   []string          `json:"removed"`
}

// record is one endpoint, checked.
type record struct {
	UID         string
	IP          netip.Addr
	PublicIP    netip.Addr
	MACs        []string
	Host        string
	User        string
	OS          string
	FCTVersion  string
	Registered  bool
	Online      bool
	OnNet       bool
	Quarantined bool
	CertSN      string
	Tags        []string
}

// push is one push message, checked; bad records are dropped, each with
// its reason.
type push struct {
	Hello    bool
	Revision uint64
	Tags     []wireTag
	Records  []record
	Removed  []string
	Dropped  []error
}

func validText(s string) bool {
	return len(s) <= maxField && !strings.ContainsAny(s, "\r\n\x00")
}

// parseRecord decodes and checks one endpoint record.
func parseRecord(raw json.RawMessage) (record, error) {
	var w wireRecord
	if err := json.Unmarshal(raw, &w); err != nil {
		return record{}, fmt.Errorf("malformed endpoint record: %v", err)
	}
	if !forticlient.ValidUID(w.UID) {
		return record{}, fmt.Errorf("endpoint record with a bad FortiClient UID %.40q", w.UID)
	}
	r := record{UID: strings.ToUpper(w.UID), Registered: w.Registered, Online: w.Online, OnNet: !w.OffNet, Quarantined: w.Quarantined}
	ip, err := netip.ParseAddr(w.IP)
	if err != nil || !ip.Is4() {
		return record{}, fmt.Errorf("endpoint %s: bad IP %.40q", r.UID, w.IP)
	}
	r.IP = ip
	if w.PublicIP != "" {
		if r.PublicIP, err = netip.ParseAddr(w.PublicIP); err != nil || !r.PublicIP.Is4() {
			return record{}, fmt.Errorf("endpoint %s: bad public IP %.40q", r.UID, w.PublicIP)
		}
	}
	if len(w.MACs) > maxMACs {
		return record{}, fmt.Errorf("endpoint %s: %d MAC addresses, at most %d", r.UID, len(w.MACs), maxMACs)
	}
	for _, m := range w.MACs {
		mac, ok := forticlient.CanonMAC(m)
		if !ok {
			return record{}, fmt.Errorf("endpoint %s: bad MAC address %.40q", r.UID, m)
		}
		r.MACs = append(r.MACs, mac)
	}
	for _, f := range []string{w.Host, w.User, w.OS, w.FCTVersion, w.CertSN} {
		if !validText(f) {
			return record{}, fmt.Errorf("endpoint %s: a field over %d characters or with a line break", r.UID, maxField)
		}
	}
	r.Host, r.User, r.OS, r.FCTVersion, r.CertSN = w.Host, w.User, w.OS, w.FCTVersion, w.CertSN
	if len(w.Tags) > maxTagsPerEP {
		return record{}, fmt.Errorf("endpoint %s: %d tags, at most %d", r.UID, len(w.Tags), maxTagsPerEP)
	}
	for _, t := range w.Tags {
		if !forticlient.ValidTagName(t.Name) {
			return record{}, fmt.Errorf("endpoint %s: bad tag name %.70q", r.UID, t.Name)
		}
		r.Tags = append(r.Tags, t.Name)
	}
	return r, nil
}

func checkTags(tags []wireTag) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%d tags, at most %d", len(tags), MaxTags)
	}
	for _, t := range tags {
		if !forticlient.ValidTagName(t.Name) {
			return fmt.Errorf("bad tag name %.70q", t.Name)
		}
	}
	return nil
}

// decodeInfo reads GET /api/v1/system/info.
func decodeInfo(r io.Reader) (*wireInfo, error) {
	var w wireInfo
	if err := decodeBody(r, &w); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(w.Serial, "FCTEMS") || len(w.Serial) != 16 {
		return nil, fmt.Errorf("the EMS answered with a bad serial number %.40q", w.Serial)
	}
	if len(w.TenantID) > 32 || !validText(w.Version) || len(w.Capabilities) > 64 {
		return nil, errors.New("the EMS answered with a malformed system info")
	}
	return &w, nil
}

// decodeTags reads GET /api/v1/tags.
func decodeTags(r io.Reader) ([]wireTag, error) {
	var w wireTagList
	if err := decodeBody(r, &w); err != nil {
		return nil, err
	}
	return w.Tags, checkTags(w.Tags)
}

// decodeEndpoints reads GET /api/v1/endpoints: the records that pass
// their checks, and why the others were dropped.
func decodeEndpoints(r io.Reader) (revision uint64, recs []record, dropped []error, err error) {
	var w wireEndpointList
	if err := decodeBody(r, &w); err != nil {
		return 0, nil, nil, err
	}
	if len(w.Endpoints) > MaxEndpoints {
		return 0, nil, nil, fmt.Errorf("%d endpoint records, at most %d", len(w.Endpoints), MaxEndpoints)
	}
	recs, dropped = parseRecords(w.Endpoints)
	return w.Revision, recs, dropped, nil
}

// parseRecords checks every record: those that pass, and why the others
// were dropped.
func parseRecords(raws []json.RawMessage) (recs []record, dropped []error) {
	recs = make([]record, 0, len(raws))
	for _, raw := range raws {
		rec, err := parseRecord(raw)
		if err != nil {
			dropped = append(dropped, err)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, dropped
}

func decodeBody(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	if err != nil {
		return err
	}
	if len(b) > MaxBody {
		return fmt.Errorf("EMS answer over %d MiB", MaxBody>>20)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("malformed EMS answer: %v", err)
	}
	return nil
}

// decodePush reads one push message.
func decodePush(b []byte) (*push, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("push message over %d MiB", MaxMessage>>20)
	}
	var w wirePush
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("malformed push message: %v", err)
	}
	p := &push{Revision: w.Revision}
	switch w.Type {
	case "hello":
		p.Hello = true
		return p, nil
	case "update":
	default:
		return nil, fmt.Errorf("push message of unknown type %.20q", w.Type)
	}
	if err := checkTags(w.Tags); err != nil {
		return nil, fmt.Errorf("push message: %v", err)
	}
	p.Tags = w.Tags
	if len(w.Endpoints) > MaxEndpoints || len(w.Removed) > MaxEndpoints {
		return nil, errors.New("push message with too many records")
	}
	p.Records, p.Dropped = parseRecords(w.Endpoints)
	for _, uid := range w.Removed {
		if !forticlient.ValidUID(uid) {
			p.Dropped = append(p.Dropped, fmt.Errorf("removal of a bad FortiClient UID %.40q", uid))
			continue
		}
		p.Removed = append(p.Removed, strings.ToUpper(uid))
	}
	return p, nil
}
