// Package forticlient holds the formats of FortiClient's identifiers that
// both ends of fosim check: the FortiClient UID, a MAC address as
// FortiClient and EMS write it, and an EMS tag name. The EMS peer checks
// them when it stores an endpoint or a rule; the FortiGate (fcnacd, iked)
// checks them again in what a peer sends, since peer data is input.
package forticlient

import (
	"encoding/hex"
	"net"
	"strings"
)

// MaxTagName keeps the address FortiOS builds from a tag,
// MAC_EMS<n>_ZTNA_<tag>, within firewall address's 79 characters.
const MaxTagName = 64

// ValidUID tells whether s is a FortiClient UID: 32 hex digits, either
// case.
func ValidUID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// CanonMAC reads xx:xx:xx:xx:xx:xx or FortiClient's xx-xx-xx-xx-xx-xx
// and returns it lower case with colons.
func CanonMAC(s string) (string, bool) {
	// net.ParseMAC also reads Cisco's dotted form and longer hardware
	// addresses, which neither FortiClient nor EMS write.
	if len(s) != len("00:00:00:00:00:00") || strings.Contains(s, ".") {
		return "", false
	}
	mac, err := net.ParseMAC(s)
	if err != nil {
		return "", false
	}
	return mac.String(), true
}

// ValidTagName tells whether name can be an EMS tag: 1 to MaxTagName
// characters, no blanks, quotes, backslashes or NULs, since FortiOS puts
// it in an address name.
func ValidTagName(name string) bool {
	return name != "" && len(name) <= MaxTagName && !strings.ContainsAny(name, " \t\r\n\"'\\\x00")
}
