package cmdb

import (
	"fmt"
	"sort"
	"strings"
)

// Type is the kind of value an attribute holds.
type Type uint8

const (
	TString       Type = iota // string, max length; printed quoted
	TText                     // free text (comments): may hold "<…>"
	TOption                   // one of Options; printed bare
	TOptions                  // several of Options, printed bare in the list's order
	TOptionList               // several of Options in the order typed (proposals)
	TInt                      // integer in [Min, Max]
	TIPv4                     // one IPv4 address
	TIPv4Mask                 // address + netmask ("1.2.3.4 255.255.255.0" or "1.2.3.4/24")
	TIPv4Net                  // network + netmask, host bits cleared
	TIPv4Netmask              // a netmask alone
	TIPv6                     // one IPv6 address
	TIPv6Prefix               // IPv6 address/prefix
	TPassword                 // reversible secret, shown as ENC <base64>
	TPasswordHash             // one-way admin password hash, shown as ENC SH2…
	TRef                      // name of an entry of one of Refs; printed quoted
	TRefs                     // list of such names
	TStrings                  // list of free strings, printed quoted
	TMAC                      // xx:xx:xx:xx:xx:xx
	TPortRange                // list of dst[-hi][:src[-hi]] port ranges
	TTime                     // hh:mm
	TUUID                     // generated on creation
)

var typeNames = map[string]Type{
	"string": TString, "text": TText, "option": TOption, "options": TOptions, "optionlist": TOptionList,
	"int": TInt, "ipv4": TIPv4, "ipv4mask": TIPv4Mask, "ipv4net": TIPv4Net,
	"ipv4netmask": TIPv4Netmask, "ipv6": TIPv6, "ipv6prefix": TIPv6Prefix,
	"password": TPassword, "passwordhash": TPasswordHash, "ref": TRef, "refs": TRefs,
	"strings": TStrings, "mac": TMAC, "portrange": TPortRange, "time": TTime, "uuid": TUUID,
}

func (t Type) String() string {
	for n, v := range typeNames {
		if v == t {
			return n
		}
	}
	return fmt.Sprintf("type(%d)", t)
}

// Multi tells whether the type holds a list of words.
func (t Type) Multi() bool {
	switch t {
	case TOptions, TOptionList, TRefs, TStrings, TPortRange:
		return true
	}
	return false
}

// Quoted tells whether show prints the words of this type in quotes.
func (t Type) Quoted() bool {
	switch t {
	case TString, TText, TRef, TRefs, TStrings:
		return true
	}
	return false
}

// Cond is one clause of an attribute's existence condition: Attr's value is
// (or with Not, is not) one of Values.
type Cond struct {
	Attr   string
	Values []string
	Not    bool
}

// Attr is one attribute of a table.
type Attr struct {
	Name     string
	Type     Type
	Max      int   // string length; for lists, the number of items (0: no limit)
	MinLen   int   // shortest accepted string (passwords: psksecret 6..128)
	Required bool  // must have a value whenever its condition holds ("MUST be set")
	Min, Top int64 // integer range
	Options  []string
	Refs     []string // table paths a reference may name
	Default  []string // canonical words; nil is empty
	When     []Cond   // all must hold for the attribute to exist
	Help     string
	Child    *Table // nested "config" table
	// Line is where the attribute is declared, for schema errors.
	Line int
}

// Table is one configuration table: keyed (edit <key>) or a singleton.
type Table struct {
	Path      string // "vpn ipsec phase1-interface"
	Singleton bool
	KeyName   string // "name", "policyid"
	KeyType   Type   // TString or TInt
	KeyMax    int    // string key length
	KeyMin    int64
	KeyTop    int64
	Ordered   bool // order is the user's (move); else creation order too
	Attrs     []*Attr
	Help      string
	Parent    *Table // for nested tables
	byName    map[string]*Attr
	// derived once at load: the attributes with a condition, and the ones
	// generated at creation (uuid) — the hot path of a big apply skips the rest.
	condAttrs []*Attr
	genAttrs  []*Attr
	required  []*Attr
}

