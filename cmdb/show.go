package cmdb

import (
	"fmt"
	"strings"
)

// Version strings a FortiGate-VM 7.6.1 prints; shared by show, backups and
// "get system status".
const (
	Firmware     = "FGVMK6-7.6.1-FW-build3462-241022"
	BuildNumber  = "3462"
	VersionShort = "v7.6.1,build3462,241022 (GA.F)"
)

// ConfigHeader is the header of "show full-configuration" and of backups.
func ConfigHeader(v View, s *Schema, user string, revision uint64) string {
	opmode := 0
	if singletonValue(v, s, "system settings", "opmode") == "transparent" {
		opmode = 1
	}
	return fmt.Sprintf("#config-version=%s:opmode=%d:vdom=0:user=%s\n#conf_file_ver=%d\n#buildno=%s\n#global_vdom=1\n",
		Firmware, opmode, user, revision, BuildNumber)
}

// WriteConfig prints every table of a view in backup order: non-default
// values only, or every value with full.
func WriteConfig(b *strings.Builder, s *Schema, v View, full bool) {
	for _, t := range s.order {
		rows := v.Table(t.Path)
		if !full && rows.Len() == 0 {
			continue
		}
		if !full && t.Singleton {
			if e := rows.ByKey[""]; e == nil || (len(e.Values) == 0 && len(e.Children) == 0) {
				continue
			}
		}
		WriteTable(b, t, rows, full)
	}
}

// WriteTable prints "config <path>" … "end" for one table.
func WriteTable(b *strings.Builder, t *Table, rows *Rows, full bool) {
	writeBlock(b, t, rows, full, 0, t.Path)
}

// WriteEntry prints one entry of a keyed table under its table's path, as
// "show" does inside an edit level.
func WriteEntry(b *strings.Builder, t *Table, e *Entry, full bool) {
	r := NewRows()
	r.Put(e)
	writeBlock(b, t, r, full, 0, t.Path)
}

func indent(b *strings.Builder, n int) {
	for i := 0; i < n; i++ {
		b.WriteByte(' ')
	}
}

func writeBlock(b *strings.Builder, t *Table, rows *Rows, full bool, depth int, title string) {
	if rows == nil {
		rows = NewRows()
	}
	indent(b, depth)
	b.WriteString("config ")
	b.WriteString(title)
	b.WriteByte('\n')
	if t.Singleton {
		e := rows.ByKey[""]
		if e == nil {
			e = NewEntry("")
		}
		writeAttrs(b, t, e, full, depth+4)
	} else {
		for _, e := range rows.Ordered() {
			indent(b, depth+4)
			b.WriteString("edit ")
			b.WriteString(t.QuoteName(e.Key))
			b.WriteByte('\n')
			writeAttrs(b, t, e, full, depth+8)
			indent(b, depth+4)
			b.WriteString("next\n")
		}
	}
	indent(b, depth)
	b.WriteString("end\n")
}

func writeAttrs(b *strings.Builder, t *Table, e *Entry, full bool, depth int) {
	for _, a := range t.Attrs {
		if !condHolds(t, e, a) {
			continue
		}
		if a.Child != nil {
			rows := e.Children[a.Name]
			if rows.Len() > 0 || full {
				if rows == nil {
					rows = NewRows()
				}
				writeBlock(b, a.Child, rows, full, depth, a.Name)
			}
			continue
		}
		vals, ok := e.Values[a.Name]
		if !ok {
			if !full {
				continue
			}
			vals = a.Default
		}
		indent(b, depth)
		if len(vals) == 0 {
			if a.Type.Multi() || !a.Type.Quoted() {
				b.WriteString("unset ")
				b.WriteString(a.Name)
				b.WriteByte('\n')
				continue
			}
			b.WriteString("set ")
			b.WriteString(a.Name)
			b.WriteString(" \"\"\n")
			continue
		}
		b.WriteString("set ")
		b.WriteString(a.Name)
		b.WriteByte(' ')
		b.WriteString(a.ShowWords(vals))
		b.WriteByte('\n')
	}
}

// getWidth is the column FortiOS pads attribute names to in "get".
const getWidth = 20

// WriteGet prints one entry as "get" does: "name : value" lines.
func WriteGet(b *strings.Builder, t *Table, e *Entry) {
	if !t.Singleton {
		getLine(b, t.KeyName, e.Key)
	}
	for _, a := range t.Attrs {
		if !condHolds(t, e, a) {
			continue
		}
		if a.Child != nil {
			rows := e.Children[a.Name]
			b.WriteString(a.Name)
			b.WriteString(":\n")
			for _, c := range rows.Ordered() {
				fmt.Fprintf(b, "    == [ %s ]\n", c.Key)
				if !a.Child.Singleton {
					fmt.Fprintf(b, "    %s: %s\n", a.Child.KeyName, c.Key)
				}
			}
			continue
		}
		vals := e.Get(a)
		var v string
		switch {
		case a.Type == TRefs || a.Type == TStrings:
			v = a.ShowWords(vals)
		case a.Type == TPassword || a.Type == TPasswordHash:
			if len(vals) > 0 {
				v = "*"
			}
		default:
			v = strings.Join(vals, " ")
		}
		getLine(b, a.Name, v)
	}
}

func getLine(b *strings.Builder, name, v string) {
	b.WriteString(name)
	indent(b, getWidth-len(name))
	if len(name) >= getWidth {
		b.WriteByte(' ')
	}
	b.WriteString(": ")
	b.WriteString(v)
	b.WriteByte('\n')
}

// WriteGetTable prints "get" of a keyed table: each entry's key lines.
func WriteGetTable(b *strings.Builder, t *Table, rows *Rows) {
	for _, e := range rows.Ordered() {
		fmt.Fprintf(b, "== [ %s ]\n", e.Key)
		fmt.Fprintf(b, "%s: %s\n", t.KeyName, e.Key)
	}
}
