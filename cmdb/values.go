package cmdb

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/fosim/fosim/grammar"
)

// Error is a CLI error in FortiOS words with its return code
// ("Command fail. Return code -61").
type Error struct {
	Msg  string
	Code int
}

func (e *Error) Error() string { return e.Msg }

// FortiOS return codes (FIDELITY.md).
const (
	CodeNotFound   = -3
	CodeDuplicate  = -5
	CodePermission = -14
	CodeInUse      = -23
	CodeParse      = -61
	CodeIncomplete = -160
	CodeValue      = -651
	CodeCheck      = -7610
)

func parseErr(word string) *Error {
	return &Error{Msg: "command parse error before '" + grammar.Excerpt(word) + "'", Code: CodeParse}
}

func valueErr(word string) *Error {
	return &Error{Msg: "value parse error before '" + grammar.Excerpt(word) + "'", Code: CodeValue}
}

func incomplete() *Error {
	return &Error{Msg: "incomplete command in the end", Code: CodeIncomplete}
}

// Canon checks words typed for the attribute and returns their canonical
// form, the words show prints. Secrets are encrypted with sec (nil leaves
// them as typed, for schema checks of defaults). References are only checked
// for shape here; the session checks that they exist.
func (a *Attr) Canon(words []string, sec *Secrets) ([]string, error) {
	if len(words) == 0 {
		return nil, incomplete()
	}
	single := func() (string, error) {
		if len(words) > 1 {
			return "", parseErr(words[1])
		}
		return words[0], nil
	}
	switch a.Type {
	case TString, TText:
		w, err := single()
		if err != nil {
			return nil, err
		}
		if a.Max > 0 && len(w) > a.Max {
			return nil, valueErr(w)
		}
		return []string{w}, nil
	case TOption:
		w, err := single()
		if err != nil {
			return nil, err
		}
		o, ok := matchOption(a.Options, w)
		if !ok {
			return nil, valueErr(w)
		}
		return []string{o}, nil
	case TOptions, TOptionList:
		out := make([]string, 0, len(words))
		for _, w := range words {
			o, ok := matchOption(a.Options, w)
			if !ok {
				return nil, valueErr(w)
			}
			if !contains(out, o) {
				out = append(out, o)
			}
		}
		if a.Type == TOptions {
			a.sortOptions(out)
		}
		return out, nil
	case TInt:
		w, err := single()
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(w, 10, 64)
		if err != nil || n < a.Min || n > a.Top {
			return nil, valueErr(w)
		}
		return []string{strconv.FormatInt(n, 10)}, nil
	case TIPv4:
		w, err := single()
		if err != nil {
			return nil, err
		}
		ip, err := netip.ParseAddr(w)
		if err != nil || !ip.Is4() {
			return nil, valueErr(w)
		}
		return []string{ip.String()}, nil
	case TIPv4Mask, TIPv4Net:
		ip, bitsN, err := parseIPMask(words)
		if err != nil {
			return nil, err
		}
		if a.Type == TIPv4Net {
			ip = netip.PrefixFrom(ip, bitsN).Masked().Addr()
		}
		return []string{ip.String(), maskString(bitsN)}, nil
	case TIPv4Netmask:
		w, err := single()
		if err != nil {
			return nil, err
		}
		n, ok := parseMask(w)
		if !ok {
			return nil, valueErr(w)
		}
		return []string{maskString(n)}, nil
	case TIPv6:
		w, err := single()
		if err != nil {
			return nil, err
		}
		ip, err := netip.ParseAddr(w)
		if err != nil || !ip.Is6() || ip.Is4In6() {
			return nil, valueErr(w)
		}
		return []string{ip.String()}, nil
	case TIPv6Prefix:
		w, err := single()
		if err != nil {
			return nil, err
		}
		p, err := netip.ParsePrefix(w)
		if err != nil || !p.Addr().Is6() {
			return nil, valueErr(w)
		}
		return []string{p.String()}, nil
	case TPassword:
		if words[0] == "ENC" {
			if len(words) < 2 {
				return nil, incomplete()
			}
			if len(words) > 2 {
				return nil, parseErr(words[2])
			}
			if sec != nil {
				if _, err := sec.Decrypt(words[1]); err != nil {
					return nil, &Error{Msg: "ENC value does not decrypt with this appliance's key: value parse error before '" + grammar.Excerpt(words[1]) + "'", Code: CodeValue}
				}
			}
			return []string{"ENC", words[1]}, nil
		}
		// A refused secret is never echoed: the error names its length.
		if len(words) != 1 {
			return nil, secretErr(fmt.Sprintf("a secret is one word (quote it), %d given", len(words)))
		}
		w := words[0]
		if a.Max > 0 && len(w) > a.Max || len(w) < a.MinLen {
			return nil, secretErr(fmt.Sprintf("length %d, must be %d to %d characters", len(w), max(a.MinLen, 1), a.Max))
		}
		if sec == nil {
			return []string{w}, nil
		}
		return []string{"ENC", sec.Encrypt(w)}, nil
	case TPasswordHash:
		if words[0] == "ENC" {
			if len(words) != 2 || !validHash(words[1]) {
				return nil, valueErr(words[len(words)-1])
			}
			return []string{"ENC", words[1]}, nil
		}
		w, err := single()
		if err != nil {
			return nil, err
		}
		return []string{"ENC", HashPassword(w)}, nil
	case TRef:
		w, err := single()
		if err != nil {
			return nil, err
		}
		if len(w) > a.Max {
			return nil, valueErr(w)
		}
		return []string{w}, nil
	case TRefs, TStrings:
		out := make([]string, 0, len(words))
		for _, w := range words {
			if a.Type == TStrings && a.Max > 0 && len(w) > a.Max {
				return nil, valueErr(w)
			}
			if !contains(out, w) {
				out = append(out, w)
			}
		}
		return out, nil
	case TMAC:
		w, err := single()
		if err != nil {
			return nil, err
		}
		m, ok := parseMAC(w)
		if !ok {
			return nil, valueErr(w)
		}
		return []string{m}, nil
	case TPortRange:
		out := make([]string, 0, len(words))
		for _, w := range words {
			if !validPortRange(w) {
				return nil, valueErr(w)
			}
			out = append(out, w)
		}
		return out, nil
	case TTime:
		w, err := single()
		if err != nil {
			return nil, err
		}
		h, m, ok := strings.Cut(w, ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
			return nil, valueErr(w)
		}
		return []string{fmt.Sprintf("%02d:%02d", hh, mm)}, nil
	case TUUID:
		w, err := single()
		if err != nil {
			return nil, err
		}
		if !validUUID(w) {
			return nil, valueErr(w)
		}
		return []string{strings.ToLower(w)}, nil
	}
	return nil, fmt.Errorf("cmdb: unhandled type %v", a.Type)
}

