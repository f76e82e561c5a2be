package grammar

import (
	"reflect"
	"strings"
	"testing"
)

// fuzzSeeds are the hand-picked starting points of FuzzParse; the corpus in
// testdata/fuzz/FuzzParse holds more.
var fuzzSeeds = []string{
	"",
	"config system global\n    set hostname \"FGT\"\nend\n",
	"conf sys glob\n  sh full\n  s x\n",
	"#config-version=FGVMK6-7.6.1-FW-build3462-241022:opmode=0:vdom=0:user=admin\n#buildno=3462\n",
	"edit \"new\"_svc\nset a 'x'\"y\"z\nset b x\\ y\n",
	"set a \"x\\\"y\\'z\\\\w\\q\"\nset b 'p\\\"q'\n",
	"set a \"multi\nline\" b\nnext\n",
	"set a 'multi\nline' b\nnext\n",
	"set a \\\n  b\r\nnext\r\n",
	"se\\\nt a b",
	"set a \"unterminated\nnext\n",
	"set a 'unterminated",
	"set a \\",
	"\\",
	"set psksecret <psk>\nedit <index>\nset idp-entity-id <IDP identifier URL>\n",
	"set entity-id \"http://<FortiGate FQDN>:20443/x\"\n",
	"set fortinet-esp disable <----- Default setting.\n",
	"rename a to b\nclone a to b\nmove 1 before 2\nmove 1 after 2\nrename a to\n",
	"select a b\nclear a\nappend a b\nunselect a b\ndelete x\npurge\nabort\n",
	"get system status\nexecute ping 1.1.1.1\ndiagnose debug reset\nexit\n",
	"purge \"\" x\n",
	"set x <a>\"b c\"\nnext\n",
	"\t# comment\r\nset a b # c\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, c := range seed000 {
		f.Add(c.line)
	}
	// The shape cache keeps the history of every input of this worker; the
	// other tests must not inherit it.
	f.Cleanup(clearShapes)
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 1<<16 {
			t.Skip("input too large")
		}
		// Parse with whatever the shape cache holds from earlier inputs,
		// then again with a cold cache: the result must not depend on the
		// history of the process.
		hist := Parse(src)
		saved := saveShapes()
		clearShapes()
		fresh := Parse(src)
		par := ParseParallel(src)
		restoreShapes(saved)

		if !reflect.DeepEqual(fresh, par) {
			t.Errorf("ParseParallel differs from Parse:\n%q\n%q", dumpAll(fresh, true), dumpAll(par, true))
		}
		if !reflect.DeepEqual(hist, fresh) {
			t.Errorf("Parse depends on the shape cache:\n%q\n%q", dumpAll(hist, true), dumpAll(fresh, true))
		}

		lines := strings.Split(src, "\n")
		checkPos := func(what string, p Pos) {
			if p.Line < 1 || int(p.Line) > len(lines) || p.Col < 1 || int(p.Col) > len(lines[p.Line-1]) {
				t.Errorf("%s: position %s outside the input (%d lines)", what, p, len(lines))
			}
		}
		var prev Pos
		for i, r := range fresh {
			if r.Err != nil {
				if r.Stmt.Kind != Invalid {
					t.Errorf("result %d has both a statement and an error: %s", i, dump(r, true))
				}
				if r.Err.Msg == "" {
					t.Errorf("result %d: error without a message", i)
				}
				checkPos("error", r.Err.Pos)
			} else {
				if r.Stmt.Kind == Invalid || r.Stmt.Kind > Command {
					t.Errorf("result %d has neither a statement nor an error", i)
				}
				checkPos("statement", r.Stmt.Pos)
				wp := r.Stmt.Pos
				for _, w := range r.Stmt.Args {
					checkPos("word "+w.Text, w.Pos)
					if w.Pos.Line < wp.Line || w.Pos.Line == wp.Line && w.Pos.Col <= wp.Col {
						t.Errorf("result %d: word %q at %s is not after %s", i, w.Text, w.Pos, wp)
					}
					wp = w.Pos
				}
				if r.Stmt.Kind == Comment && strings.Contains(r.Stmt.Text, "\n") {
					t.Errorf("comment spans lines: %q", r.Stmt.Text)
				}
			}
			p := r.Stmt.Pos
			if r.Err != nil {
				p = r.Err.Pos
			}
			if p.Line < prev.Line || p.Line == prev.Line && p.Col < prev.Col {
				t.Errorf("result %d at %s comes before the previous one at %s", i, p, prev)
			}
			prev = p
		}

		// Every set statement renders back through Quote to the same words.
		for _, r := range fresh {
			if r.Err != nil || r.Stmt.Kind != Set {
				continue
			}
			parts := []string{r.Stmt.Verb}
			for _, w := range r.Stmt.Args {
				parts = append(parts, Quote(w.Text))
			}
			again := strings.Join(parts, " ")
			rs := Parse(again)
			ok := len(rs) == 1 && rs[0].Err == nil && rs[0].Stmt.Kind == Set && rs[0].Stmt.Verb == r.Stmt.Verb &&
				len(rs[0].Stmt.Args) == len(r.Stmt.Args)
			for j := 0; ok && j < len(r.Stmt.Args); j++ {
				ok = rs[0].Stmt.Args[j].Text == r.Stmt.Args[j].Text && rs[0].Stmt.Args[j].Quoted
			}
			if !ok {
				t.Errorf("%s re-rendered as %q parses as %q", dump(r, true), again, dumpAll(rs, true))
			}
		}
	})
}

func saveShapes() map[any]any {
	m := map[any]any{}
	shapes.Range(func(k, v any) bool {
		m[k] = v
		return true
	})
	return m
}

// restoreShapes puts back a saved cache, unless it grew too large.
func restoreShapes(m map[any]any) {
	clearShapes()
	if len(m) > 2000 {
		return
	}
	for k, v := range m {
		shapes.Store(k, v)
	}
}
