package cmdb

import (
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// The table definitions live in schema/*.schema, one file per config area,
// in a small line format (schema/README.md describes it).
//
//go:embed schema/*.schema
var schemaFiles embed.FS

// LoadSchema parses the embedded table definitions.
func LoadSchema() (*Schema, error) {
	s := &Schema{tables: map[string]*Table{}}
	names, err := fs.Glob(schemaFiles, "schema/*.schema")
	if err != nil {
		return nil, err
	}
	// Backup order follows the file order given in schema/order, then name.
	for _, n := range orderFiles(names) {
		b, err := schemaFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		if err := parseSchemaFile(s, n, string(b)); err != nil {
			return nil, err
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	s.order = dependencyOrder(s.order)
	for _, t := range s.order {
		t.derive()
	}
	return s, nil
}

// dependencyOrder sorts tables so that each comes after the tables it
// references (a backup must restore statement by statement), otherwise
// keeping declaration order. Tables in a reference cycle keep their
// declaration order.
func dependencyOrder(decl []*Table) []*Table {
	index := map[string]int{}
	for i, t := range decl {
		index[t.Path] = i
	}
	deps := make([]map[int]bool, len(decl))
	var collect func(i int, t *Table)
	collect = func(i int, t *Table) {
		for _, a := range t.Attrs {
			if a.Child != nil {
				collect(i, a.Child)
			}
			for _, r := range a.Refs {
				if j, ok := index[r]; ok && j != i {
					deps[i][j] = true
				}
			}
		}
	}
	for i, t := range decl {
		deps[i] = map[int]bool{}
		collect(i, t)
	}
	done := make([]bool, len(decl))
	out := make([]*Table, 0, len(decl))
	for len(out) < len(decl) {
		picked := -1
		for i := range decl {
			if done[i] {
				continue
			}
			ready := true
			for j := range deps[i] {
				if !done[j] {
					ready = false
					break
				}
			}
			if ready {
				picked = i
				break
			}
		}
		if picked < 0 { // a cycle: take the first remaining
			for i := range decl {
				if !done[i] {
					picked = i
					break
				}
			}
		}
		done[picked] = true
		out = append(out, decl[picked])
	}
	return out
}

// fileOrder is the order config areas appear in a FortiOS backup.
var fileOrder = []string{"system", "admin", "user", "vpn", "firewall"}

func orderFiles(names []string) []string {
	var out []string
	for _, area := range fileOrder {
		for _, n := range names {
			if n == "schema/"+area+".schema" {
				out = append(out, n)
			}
		}
	}
	for _, n := range names {
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// MustLoadSchema is LoadSchema for package initialisation.
func MustLoadSchema() *Schema {
	s, err := LoadSchema()
	if err != nil {
		panic(err)
	}
	return s
}

type schemaErr struct {
	file string
	line int
	msg  string
}

func (e *schemaErr) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

func parseSchemaFile(s *Schema, file, text string) error {
	type level struct {
		indent int
		t      *Table
	}
	var stack []level
	for i, raw := range strings.Split(text, "\n") {
		lineNo := i + 1
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(trimmed)
		fail := func(f string, a ...any) error {
			return &schemaErr{file, lineNo, fmt.Sprintf(f, a...)}
		}
		if indent == 0 {
			if !strings.HasPrefix(trimmed, "table ") {
				return fail("expected 'table <path>'")
			}
			t, err := parseTableHeader(strings.TrimPrefix(trimmed, "table "))
			if err != nil {
				return fail("%v", err)
			}
			if s.tables[t.Path] != nil {
				return fail("table %q declared twice", t.Path)
			}
			s.tables[t.Path] = t
			s.order = append(s.order, t)
			stack = []level{{0, t}}
			continue
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return fail("attribute outside a table")
		}
		parent := stack[len(stack)-1].t
		if strings.HasPrefix(trimmed, "config ") {
			child, err := parseTableHeader(strings.TrimPrefix(trimmed, "config "))
			if err != nil {
				return fail("%v", err)
			}
			child.Parent = parent
			a := &Attr{Name: child.Path, Child: child, Line: lineNo}
			child.Path = parent.Path + " " + child.Path
			if err := addAttr(parent, a); err != nil {
				return fail("%v", err)
			}
			stack = append(stack, level{indent, child})
			continue
		}
		a, err := parseAttrLine(trimmed)
		if err != nil {
			return fail("%v", err)
		}
		a.Line = lineNo
		if err := addAttr(parent, a); err != nil {
			return fail("%v", err)
		}
	}
	return nil
}

func addAttr(t *Table, a *Attr) error {
	if t.byName == nil {
		t.byName = map[string]*Attr{}
	}
	if t.byName[a.Name] != nil {
		return fmt.Errorf("attribute %q declared twice in %q", a.Name, t.Path)
	}
	t.byName[a.Name] = a
	t.Attrs = append(t.Attrs, a)
	return nil
}

// parseTableHeader reads "<path words> [key <attr> <type> <arg>] [ordered]
// [-- help]".
func parseTableHeader(h string) (*Table, error) {
	t := &Table{Singleton: true, byName: map[string]*Attr{}}
	if i := strings.Index(h, " -- "); i >= 0 {
		t.Help = strings.TrimSpace(h[i+4:])
		h = h[:i]
	}
	f := strings.Fields(h)
	var path []string
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "key":
			if i+3 >= len(f) {
				return nil, fmt.Errorf("key needs <attr> <type> <arg>")
			}
			t.Singleton = false
			t.KeyName = f[i+1]
			switch f[i+2] {
			case "string":
				t.KeyType = TString
				n, err := strconv.Atoi(f[i+3])
				if err != nil {
					return nil, fmt.Errorf("bad key length %q", f[i+3])
				}
				t.KeyMax = n
			case "int":
				t.KeyType = TInt
				lo, hi, err := parseRange(f[i+3])
				if err != nil {
					return nil, err
				}
				t.KeyMin, t.KeyTop = lo, hi
			default:
				return nil, fmt.Errorf("key type must be string or int")
			}
			i += 3
		case "ordered":
			t.Ordered = true
		default:
			path = append(path, f[i])
		}
	}
	if len(path) == 0 {
		return nil, fmt.Errorf("table without a path")
	}
	t.Path = strings.Join(path, " ")
	return t, nil
}

func parseRange(s string) (int64, int64, error) {
	lo, hi, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, fmt.Errorf("range %q: want MIN..MAX", s)
	}
	a, err1 := strconv.ParseInt(lo, 10, 64)
	b, err2 := strconv.ParseInt(hi, 10, 64)
	if err1 != nil || err2 != nil || a > b {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	return a, b, nil
}

// dslFields splits an attribute line into words, keeping "double quoted"
// words whole (quotes removed, `""` an empty word).
func dslFields(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '"' {
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				out = append(out, s[i+1:])
				break
			}
			out = append(out, "\x00"+s[i+1:i+1+j])
			i += j + 2
			continue
		}
		j := strings.IndexByte(s[i:], ' ')
		if j < 0 {
			out = append(out, s[i:])
			break
		}
		out = append(out, s[i:i+j])
		i += j
	}
	return out
}

// parseAttrLine reads "<name> <type> [args] [required] [= default…]
// [when a=x|y, b!=z] [-- help]".
func parseAttrLine(line string) (*Attr, error) {
	a := &Attr{}
	if i := strings.Index(line, " -- "); i >= 0 {
		a.Help = strings.TrimSpace(line[i+4:])
		line = line[:i]
	}
	var when string
	if i := strings.Index(line, " when "); i >= 0 {
		when = strings.TrimSpace(line[i+6:])
		line = line[:i]
	}
	f := dslFields(line)
	if len(f) < 2 {
		return nil, fmt.Errorf("attribute needs a name and a type")
	}
	a.Name = f[0]
	t, ok := typeNames[f[1]]
	if !ok {
		return nil, fmt.Errorf("unknown type %q", f[1])
	}
	a.Type = t
	rest := f[2:]
	takeArg := func() (string, error) {
		if len(rest) == 0 || rest[0] == "=" {
			return "", fmt.Errorf("type %s needs an argument", f[1])
		}
		v := rest[0]
		rest = rest[1:]
		return v, nil
	}
	switch t {
	case TString, TText, TPassword, TStrings:
		v, err := takeArg()
		if err != nil {
			return nil, err
		}
		if lo, hi, ok := strings.Cut(v, ".."); ok && t == TPassword {
			// password MIN..MAX: a length range (psksecret 6..128)
			min, err1 := strconv.Atoi(lo)
			max, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || min > max {
				return nil, fmt.Errorf("bad length range %q", v)
			}
			a.MinLen, a.Max = min, max
			break
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("bad length %q", v)
		}
		a.Max = n
	case TOption, TOptions, TOptionList:
		v, err := takeArg()
		if err != nil {
			return nil, err
		}
		a.Options = strings.Split(v, "|")
	case TInt:
		v, err := takeArg()
		if err != nil {
			return nil, err
		}
		if a.Min, a.Top, err = parseRange(v); err != nil {
			return nil, err
		}
	case TRef, TRefs:
		v, err := takeArg()
		if err != nil {
			return nil, err
		}
		for _, p := range strings.Split(v, "|") {
			a.Refs = append(a.Refs, strings.ReplaceAll(p, ".", " "))
		}
		a.Max = 79
	}
	if len(rest) > 0 && rest[0] == "required" {
		a.Required = true
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != "=" {
			return nil, fmt.Errorf("unexpected %q", rest[0])
		}
		for _, d := range rest[1:] {
			a.Default = append(a.Default, strings.TrimPrefix(d, "\x00"))
		}
		if len(a.Default) == 1 && a.Default[0] == "" {
			a.Default = nil
		}
	}
	if when != "" {
		for _, c := range strings.Split(when, ",") {
			c = strings.TrimSpace(c)
			var cond Cond
			k, v, ok := strings.Cut(c, "!=")
			if ok {
				cond.Not = true
			} else if k, v, ok = strings.Cut(c, "="); !ok {
				return nil, fmt.Errorf("bad condition %q", c)
			}
			cond.Attr, cond.Values = strings.TrimSpace(k), strings.Split(strings.TrimSpace(v), "|")
			a.When = append(a.When, cond)
		}
	}
	return a, nil
}

// check verifies what one file cannot: references name real tables,
// conditions name real attributes, defaults are valid values.
func (s *Schema) check() error {
	var errs []string
	var walk func(t *Table)
	walk = func(t *Table) {
		for _, a := range t.Attrs {
			if a.Child != nil {
				walk(a.Child)
				continue
			}
			for _, r := range a.Refs {
				if s.tables[r] == nil {
					errs = append(errs, fmt.Sprintf("%s %s: reference to unknown table %q", t.Path, a.Name, r))
				}
			}
			for _, c := range a.When {
				if t.byName[c.Attr] == nil {
					errs = append(errs, fmt.Sprintf("%s %s: condition on unknown attribute %q", t.Path, a.Name, c.Attr))
				}
			}
			if a.Default != nil && a.Type != TRef && a.Type != TRefs && a.Type != TPassword && a.Type != TPasswordHash {
				if _, err := a.Canon(a.Default, nil); err != nil {
					errs = append(errs, fmt.Sprintf("%s %s: default %q: %v", t.Path, a.Name, a.Default, err))
				}
			}
		}
	}
	for _, t := range s.order {
		walk(t)
	}
	if len(errs) > 0 {
		return fmt.Errorf("schema: %s", strings.Join(errs, "; "))
	}
	return nil
}