// sortOptions puts chosen options in the order of the option list, the
// order FortiOS prints them ("set allowaccess ping https ssh").
func (a *Attr) sortOptions(chosen []string) {
	rank := func(o string) int {
		for i, x := range a.Options {
			if x == o {
				return i
			}
		}
		return len(a.Options)
	}
	slices.SortStableFunc(chosen, func(x, y string) int { return rank(x) - rank(y) })
}

// matchOption accepts an option or a unique prefix of one.
func matchOption(opts []string, w string) (string, bool) {
	found := ""
	for _, o := range opts {
		if o == w {
			return o, true
		}
		if strings.HasPrefix(o, w) {
			if found != "" {
				return "", false
			}
			found = o
		}
	}
	return found, found != ""
}

func parseIPMask(words []string) (netip.Addr, int, error) {
	first := words[0]
	if addr, pl, ok := strings.Cut(first, "/"); ok {
		if len(words) > 1 {
			return netip.Addr{}, 0, parseErr(words[1])
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil || !ip.Is4() {
			return netip.Addr{}, 0, valueErr(first)
		}
		n, ok := parseMask(pl)
		if !ok {
			return netip.Addr{}, 0, valueErr(first)
		}
		return ip, n, nil
	}
	ip, err := netip.ParseAddr(first)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, 0, valueErr(first)
	}
	if len(words) < 2 {
		return netip.Addr{}, 0, incomplete()
	}
	if len(words) > 2 {
		return netip.Addr{}, 0, parseErr(words[2])
	}
	n, ok := parseMask(words[1])
	if !ok {
		return netip.Addr{}, 0, valueErr(words[1])
	}
	return ip, n, nil
}

