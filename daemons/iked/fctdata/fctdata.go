// Package fctdata is the FortiClient data FortiClient sends a FortiGate in
// IKE_AUTH: the private FORTICLIENT_CONNECT notify, LF-separated KEY=value
// lines (VER, FCTVER, UID, IP, MAC, HOST, USER, OSVER, REG_STATUS, then
// optionally EMSSN, EMSID, FCTTAGS), LF after the last line too, then one
// NUL. The layout and the notify type (0xF100) are those public reverse
// engineering of FortiClient 7.4 records (the fortigate_vpn_gui project's
// "GenRawLicenseInfo2" notes, and a Rust FortiClient-compatible client's
// notify table); seed 002 shows the lines a FortiGate prints of it.
package fctdata

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/fosim/fosim/internal/forticlient"
)

// MaxLen bounds the data: FortiClient's is about 300 bytes (seed 002: 309),
// public reimplementations cap theirs at 4 KB.
const MaxLen = 4096

// maxValue bounds one value (a host name, an OS string, a MAC list).
const maxValue = 1024

// Data is one FortiClient's description of itself.
type Data struct {
	Version    string // VER
	FCTVersion string // FCTVER, "7.4.5.1949"
	UID        string // 32 hex digits
	IP         netip.Addr
	MACs       []string // "00-0c-29-2c-4d-d7", as sent
	Host, User string
	OS         string // OSVER
	RegStatus  string // REG_STATUS
	EMSSerial  string // EMSSN
	EMSTenant  string // EMSID
	// Tags: FCTTAGS=1, FortiClient sends its ZTNA tags as a JWT in the
	// ZTNA_TAG notify.
	Tags bool
}

// ErrTooLong refuses data past MaxLen.
var ErrTooLong = errors.New("FCT data too long")

// Parse reads the notify's data strictly: every line KEY=value with a
// known key at most once, UID 32 hex digits, IP an IPv4 address, no
// control characters in values.
func Parse(b []byte) (*Data, error) {
	if len(b) > MaxLen {
		return nil, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLong, len(b), MaxLen)
	}
	// the trailing NUL FortiClient counts in the length (strlen+1)
	text := string(b)
	if i := strings.IndexByte(text, 0); i >= 0 {
		if strings.Trim(text[i:], "\x00") != "" {
			return nil, errors.New("FCT data: bytes after the NUL terminator")
		}
		text = text[:i]
	}
	d := &Data{}
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("FCT data: line %q is not KEY=value", clip(line))
		}
		if seen[key] {
			return nil, fmt.Errorf("FCT data: %s given twice", clip(key))
		}
		seen[key] = true
		if len(value) > maxValue {
			return nil, fmt.Errorf("FCT data: %s value of %d bytes, at most %d", key, len(value), maxValue)
		}
		for _, c := range value {
			if c < 0x20 || c == 0x7f {
				return nil, fmt.Errorf("FCT data: control character in %s", clip(key))
			}
		}
		switch key {
		case "VER":
			d.Version = value
		case "FCTVER":
			d.FCTVersion = value
		case "UID":
			if !forticlient.ValidUID(value) {
				return nil, fmt.Errorf("FCT data: UID %q is not 32 hex digits", clip(value))
			}
			d.UID = strings.ToUpper(value)
		case "IP":
			if value == "" {
				continue
			}
			ip, err := netip.ParseAddr(value)
			if err != nil || !ip.Is4() {
				return nil, fmt.Errorf("FCT data: IP %q is not an IPv4 address", clip(value))
			}
			d.IP = ip
		case "MAC":
			for _, m := range strings.Split(value, ";") {
				if m = strings.TrimSpace(m); m != "" {
					d.MACs = append(d.MACs, m)
				}
			}
		case "HOST":
			d.Host = value
		case "USER":
			d.User = value
		case "OSVER":
			d.OS = value
		case "REG_STATUS":
			d.RegStatus = value
		case "EMSSN":
			d.EMSSerial = value
		case "EMSID":
			d.EMSTenant = value
		case "FCTTAGS":
			d.Tags = value == "1"
		case "REG_PASSWD":
			// sent by some versions for EMS registration; not kept
		default:
			return nil, fmt.Errorf("FCT data: unknown key %q", clip(key))
		}
	}
	if d.UID == "" {
		return nil, errors.New("FCT data without a UID")
	}
	return d, nil
}

// Encode is the notify's data as FortiClient sends it.
func (d *Data) Encode() []byte {
	var b strings.Builder
	line := func(k, v string) { b.WriteString(k + "=" + v + "\n") }
	line("VER", cmp.Or(d.Version, "1"))
	line("FCTVER", d.FCTVersion)
	line("UID", d.UID)
	ip := ""
	if d.IP.IsValid() {
		ip = d.IP.String()
	}
	line("IP", ip)
	macs := ""
	for _, m := range d.MACs {
		macs += m + ";"
	}
	line("MAC", macs)
	line("HOST", d.Host)
	line("USER", d.User)
	line("OSVER", d.OS)
	line("REG_STATUS", cmp.Or(d.RegStatus, "0"))
	if d.EMSSerial != "" || d.EMSTenant != "" || d.Tags {
		line("EMSSN", d.EMSSerial)
		line("EMSID", d.EMSTenant)
		tags := "0"
		if d.Tags {
			tags = "1"
		}
		line("FCTTAGS", tags)
	}
	return append([]byte(b.String()), 0)
}

// clip keeps error messages short whatever the peer sent.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
