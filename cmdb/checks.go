package cmdb

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
)

// Checks FortiOS runs when an entry is saved (next / end): the ones one
// attribute's type cannot express. A failure is printed as
//
//	node_check_object fail! for <attr> <value>
//	Attribute '<attr>' value '<value>' checking fail -7610
var entryChecks = map[string]func(v View, t *Table, e *Entry) error{
	"system settings":            checkSettings,
	"system global":              checkGlobal,
	"firewall address":           checkAddress,
	"firewall addrgrp":           checkAddrgrp,
	"firewall policy":            checkPolicy,
	"vpn ipsec phase2-interface": checkPhase2,
	"system interface":           checkInterface,
}

func checkEntry(v View, t *Table, e *Entry) error {
	if err := checkRequired(t, e); err != nil {
		return err
	}
	if fn := entryChecks[t.Path]; fn != nil {
		return fn(v, t, e)
	}
	return nil
}

// checkRequired refuses an entry missing an attribute the schema marks
// required, while the attribute's condition holds (psksecret only with
// authmethod psk).
func checkRequired(t *Table, e *Entry) error {
	for _, a := range t.required {
		if len(e.Get(a)) == 0 && condHolds(t, e, a) {
			return mustBeSet(a.Name)
		}
	}
	return nil
}

func checkFail(attr, value string) *Error {
	return &Error{
		Msg:  fmt.Sprintf("node_check_object fail! for %s %s\nAttribute '%s' value '%s' checking fail %d", attr, value, attr, value, CodeCheck),
		Code: CodeCheck,
	}
}

func mustBeSet(attr string) *Error {
	return &Error{
		Msg:  fmt.Sprintf("Attribute '%s' MUST be set.\nnode_check_object fail! for %s", attr, attr),
		Code: CodeCheck,
	}
}

// value reads an attribute of e by name ("" when the table lacks it).
func value(t *Table, e *Entry, name string) string {
	if a := t.Attr(name); a != nil {
		return e.Value(a)
	}
	return ""
}

func values(t *Table, e *Entry, name string) []string {
	if a := t.Attr(name); a != nil {
		return e.Get(a)
	}
	return nil
}

// singleton reads a singleton table's entry (nil at factory defaults).
func singletonValue(v View, s *Schema, table, attr string) string {
	t := s.Table(table)
	if t == nil {
		return ""
	}
	e := v.Entry(table, "")
	if e == nil {
		e = NewEntry("")
	}
	return value(t, e, attr)
}

// Transparent mode needs a management address (FortiOS refuses the switch
// without manageip).
func checkSettings(v View, t *Table, e *Entry) error {
	if value(t, e, "opmode") == "transparent" {
		if m := values(t, e, "manageip"); len(m) == 0 || m[0] == "0.0.0.0" {
			return checkFail("opmode", "transparent")
		}
	}
	return checkSAMLPort(v, value(t, e, "ike-tcp-port"), "", "ike-tcp-port")
}

func checkGlobal(v View, t *Table, e *Entry) error {
	return checkSAMLPort(v, "", value(t, e, "auth-ike-saml-port"), "auth-ike-saml-port")
}

// checkSAMLPort: auth-ike-saml-port (system global) must differ from
// ike-tcp-port (system settings); seed 000.
func checkSAMLPort(v View, ikeTCP, saml, which string) error {
	s := schemaOf(v)
	if s == nil {
		return nil
	}
	if ikeTCP == "" {
		ikeTCP = singletonValue(v, s, "system settings", "ike-tcp-port")
	}
	if saml == "" {
		saml = singletonValue(v, s, "system global", "auth-ike-saml-port")
	}
	if ikeTCP != "" && ikeTCP == saml {
		if which == "ike-tcp-port" {
			return checkFail(which, ikeTCP)
		}
		return checkFail(which, saml)
	}
	return nil
}

func checkAddress(_ View, t *Table, e *Entry) error {
	if value(t, e, "type") != "iprange" {
		return nil
	}
	start, end := value(t, e, "start-ip"), value(t, e, "end-ip")
	a, err1 := netip.ParseAddr(start)
	b, err2 := netip.ParseAddr(end)
	if err1 != nil || start == "0.0.0.0" && end == "0.0.0.0" {
		return mustBeSet("start-ip")
	}
	if err2 != nil || b.Less(a) {
		return checkFail("end-ip", end)
	}
	return nil
}