// parseMask accepts a prefix length ("24") or a contiguous dotted mask.
func parseMask(w string) (int, bool) {
	if n, err := strconv.Atoi(w); err == nil {
		return n, n >= 0 && n <= 32
	}
	m, err := netip.ParseAddr(w)
	if err != nil || !m.Is4() {
		return 0, false
	}
	b := m.As4()
	v := binary.BigEndian.Uint32(b[:])
	ones := bits.LeadingZeros32(^v)
	if v<<ones != 0 {
		return 0, false
	}
	return ones, true
}

func maskString(n int) string {
	var v uint32
	if n > 0 {
		v = ^uint32(0) << (32 - n)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b).String()
}

func parseMAC(w string) (string, bool) {
	parts := strings.Split(w, ":")
	if len(parts) != 6 {
		return "", false
	}
	for i, p := range parts {
		if len(p) != 2 {
			return "", false
		}
		if _, err := strconv.ParseUint(p, 16, 8); err != nil {
			return "", false
		}
		parts[i] = strings.ToLower(p)
	}
	return strings.Join(parts, ":"), true
}

// validPortRange accepts dst[-hi][:src[-hi]], ports 0-65535, low <= high.
func validPortRange(w string) bool {
	dst, src, hasSrc := strings.Cut(w, ":")
	if !validRange(dst) {
		return false
	}
	return !hasSrc || validRange(src)
}

func validRange(r string) bool {
	lo, hi, ok := strings.Cut(r, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 || a > 65535 {
		return false
	}
	if !ok {
		return true
	}
	b, err := strconv.Atoi(hi)
	return err == nil && b >= a && b <= 65535
}

func validUUID(w string) bool {
	if len(w) != 36 {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ShowWords renders canonical words for a "set" line: strings and names in
// quotes, everything else bare.
func (a *Attr) ShowWords(words []string) string {
	var b strings.Builder
	quoted := a.Type.Quoted()
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		if quoted {
			grammar.WriteQuoted(&b, w)
		} else {
			b.WriteString(w)
		}
	}
	return b.String()
}

// QuoteName renders an entry name for "edit": quoted for string keys, bare
// for numeric ones.
func (t *Table) QuoteName(key string) string {
	if t.KeyType == TInt {
		return key
	}
	return grammar.Quote(key)
}

// secretErr refuses a secret without printing it: FortiOS's
// "value parse error" with the secret masked.
func secretErr(why string) *Error {
	return &Error{Msg: "value parse error before '***' (" + why + ")", Code: CodeValue}
}

// IPv4MaskPrefix reads an "address mask" value (subnet, ip, trusthost) as
// a prefix, host bits cleared; ok is false when it is not one.
func IPv4MaskPrefix(v []string) (p netip.Prefix, ok bool) {
	if len(v) != 2 {
		return netip.Prefix{}, false
	}
	ip, err := netip.ParseAddr(v[0])
	mask, err2 := netip.ParseAddr(v[1])
	if err != nil || err2 != nil || !ip.Is4() || !mask.Is4() {
		return netip.Prefix{}, false
	}
	m := mask.As4()
	bits := 0
	for _, b := range m {
		for b&0x80 != 0 {
			bits++
			b <<= 1
		}
	}
	return netip.PrefixFrom(ip, bits).Masked(), true
}
