package cmdb

import (
	"net/netip"
	"slices"
)

// Reader reads a view's values by table and attribute name, as the
// daemons read their configuration: an unknown table or attribute reads
// as nothing, an unset attribute as its default.
type Reader struct {
	Schema *Schema
	View   View
}

// Values are attr's words in e of table.
func (r Reader) Values(table string, e *Entry, attr string) []string {
	t := r.Schema.Table(table)
	if t == nil || e == nil {
		return nil
	}
	a := t.Attr(attr)
	if a == nil {
		return nil
	}
	return e.Get(a)
}

// Value is attr's first word in e of table.
func (r Reader) Value(table string, e *Entry, attr string) string {
	if v := r.Values(table, e, attr); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Single is attr of a singleton table ("system settings"): its default
// when the table was never configured.
func (r Reader) Single(table, attr string) string {
	return singletonValue(r.View, r.Schema, table, attr)
}

// InterfacesAllowing are the system interfaces whose allowaccess has
// access ("ssh", "https"), with their static address (invalid when they
// have none): where an admin service listens.
func (r Reader) InterfacesAllowing(access string) map[string]netip.Addr {
	out := map[string]netip.Addr{}
	rows := r.View.Table("system interface")
	if rows == nil {
		return out
	}
	for name, e := range rows.ByKey {
		if !slices.Contains(r.Values("system interface", e, "allowaccess"), access) {
			continue
		}
		var a netip.Addr
		if ip := r.Values("system interface", e, "ip"); len(ip) == 2 && r.Value("system interface", e, "mode") == "static" {
			a, _ = netip.ParseAddr(ip[0])
		}
		out[name] = a
	}
	return out
}