// checkAddrgrp: FortiOS 7.4+ tag groups. A ztna-ems-tag group's members
// must be EMS tag addresses (type dynamic, sub-type ems-tag) or
// ztna-ems-tag groups; a ztna-geo-tag group's, geography addresses or
// ztna-geo-tag groups. FortiOS's exact message for this refusal is not
// public: the generic node_check_object one names the first bad member.
func checkAddrgrp(v View, t *Table, e *Entry) error {
	category := value(t, e, "category")
	if category != "ztna-ems-tag" && category != "ztna-geo-tag" {
		return nil
	}
	s := schemaOf(v)
	if s == nil {
		return nil
	}
	addrs := s.Table("firewall address")
	for _, m := range values(t, e, "member") {
		if g := v.Entry(t.Path, m); g != nil {
			if value(t, g, "category") != category {
				return checkFail("member", m)
			}
			continue
		}
		a := v.Entry("firewall address", m)
		if a == nil || addrs == nil {
			continue // a missing reference is refused by the reference check
		}
		ok := value(addrs, a, "type") == "dynamic" && value(addrs, a, "sub-type") == "ems-tag"
		if category == "ztna-geo-tag" {
			ok = value(addrs, a, "type") == "geography"
		}
		if !ok {
			return checkFail("member", m)
		}
	}
	return nil
}

func checkPolicy(_ View, t *Table, e *Entry) error {
	for _, need := range []string{"srcintf", "dstintf"} {
		if len(values(t, e, need)) == 0 {
			return mustBeSet(need)
		}
	}
	if len(values(t, e, "srcaddr")) == 0 && len(values(t, e, "srcaddr6")) == 0 {
		return mustBeSet("srcaddr")
	}
	if len(values(t, e, "dstaddr")) == 0 && len(values(t, e, "dstaddr6")) == 0 {
		return mustBeSet("dstaddr")
	}
	if len(values(t, e, "service")) == 0 && value(t, e, "internet-service") != "enable" {
		return mustBeSet("service")
	}
	if value(t, e, "schedule") == "" {
		return mustBeSet("schedule")
	}
	return nil
}

// CodeObjectSet is FortiOS's "object set operation error" return code.
const CodeObjectSet = -54

// checkInterface refuses a primary address whose subnet overlaps another
// interface's while system settings allow-subnet-overlap is disable, in
// FortiOS's words.
func checkInterface(v View, t *Table, e *Entry) error {
	mine, ok := interfacePrefix(t, e)
	if !ok {
		return nil
	}
	s := schemaOf(v)
	if s == nil || singletonValue(v, s, "system settings", "allow-subnet-overlap") == "enable" {
		return nil
	}
	rows := v.Table(t.Path)
	if rows == nil {
		return nil
	}
	for _, k := range rows.Keys {
		if k == e.Key {
			continue
		}
		if other, ok := interfacePrefix(t, rows.ByKey[k]); ok && other.Overlaps(mine) {
			return &Error{
				Msg:  fmt.Sprintf("Subnets overlap between '%s' and the primary IP of '%s'\nobject set operation error %d, discard the setting", e.Key, k, CodeObjectSet),
				Code: CodeObjectSet,
			}
		}
	}
	return nil
}

// dependents are the tables whose entries a change of another table can
// break without being changed themselves: allow-subnet-overlap disable in
// system settings makes every existing overlap an error. The commit
// checks them whole when that table changed.
var dependents = map[string][]string{
	"system settings": {"system interface"},
	// an EMS tag address turned ipmask breaks the ztna-ems-tag groups
	// holding it
	"firewall address": {"firewall addrgrp"},
	"firewall addrgrp": {"firewall addrgrp"},
}

// recheckDependents runs the save checks of every entry of the tables
// that depend on a table the commit changed.
func recheckDependents(schema *Schema, after View, changes []Change) error {
	var done []string
	for _, c := range changes {
		for _, dep := range dependents[c.Table] {
			if slices.Contains(done, dep) {
				continue
			}
			done = append(done, dep)
			t := schema.Table(dep)
			if t == nil {
				continue
			}
			for _, e := range after.Table(dep).Ordered() {
				if err := checkEntry(after, t, e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// interfacePrefix is an interface's static primary subnet, when it has one.
func interfacePrefix(t *Table, e *Entry) (netip.Prefix, bool) {
	a := t.Attr("ip")
	if a == nil || !condHolds(t, e, a) {
		return netip.Prefix{}, false
	}
	if v := e.Get(a); len(v) == 2 && v[0] != "0.0.0.0" {
		return IPv4MaskPrefix(v)
	}
	return netip.Prefix{}, false
}

func checkPhase2(_ View, t *Table, e *Entry) error {
	if value(t, e, "phase1name") == "" {
		return mustBeSet("phase1name")
	}
	return nil
}

// schemaOf finds the schema behind a view.
func schemaOf(v View) *Schema {
	switch x := v.(type) {
	case runningView:
		return x.s.schema
	case *overlay:
		return schemaOf(x.base)
	}
	return nil
}

// uuidRand buffers crypto/rand: a big apply makes a uuid per entry, and a
// system call each would show.
var uuidRand = struct {
	sync.Mutex
	r *bufio.Reader
}{r: bufio.NewReaderSize(rand.Reader, 4096)}

// newUUID returns a random (version 4) UUID as FortiOS prints it.
func newUUID() string {
	var b [16]byte
	uuidRand.Lock()
	_, err := io.ReadFull(uuidRand.r, b[:])
	uuidRand.Unlock()
	if err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