// derive fills the lists derived from Attrs, for t and its nested tables.
func (t *Table) derive() {
	t.condAttrs, t.genAttrs, t.required = nil, nil, nil
	for _, a := range t.Attrs {
		if a.Required {
			t.required = append(t.required, a)
		}
		if len(a.When) > 0 {
			t.condAttrs = append(t.condAttrs, a)
		}
		if a.Type == TUUID {
			t.genAttrs = append(t.genAttrs, a)
		}
		if a.Child != nil {
			a.Child.derive()
		}
	}
}

// Name is the last word of the path, used in prompts: "phase1-interface".
func (t *Table) Name() string {
	if i := strings.LastIndexByte(t.Path, ' '); i >= 0 {
		return t.Path[i+1:]
	}
	return t.Path
}

// Attr returns the attribute called name, or nil.
func (t *Table) Attr(name string) *Attr { return t.byName[name] }

// Schema is the set of modelled tables.
type Schema struct {
	tables map[string]*Table
	order  []*Table // declaration order: the order of a full backup
}

// Table returns the table at an exact path.
func (s *Schema) Table(path string) *Table { return s.tables[path] }

// Tables returns every top-level table in backup order.
func (s *Schema) Tables() []*Table { return s.order }

// Resolve finds the table named by path words, each possibly a unique
// prefix ("sys glob", "vpn ipsec phase1"), as FortiOS resolves them. It
// returns the table and the number of words used, or the index of the first
// word that matches nothing.
func (s *Schema) Resolve(words []string) (*Table, int, error) {
	prefix := ""
	for i, w := range words {
		var cands []string
		exact := ""
		for _, t := range s.order {
			p := t.Path
			if prefix != "" {
				if !strings.HasPrefix(p, prefix+" ") {
					continue
				}
				p = p[len(prefix)+1:]
			}
			seg := p
			if j := strings.IndexByte(p, ' '); j >= 0 {
				seg = p[:j]
			}
			if seg == w {
				exact = seg
			}
			if strings.HasPrefix(seg, w) && !contains(cands, seg) {
				cands = append(cands, seg)
			}
		}
		pick := exact
		if pick == "" {
			if len(cands) != 1 {
				return nil, i, fmt.Errorf("command parse error before '%s'", w)
			}
			pick = cands[0]
		}
		if prefix == "" {
			prefix = pick
		} else {
			prefix += " " + pick
		}
		if t := s.tables[prefix]; t != nil && (i == len(words)-1 || !s.hasBelow(prefix)) {
			return t, i + 1, nil
		}
	}
	return nil, len(words), fmt.Errorf("incomplete command in the end")
}

func (s *Schema) hasBelow(prefix string) bool {
	for p := range s.tables {
		if strings.HasPrefix(p, prefix+" ") {
			return true
		}
	}
	return false
}

// Children lists the next path words below prefix ("" for the top), sorted,
// for '?' and completion.
func (s *Schema) Children(prefix string) []string {
	seen := map[string]bool{}
	for p := range s.tables {
		if prefix != "" {
			if !strings.HasPrefix(p, prefix+" ") {
				continue
			}
			p = p[len(prefix)+1:]
		}
		if j := strings.IndexByte(p, ' '); j >= 0 {
			p = p[:j]
		}
		seen[p] = true
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Exists tells whether an attribute exists for an entry: its condition
// ("when mode-cfg=enable") holds.
func (t *Table) Exists(a *Attr, e *Entry) bool { return condHolds(t, e, a) }

// ResolveAttr finds an attribute by exact name or unique prefix.
func (t *Table) ResolveAttr(w string) *Attr {
	if a := t.byName[w]; a != nil {
		return a
	}
	var found *Attr
	for _, a := range t.Attrs {
		if strings.HasPrefix(a.Name, w) {
			if found != nil {
				return nil
			}
			found = a
		}
	}
	return found
}
