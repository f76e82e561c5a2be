package grammar

import (
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dumpWord renders a word compactly for table comparisons:
//
//	text@line:col           a bare word
//	"te xt"@line:col        a bare word whose text needs quoting to be read
//	Q"text"@line:col        a word written in quotes (Word.Quoted)
//	…{<Placeholder>}        Word.Placeholder is set
func dumpWord(w Word, withPos bool) string {
	var s string
	switch {
	case w.Quoted:
		s = "Q" + strconv.Quote(w.Text)
	case w.Text == "" || strings.ContainsAny(w.Text, " \t\r\n\"'\\@{}") || strconv.Quote(w.Text) != `"`+w.Text+`"`:
		s = strconv.Quote(w.Text)
	default:
		s = w.Text
	}
	if withPos {
		s += "@" + w.Pos.String()
	}
	if w.Placeholder() != "" {
		s += "{" + w.Placeholder() + "}"
	}
	return s
}

// dump renders one result:
//
//	line:col kind[(verb)] args… [full] [before]
//	line:col comment "text"
//	line:col ERR near="x" message
//
// The verb is shown only when it differs from the kind's name.
func dump(r Result, withPos bool) string {
	var b strings.Builder
	if r.Err != nil {
		if withPos {
			b.WriteString(r.Err.Pos.String() + " ")
		}
		fmt.Fprintf(&b, "ERR near=%q %s", r.Err.Near, r.Err.Msg)
		return b.String()
	}
	s := r.Stmt
	if withPos {
		b.WriteString(s.Pos.String() + " ")
	}
	b.WriteString(s.Kind.String())
	if s.Kind == Comment {
		b.WriteString(" " + strconv.Quote(s.Text))
		return b.String()
	}
	if s.Verb != s.Kind.String() {
		b.WriteString("(" + s.Verb + ")")
	}
	for _, w := range s.Args {
		b.WriteString(" " + dumpWord(w, withPos))
	}
	if s.Full {
		b.WriteString(" full")
	}
	if s.Before {
		b.WriteString(" before")
	}
	return b.String()
}

func dumpAll(rs []Result, withPos bool) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = dump(r, withPos)
	}
	return out
}

func checkDump(t *testing.T, src string, got []Result, want []string, withPos bool) {
	t.Helper()
	g := dumpAll(got, withPos)
	if len(want) == 0 {
		want = []string{}
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("Parse(%q):\n got: %s\nwant: %s", src, strings.Join(g, "\n      "), strings.Join(want, "\n      "))
	}
}

type parseCase struct {
	name string
	src  string
	want []string
}

func runCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkDump(t, c.src, Parse(c.src), c.want, true)
		})
	}
}

func TestStatementKinds(t *testing.T) {
	runCases(t, []parseCase{
		{"config one word", "config firewall", []string{"1:1 config firewall@1:8"}},
		{"config two words", "config system global", []string{"1:1 config system@1:8 global@1:15"}},
		{"config three words", "config vpn ipsec phase1-interface",
			[]string{"1:1 config vpn@1:8 ipsec@1:12 phase1-interface@1:18"}},
		{"config quoted path word", `config "system" global`, []string{`1:1 config Q"system"@1:8 global@1:17`}},
		{"edit quoted", `edit "dialup"`, []string{`1:1 edit Q"dialup"@1:6`}},
		{"edit number", "edit 0", []string{"1:1 edit 0@1:6"}},
		{"edit keyword in quotes", `edit "next"`, []string{`1:1 edit Q"next"@1:6`}},
		{"set one value", "set hostname FGT", []string{"1:1 set hostname@1:5 FGT@1:14"}},
		{"set no value", "set hostname", []string{"1:1 set hostname@1:5"}},
		{"set several values", `set member "a" "b" c`,
			[]string{`1:1 set member@1:5 Q"a"@1:12 Q"b"@1:16 c@1:20`}},
		{"set keyword values", "set comments next end to", []string{"1:1 set comments@1:5 next@1:14 end@1:19 to@1:23"}},
		{"select", "select allowaccess ping https",
			[]string{"1:1 set(select) allowaccess@1:8 ping@1:20 https@1:25"}},
		{"unset", "unset hostname", []string{"1:1 unset hostname@1:7"}},
		{"clear", "clear hostname", []string{"1:1 unset(clear) hostname@1:7"}},
		{"append", `append member "c"`, []string{`1:1 append member@1:8 Q"c"@1:15`}},
		{"append two", `append member c d`, []string{`1:1 append member@1:8 c@1:15 d@1:17`}},
		{"unselect", "unselect allowaccess ping", []string{"1:1 unselect allowaccess@1:10 ping@1:22"}},
		{"next", "next", []string{"1:1 next"}},
		{"end", "end", []string{"1:1 end"}},
		{"abort", "abort", []string{"1:1 abort"}},
		{"delete", `delete "old"`, []string{`1:1 delete Q"old"@1:8`}},
		{"purge", "purge", []string{"1:1 purge"}},
		{"rename", "rename a to b", []string{"1:1 rename a@1:8 b@1:13"}},
		{"rename quoted", `rename "a" to "to"`, []string{`1:1 rename Q"a"@1:8 Q"to"@1:15`}},
		{"clone", `clone "a b" to "c"`, []string{`1:1 clone Q"a b"@1:7 Q"c"@1:16`}},
		{"move before", "move 3 before 4", []string{"1:1 move 3@1:6 4@1:15 before"}},
		{"move after", "move 3 after 4", []string{"1:1 move 3@1:6 4@1:14"}},
		{"show", "show", []string{"1:1 show"}},
		{"show path", "show system interface", []string{"1:1 show system@1:6 interface@1:13"}},
		{"show full-configuration", "show full-configuration", []string{"1:1 show full"}},
		{"show full-configuration path", "show full-configuration system global",
			[]string{"1:1 show system@1:25 global@1:32 full"}},
		{"show quoted full-configuration is a path", `show "full-configuration"`,
			[]string{`1:1 show Q"full-configuration"@1:6`}},
		{"show full-configuration later in path", "show system full-configuration",
			[]string{"1:1 show system@1:6 full-configuration@1:13"}},
		{"sh full", "sh full", []string{"1:1 show full"}},
		{"sh fu path", "sh fu system dns", []string{"1:1 show system@1:7 dns@1:14 full"}},
		{"show full-config abbreviated", "show full-config", []string{"1:1 show full"}},
		{"show one letter is not expanded", "sh f", []string{"1:1 show f@1:4"}},
		{"get", "get", []string{"1:1 get"}},
		{"get path", "get system status", []string{"1:1 get system@1:5 status@1:12"}},
		{"get long path", "get router info routing-table all",
			[]string{"1:1 get router@1:5 info@1:12 routing-table@1:17 all@1:31"}},
		{"execute", "execute ping 8.8.8.8", []string{"1:1 command(execute) ping@1:9 8.8.8.8@1:14"}},
		{"execute alone", "execute", []string{"1:1 command(execute)"}},
		{"diagnose", `diagnose vpn ike gateway list name "dialup_0"`,
			[]string{`1:1 command(diagnose) vpn@1:10 ike@1:14 gateway@1:18 list@1:26 name@1:31 Q"dialup_0"@1:36`}},
		{"diagnose keeps keywords", "diagnose debug reset end next",
			[]string{"1:1 command(diagnose) debug@1:10 reset@1:16 end@1:22 next@1:26"}},
		{"exit", "exit", []string{"1:1 command(exit)"}},
		{"quit", "quit", []string{"1:1 command(quit)"}},
		{"tree", "tree system", []string{"1:1 command(tree) system@1:6"}},
		{"sudo", "sudo global show", []string{"1:1 command(sudo) global@1:6 show@1:13"}},
		{"comment", "# a comment", []string{`1:1 comment " a comment"`}},
		{"comment indented", "   #x y", []string{`1:4 comment "x y"`}},
		{"comment CRLF", "#x\r\nnext\r\n", []string{`1:1 comment "x"`, "2:1 next"}},
		{"comment empty", "#", []string{`1:1 comment ""`}},
		{"hash inside a statement is a word", "set a b # c", []string{"1:1 set a@1:5 b@1:7 #@1:9 c@1:11"}},
		{"config-version header",
			"#config-version=FGVMK6-7.6.1-FW-build3462-241022:opmode=0:vdom=0:user=admin\n" +
				"#conf_file_ver=284348309897542\n#buildno=3462\n#global_vdom=1\nconfig system global\n",
			[]string{
				`1:1 comment "config-version=FGVMK6-7.6.1-FW-build3462-241022:opmode=0:vdom=0:user=admin"`,
				`2:1 comment "conf_file_ver=284348309897542"`,
				`3:1 comment "buildno=3462"`,
				`4:1 comment "global_vdom=1"`,
				"5:1 config system@5:8 global@5:15",
			}},
		{"rename keywords as names", "rename to to to", []string{"1:1 rename to@1:8 to@1:14"}},
		{"move keywords as names", "move before before after", []string{"1:1 move before@1:6 after@1:20 before"}},
		{"clone keywords as names", "clone to to after", []string{"1:1 clone to@1:7 after@1:13"}},
		{"set keyword attribute", "set to before", []string{"1:1 set to@1:5 before@1:8"}},
		{"delete keyword name", "delete next", []string{"1:1 delete next@1:8"}},
		{"unselect keyword values", "unselect set set", []string{"1:1 unselect set@1:10 set@1:14"}},
		{"show full-configuration of full-configuration", "show full-configuration full-configuration",
			[]string{"1:1 show full-configuration@1:25 full"}},
		{"get full-configuration is a path", "get full-configuration", []string{"1:1 get full-configuration@1:5"}},
		{"empty input", "", nil},
		{"blank lines", "\n \n\t\n\r\n", nil},
		{"whole block", "config system interface\n    edit \"port1\"\n        set ip 10.0.0.1 255.255.255.0\n    next\nend\n",
			[]string{
				"1:1 config system@1:8 interface@1:15",
				`2:5 edit Q"port1"@2:10`,
				"3:9 set ip@3:13 10.0.0.1@3:16 255.255.255.0@3:25",
				"4:5 next",
				"5:1 end",
			}},
	})
}

func TestAbbreviation(t *testing.T) {
	runCases(t, []parseCase{
		{"conf", "conf sys glob", []string{"1:1 config sys@1:6 glob@1:10"}},
		{"co", "co system", []string{"1:1 config system@1:4"}},
		{"sh", "sh", []string{"1:1 show"}},
		{"sh path", "sh system global", []string{"1:1 show system@1:4 global@1:11"}},
		{"g", "g system status", []string{"1:1 get system@1:3 status@1:10"}},
		{"ed", "ed 1", []string{"1:1 edit 1@1:4"}},
		{"en", "en", []string{"1:1 end"}},
		{"n", "n", []string{"1:1 next"}},
		{"ab", "ab", []string{"1:1 abort"}},
		{"ap", "ap member x", []string{"1:1 append member@1:4 x@1:11"}},
		{"del", "del 1", []string{"1:1 delete 1@1:5"}},
		{"sel", "sel a b", []string{"1:1 set(select) a@1:5 b@1:7"}},
		{"cle", "cle a", []string{"1:1 unset(clear) a@1:5"}},
		{"exec", "exec ping x", []string{"1:1 command(execute) ping@1:6 x@1:11"}},
		{"diag", "diag debug reset", []string{"1:1 command(diagnose) debug@1:6 reset@1:12"}},
		{"pu", "pu", []string{"1:1 purge"}},
		{"ren", "ren a to b", []string{"1:1 rename a@1:5 b@1:10"}},
		{"m", "m 1 after 2", []string{"1:1 move 1@1:3 2@1:11"}},
		{"ambiguous s", "s hostname x", []string{`1:1 ERR near="s" command parse error before 's'`}},
		{"ambiguous se", "se hostname x", []string{`1:1 ERR near="se" command parse error before 'se'`}},
		{"ambiguous ex", "ex ping x", []string{`1:1 ERR near="ex" command parse error before 'ex'`}},
		{"ambiguous cl", "cl a x", []string{`1:1 ERR near="cl" command parse error before 'cl'`}},
		{"ambiguous uns", "uns a x", []string{`1:1 ERR near="uns" command parse error before 'uns'`}},
		{"ambiguous d", "d a x", []string{`1:1 ERR near="d" command parse error before 'd'`}},
		{"only the first word", "set e x", []string{"1:1 set e@1:5 x@1:7"}},
		{"quoted verb is not a keyword", `"set" a b`, []string{`1:1 ERR near="set" command parse error before 'set'`}},
		{"quoted abbreviation is not expanded", `"conf" a`, []string{`1:1 ERR near="conf" command parse error before 'conf'`}},
		{"case sensitive", "SET a b", []string{`1:1 ERR near="SET" command parse error before 'SET'`}},
		{"abbreviation then flattened block", "conf system global set a 1 end",
			[]string{"1:1 config system@1:6 global@1:13", "1:20 set a@1:24 1@1:26", "1:28 end"}},
	})
}

func TestExpandVerb(t *testing.T) {
	for in, want := range map[string]string{
		"conf": "config", "sh": "show", "s": "s", "set": "set", "sel": "select", "xyz": "xyz",
		"e": "e", "ed": "edit", "en": "end", "exe": "execute", "exi": "exit", "q": "quit", "t": "tree",
		"su": "sudo", "g": "get", "unset": "unset", "unse": "unse", "unsel": "unselect",
	} {
		if got := ExpandVerb(in); got != want {
			t.Errorf("ExpandVerb(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuoting(t *testing.T) {
	runCases(t, []parseCase{
		// Double quotes: \" \' \\ are unescaped; other backslashes stay.
		{"dq escaped quote", `set a "x\"y"`, []string{`1:1 set a@1:5 Q"x\"y"@1:7`}},
		{"dq escaped apostrophe", `set a "x\'y"`, []string{`1:1 set a@1:5 Q"x'y"@1:7`}},
		{"dq escaped backslash", `set a "x\\y"`, []string{`1:1 set a@1:5 Q"x\\y"@1:7`}},
		{"dq other backslash stays", `set a "x\qy"`, []string{`1:1 set a@1:5 Q"x\\qy"@1:7`}},
		{"dq backslash n stays", `set a "x\ny"`, []string{`1:1 set a@1:5 Q"x\\ny"@1:7`}},
		{"dq windows path", `set a "C:\path\to"`, []string{`1:1 set a@1:5 Q"C:\\path\\to"@1:7`}},
		{"dq apostrophe literal", `set a "it's"`, []string{`1:1 set a@1:5 Q"it's"@1:7`}},
		{"dq spaces", `set a "x  y"`, []string{`1:1 set a@1:5 Q"x  y"@1:7`}},
		{"dq empty", `set a ""`, []string{`1:1 set a@1:5 Q""@1:7`}},
		{"dq backslash before newline stays", "set a \"x\\\ny\"", []string{`1:1 set a@1:5 Q"x\\\ny"@1:7`}},
		// Single quotes: literal.
		{"sq backslash quote literal", `set a 'x\"y'`, []string{`1:1 set a@1:5 Q"x\\\"y"@1:7`}},
		{"sq double backslash literal", `set a 'x\\y'`, []string{`1:1 set a@1:5 Q"x\\\\y"@1:7`}},
		{"sq double quotes inside", `set a 'say "hi"'`, []string{`1:1 set a@1:5 Q"say \"hi\""@1:7`}},
		{"sq empty", `set a ''`, []string{`1:1 set a@1:5 Q""@1:7`}},
		// Unquoted: \X → X.
		{"bare escaped quote", `set a x\"y`, []string{`1:1 set a@1:5 "x\"y"@1:7`}},
		{"bare escaped space", `set a x\ y`, []string{`1:1 set a@1:5 "x y"@1:7`}},
		{"bare escaped backslash", `set a \\`, []string{`1:1 set a@1:5 "\\"@1:7`}},
		{"bare escaped letter", `set a \q`, []string{`1:1 set a@1:5 q@1:7`}},
		{"bare escaped apostrophe", `set a don\'t`, []string{`1:1 set a@1:5 "don't"@1:7`}},
		// Concatenation.
		{"quoted then bare", `edit "new"_svc`, []string{`1:1 edit Q"new_svc"@1:6`}},
		{"bare then quoted", `set a pre"mid"post`, []string{`1:1 set a@1:5 Q"premidpost"@1:7`}},
		{"single then double then bare", `set a 'x'"y"z`, []string{`1:1 set a@1:5 Q"xyz"@1:7`}},
		{"quoted parts with spaces", `set a "a b"' c'`, []string{`1:1 set a@1:5 Q"a b c"@1:7`}},
		// Quoted strings spanning lines.
		{"dq spans lines", "set comments \"line1\nline2\" x\nnext",
			[]string{`1:1 set comments@1:5 Q"line1\nline2"@1:14 x@2:8`, "3:1 next"}},
		{"sq spans lines", "set a 'p\nq' r\nend",
			[]string{`1:1 set a@1:5 Q"p\nq"@1:7 r@2:4`, "3:1 end"}},
		{"dq spans three lines", "set a \"1\n2\n3\"\n  next",
			[]string{`1:1 set a@1:5 Q"1\n2\n3"@1:7`, "4:3 next"}},
		{"dq with CRLF inside", "set a \"x\r\ny\"\r\nnext\r\n",
			[]string{`1:1 set a@1:5 Q"x\r\ny"@1:7`, "3:1 next"}},
		{"sq spanning lines then column", "set a 'x\nyy' 'z'\nnext",
			[]string{`1:1 set a@1:5 Q"x\nyy"@1:7 Q"z"@2:5`, "3:1 next"}},
		// Backslash-newline continuation.
		{"continuation between words", "set a \\\n  b", []string{"1:1 set a@1:5 b@2:3"}},
		{"continuation then next line", "set a \\\n b\nnext", []string{"1:1 set a@1:5 b@2:2", "3:1 next"}},
		{"continuation joins a word", "set a\\\nb c", []string{"1:1 set ab@1:5 c@2:3"}},
		{"continuation inside the verb", "se\\\nt a b", []string{"1:1 set a@2:3 b@2:5"}},
		{"continuation CRLF", "set a \\\r\n b\r\nnext", []string{"1:1 set a@1:5 b@2:2", "3:1 next"}},
		{"continuation twice", "set a \\\n b \\\n c", []string{"1:1 set a@1:5 b@2:2 c@3:2"}},
		{"continuation at start of line", "\\\nset a b", []string{"2:1 set a@2:5 b@2:7"}},
		// Whitespace.
		{"tabs", "\tset\ta\tb", []string{"1:2 set a@1:6 b@1:8"}},
		{"CRLF lines", "set a b\r\nnext\r\n", []string{"1:1 set a@1:5 b@1:7", "2:1 next"}},
		{"trailing spaces", "set a b   \nnext   ", []string{"1:1 set a@1:5 b@1:7", "2:1 next"}},
	})
}

func TestErrors(t *testing.T) {
	runCases(t, []parseCase{
		{"unknown word", "xyz", []string{`1:1 ERR near="xyz" command parse error before 'xyz'`}},
		{"unknown word with args", "  foo bar baz", []string{`1:3 ERR near="foo" command parse error before 'foo'`}},
		{"unknown on second line", "set a b\n  ping 1.1.1.1",
			[]string{"1:1 set a@1:5 b@1:7", `2:3 ERR near="ping" command parse error before 'ping'`}},
		{"extra word after next", "next now", []string{`1:6 ERR near="now" command parse error before 'now'`}},
		{"extra word after end", "end x", []string{`1:5 ERR near="x" command parse error before 'x'`}},
		{"extra word after purge", "purge all", []string{`1:7 ERR near="all" command parse error before 'all'`}},
		{"edit two names", "edit a b", []string{`1:8 ERR near="b" command parse error before 'b'`}},
		{"unset two words", "unset a b", []string{`1:9 ERR near="b" command parse error before 'b'`}},
		{"delete two names", "delete a b", []string{`1:10 ERR near="b" command parse error before 'b'`}},
		{"rename without to", "rename a b", []string{`1:10 ERR near="b" command parse error before 'b'`}},
		{"rename extra", "rename a to b c", []string{`1:15 ERR near="c" command parse error before 'c'`}},
		{"move without before", "move a b c", []string{`1:8 ERR near="b" command parse error before 'b'`}},
		{"move extra", "move a before b c", []string{`1:17 ERR near="c" command parse error before 'c'`}},
		{"quoted to", `rename a "to" b`, []string{`1:10 ERR near="to" command parse error before 'to'`}},
		{"set alone", "set", []string{`1:1 ERR near="" incomplete command in the end`}},
		{"rename a to", "rename a to", []string{`1:10 ERR near="" incomplete command in the end`}},
		{"rename a", "rename a", []string{`1:8 ERR near="" incomplete command in the end`}},
		{"clone a to", "clone a to", []string{`1:9 ERR near="" incomplete command in the end`}},
		{"move a before", "move a before", []string{`1:8 ERR near="" incomplete command in the end`}},
		{"config alone", "config", []string{`1:1 ERR near="" incomplete command in the end`}},
		{"conf alone", "conf", []string{`1:1 ERR near="" incomplete command in the end`}},
		{"edit alone", "edit", []string{`1:1 ERR near="" incomplete command in the end`}},
		{"delete alone", "delete", []string{`1:1 ERR near="" incomplete command in the end`}},
		{"unset alone", "unset", []string{`1:1 ERR near="" incomplete command in the end`}},
		{"append without value", "append member", []string{`1:8 ERR near="" incomplete command in the end`}},
		{"unselect without value", "unselect member", []string{`1:10 ERR near="" incomplete command in the end`}},
		{"unterminated double quote", `set a "abc`, []string{`1:7 ERR near="abc" unterminated quoted string`}},
		{"unterminated single quote", `set a 'abc`, []string{`1:7 ERR near="abc" unterminated quoted string`}},
		{"unterminated escaped quote", `set a "abc\"`, []string{`1:7 ERR near="abc\"" unterminated quoted string`}},
		{"unterminated quote on a later line", "next\nset a \"b\nend\n",
			[]string{"1:1 next", `2:7 ERR near="b\nend\n" unterminated quoted string`}},
		{"unterminated quote as first word", `"abc`, []string{`1:1 ERR near="abc" unterminated quoted string`}},
		{"parsing goes on after an error", "foo\nset a b\nset\nnext",
			[]string{`1:1 ERR near="foo" command parse error before 'foo'`, "2:1 set a@2:5 b@2:7",
				`3:1 ERR near="" incomplete command in the end`, "4:1 next"}},
		{"error after a multi-line quote", "set a \"x\ny\"\n  bad",
			[]string{`1:1 set a@1:5 Q"x\ny"@1:7`, `3:3 ERR near="bad" command parse error before 'bad'`}},
		{"error after a continuation", "set a \\\n b\n bad",
			[]string{"1:1 set a@1:5 b@2:2", `3:2 ERR near="bad" command parse error before 'bad'`}},
	})
}

func TestErrorValues(t *testing.T) {
	rs := Parse("next\n  rename x to")
	if len(rs) != 2 || rs[1].Err == nil {
		t.Fatalf("got %v", dumpAll(rs, true))
	}
	e := rs[1].Err
	if got, want := e.Error(), "2:12: incomplete command in the end"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if (Pos{Line: 3, Col: 14}).String() != "3:14" {
		t.Errorf("Pos.String")
	}
	if Kind(200).String() != "kind(200)" || Set.String() != "set" || Command.String() != "command" {
		t.Errorf("Kind.String")
	}
	if rs[0].Err != nil || rs[0].Stmt.Kind != Next {
		t.Errorf("first = %v", dump(rs[0], true))
	}
}

func TestPlaceholders(t *testing.T) {
	runCases(t, []parseCase{
		{"psk", "set psksecret <psk>",
			[]string{`1:15 ERR near="<psk>" placeholder <psk> must be replaced with a real value`}},
		{"index", "edit <index>",
			[]string{`1:6 ERR near="<index>" placeholder <index> must be replaced with a real value`}},
		{"placeholder with spaces", "set idp-entity-id <IDP identifier URL>",
			[]string{`1:19 ERR near="<IDP identifier URL>" placeholder <IDP identifier URL> must be replaced with a real value`}},
		{"placeholder on its line", "config user saml\n  edit x\n    set idp-entity-id <IDP identifier URL>\n  next\nend",
			[]string{
				"1:1 config user@1:8 saml@1:13",
				"2:3 edit x@2:8",
				`3:23 ERR near="<IDP identifier URL>" placeholder <IDP identifier URL> must be replaced with a real value`,
				"4:3 next",
				"5:1 end",
			}},
		{"quoted placeholder", `set entity-id "http://<FortiGate FQDN>:20443/remote/saml/metadata/"`,
			[]string{`1:1 set entity-id@1:5 Q"http://<FortiGate FQDN>:20443/remote/saml/metadata/"@1:15{<FortiGate FQDN>}`}},
		{"single-quoted placeholder", `set a 'x <psk> y'`, []string{`1:1 set a@1:5 Q"x <psk> y"@1:7{<psk>}`}},
		{"first of two quoted placeholders", `set a "<A>/<B>"`, []string{`1:1 set a@1:5 Q"<A>/<B>"@1:7{<A>}`}},
		{"quoted edit name placeholder", `edit "<name>"`, []string{`1:1 edit Q"<name>"@1:6{<name>}`}},
		{"digit after < is no placeholder", `set a "<5>"`, []string{`1:1 set a@1:5 Q"<5>"@1:7`}},
		{"comparison is no placeholder", `set a "a < b > c"`, []string{`1:1 set a@1:5 Q"a < b > c"@1:7`}},
		{"bare < with digit", `set a <5`, []string{`1:1 set a@1:5 <5@1:7`}},
		{"bare < without >", "set a <b\nnext", []string{`1:1 set a@1:5 <b@1:7`, "2:1 next"}},
		{"placeholder does not span lines", "set a <b\nc>", []string{`1:1 set a@1:5 <b@1:7`, `2:1 ERR near="c>" command parse error before 'c>'`}},
	})
	// The error names the placeholder, whatever else the statement holds.
	for _, src := range []string{"set psksecret <psk>", "  edit <index>", "set auth-cert <certificate for FortiGate FQDN>"} {
		rs := Parse(src)
		ph := src[strings.IndexByte(src, '<'):]
		if len(rs) != 1 || rs[0].Err == nil || !strings.Contains(rs[0].Err.Msg, ph) || rs[0].Err.Near != ph {
			t.Errorf("Parse(%q) = %v, want an error naming %s", src, dumpAll(rs, true), ph)
		}
	}
}

func TestAnnotations(t *testing.T) {
	runCases(t, []parseCase{
		{"end of set line", "set fortinet-esp disable <----- Default setting.",
			[]string{"1:1 set fortinet-esp@1:5 disable@1:18"}},
		{"short arrow", `set service "PING" <-- test policy only allowing ICMP ECHO Request.`,
			[]string{`1:1 set service@1:5 Q"PING"@1:13`}},
		{"arrow with keywords behind", "set a b <--- then set c d and end",
			[]string{"1:1 set a@1:5 b@1:7"}},
		{"next line unaffected", "set a b <-- note\nnext", []string{"1:1 set a@1:5 b@1:7", "2:1 next"}},
		{"annotation only", "<----- only a note", nil},
		{"annotation with quotes", "set a b <-- \"quoted\" note\nnext", []string{"1:1 set a@1:5 b@1:7", "2:1 next"}},
		{"quoted arrow is a value", `set a "<-- x"`, []string{`1:1 set a@1:5 Q"<-- x"@1:7`}},
		{"flattened annotation runs to the sentence end", "config system global set a 1 <--- first. set b 2 end",
			[]string{"1:1 config system@1:8 global@1:15", "1:22 set a@1:26 1@1:28", "1:42 set b@1:46 2@1:48", "1:50 end"}},
		{"flattened annotation skips keywords inside the sentence", "config system global set a 1 <--- Stop. Then edit it. set b 2 end",
			[]string{"1:1 config system@1:8 global@1:15", "1:22 set a@1:26 1@1:28", "1:55 set b@1:59 2@1:61", "1:63 end"}},
		{"flattened annotation without a full stop", "config system global set a 1 <--- note set b 2 end",
			[]string{"1:1 config system@1:8 global@1:15", "1:22 set a@1:26 1@1:28", "1:40 set b@1:44 2@1:46", "1:48 end"}},
	})
}

func TestFlattened(t *testing.T) {
	runCases(t, []parseCase{
		{"config set end", "config system setting set ike-tcp-port 20443 end",
			[]string{"1:1 config system@1:8 setting@1:15", "1:23 set ike-tcp-port@1:27 20443@1:40", "1:46 end"}},
		{"edit set next", `edit "x" set a b next`,
			[]string{`1:1 edit Q"x"@1:6`, "1:10 set a@1:14 b@1:16", "1:18 next"}},
		{"edit name is protected", "edit next set a b next",
			[]string{"1:1 edit next@1:6", "1:11 set a@1:15 b@1:17", "1:19 next"}},
		{"set attribute is protected", "config x set end 1 end",
			[]string{"1:1 config x@1:8", "1:10 set end@1:14 1@1:18", "1:20 end"}},
		{"quoted keywords do not split", `config system global set comments "end" end`,
			[]string{"1:1 config system@1:8 global@1:15", `1:22 set comments@1:26 Q"end"@1:35`, "1:41 end"}},
		{"rename in a block", `config firewall address rename "a" to "b" end`,
			[]string{"1:1 config firewall@1:8 address@1:17", `1:25 rename Q"a"@1:32 Q"b"@1:39`, "1:43 end"}},
		{"move in a block", "config firewall policy move 1 before 2 end",
			[]string{"1:1 config firewall@1:8 policy@1:17", "1:24 move 1@1:29 2@1:38 before", "1:40 end"}},
		{"ordinary lines are not split", "set comments next end", []string{"1:1 set comments@1:5 next@1:14 end@1:19"}},
		{"show is not a splitter", "config system global show end",
			[]string{"1:1 config system@1:8 global@1:15 show@1:22", "1:27 end"}},
		{"two lines", "config a set b 1 end\nconfig c set d 2 end",
			[]string{"1:1 config a@1:8", "1:10 set b@1:14 1@1:16", "1:18 end",
				"2:1 config c@2:8", "2:10 set d@2:14 2@2:16", "2:18 end"}},
	})
}

// The flattened one-line pastes of seed 000, verbatim.
var seed000 = []struct {
	line string
	want []string
}{
	{`config system setting set ike-tcp-port 20443 <----- Changing ike-tcp-port flushes all existing IPsec tunnels on the VDOM. end`,
		[]string{"config system setting", "set ike-tcp-port 20443", "end"}},
	{`config system global set auth-ike-saml-port 1001 <----- Any port except ike-tcp-port. end`,
		[]string{"config system global", "set auth-ike-saml-port 1001", "end"}},
	{`config user setting set auth-cert <certificate for FortiGate FQDN> <----- Certificate used for client connection to FortiGate as SAML SP. end`,
		[]string{"config user setting",
			`ERR near="<certificate for FortiGate FQDN>" placeholder <certificate for FortiGate FQDN> must be replaced with a real value`,
			"end"}},
	{`config user saml edit "IKE_SAML" set entity-id "http://<FortiGate FQDN>:20443/remote/saml/metadata/" set single-sign-on-url "https://<FortiGate FQDN>:20443/remote/saml/login" set single-logout-url "https://<FortiGate FQDN>:20443/remote/saml/logout" set idp-entity-id <IDP identifier URL> next end`,
		[]string{"config user saml", `edit Q"IKE_SAML"`,
			`set entity-id Q"http://<FortiGate FQDN>:20443/remote/saml/metadata/"{<FortiGate FQDN>}`,
			`set single-sign-on-url Q"https://<FortiGate FQDN>:20443/remote/saml/login"{<FortiGate FQDN>}`,
			`set single-logout-url Q"https://<FortiGate FQDN>:20443/remote/saml/logout"{<FortiGate FQDN>}`,
			`ERR near="<IDP identifier URL>" placeholder <IDP identifier URL> must be replaced with a real value`,
			"next", "end"}},
	{`config system interface edit "port1" set ike-saml-server "IKE_SAML" next end`,
		[]string{"config system interface", `edit Q"port1"`, `set ike-saml-server Q"IKE_SAML"`, "next", "end"}},
	{`config vpn ipsec phase1-interface edit "dialup_psk" set type dynamic set interface "port1" set ike-version 2 set transport auto set fortinet-esp disable <----- Default setting. fortinet-esp is a legacy protocol used only for FortiGate-FortiGate tunnels. set ipv4-start-ip 10.253.0.100 set psksecret <psk> set dpd-retryinterval 60 next end`,
		[]string{"config vpn ipsec phase1-interface", `edit Q"dialup_psk"`, "set type dynamic", `set interface Q"port1"`,
			"set ike-version 2", "set transport auto", "set fortinet-esp disable", "set ipv4-start-ip 10.253.0.100",
			`ERR near="<psk>" placeholder <psk> must be replaced with a real value`,
			"set dpd-retryinterval 60", "next", "end"}},
	{`config user group edit "IKE SAML user group" set member "IKE_SAML" next end`,
		[]string{"config user group", `edit Q"IKE SAML user group"`, `set member Q"IKE_SAML"`, "next", "end"}},
	{`config firewall policy edit <index> set name "RA VPN test" set srcintf "dialup_psk" set dstintf "port2" set action accept set srcaddr "IPsec VPN Admin Clients" set dstaddr "Test Address" set schedule "always" set service "PING" <-- test policy only allowing ICMP ECHO Request. Can be expanded to include additional services. set groups "IKE SAML user group" next end`,
		[]string{"config firewall policy",
			`ERR near="<index>" placeholder <index> must be replaced with a real value`,
			`set name Q"RA VPN test"`, `set srcintf Q"dialup_psk"`, `set dstintf Q"port2"`, "set action accept",
			`set srcaddr Q"IPsec VPN Admin Clients"`, `set dstaddr Q"Test Address"`, `set schedule Q"always"`,
			`set service Q"PING"`, `set groups Q"IKE SAML user group"`, "next", "end"}},
	{`config system setting set ike-tcp-port 443 <----- Default value on FortiOS v7.6.1 and later. If the firewall was upgraded from a previous version, the ike-tcp-port may still be configured as the old default value 4500. end`,
		[]string{"config system setting", "set ike-tcp-port 443", "end"}},
	{`config user saml edit "IKE_SAML" set entity-id "http://<FortiGate FQDN>/remote/saml/metadata/" set single-sign-on-url "https://<FortiGate FQDN>/remote/saml/login" set single-logout-url "https://<FortiGate FQDN>/remote/saml/logout" set idp-entity-id <IDP identifier URL> next end`,
		[]string{"config user saml", `edit Q"IKE_SAML"`,
			`set entity-id Q"http://<FortiGate FQDN>/remote/saml/metadata/"{<FortiGate FQDN>}`,
			`set single-sign-on-url Q"https://<FortiGate FQDN>/remote/saml/login"{<FortiGate FQDN>}`,
			`set single-logout-url Q"https://<FortiGate FQDN>/remote/saml/logout"{<FortiGate FQDN>}`,
			`ERR near="<IDP identifier URL>" placeholder <IDP identifier URL> must be replaced with a real value`,
			"next", "end"}},
}

// checkPositions verifies that every statement and word of src points at its
// own text: a bare word at its first byte, a quoted word at its opening quote
// (for inputs without escapes or continuations).
func checkPositions(t *testing.T, src string, rs []Result) {
	t.Helper()
	lines := strings.Split(src, "\n")
	at := func(p Pos) string {
		if p.Line < 1 || int(p.Line) > len(lines) || p.Col < 1 || int(p.Col) > len(lines[p.Line-1]) {
			t.Errorf("position %s outside the input", p)
			return ""
		}
		return lines[p.Line-1][p.Col-1:]
	}
	for _, r := range rs {
		if r.Err != nil {
			if r.Err.Near != "" && !strings.HasPrefix(at(r.Err.Pos), r.Err.Near) {
				t.Errorf("error %q at %s does not point at %q", r.Err.Msg, r.Err.Pos, r.Err.Near)
			}
			continue
		}
		if r.Stmt.Kind != Comment && !strings.HasPrefix(at(r.Stmt.Pos), r.Stmt.Verb) {
			t.Errorf("statement %s at %s does not point at %q", dump(r, false), r.Stmt.Pos, r.Stmt.Verb)
		}
		for _, w := range r.Stmt.Args {
			want := w.Text
			if w.Quoted {
				want = `"` + w.Text + `"`
			}
			if !strings.HasPrefix(at(w.Pos), want) {
				t.Errorf("word %q at %s points at %.20q", w.Text, w.Pos, at(w.Pos))
			}
		}
	}
}

func TestSeed000FlattenedLines(t *testing.T) {
	for i, c := range seed000 {
		t.Run(fmt.Sprintf("line%d", i+1), func(t *testing.T) {
			rs := Parse(c.line)
			checkDump(t, c.line, rs, c.want, false)
			checkPositions(t, c.line, rs)
			for _, r := range rs {
				if r.Err == nil && r.Stmt.Pos.Line != 1 {
					t.Errorf("statement on line %d", r.Stmt.Pos.Line)
				}
			}
		})
	}
}

// TestSeed000File parses the whole seed document (prose included): every
// config line must give statements or placeholder errors, placeholders must
// be reported with their lines, and the annotations must vanish.
func TestSeed000File(t *testing.T) {
	data, err := os.ReadFile("testdata/seed_000.txt")
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	lines := strings.Split(src, "\n")
	rs := Parse(src)
	checkPositions(t, src, rs)
	perLine := map[int][]string{}
	var placeholders []string
	for _, r := range rs {
		p := r.Stmt.Pos
		if r.Err != nil {
			p = r.Err.Pos
			if strings.HasPrefix(r.Err.Msg, "placeholder ") {
				placeholders = append(placeholders, fmt.Sprintf("%d:%s", p.Line, r.Err.Near))
			}
		}
		perLine[int(p.Line)] = append(perLine[int(p.Line)], dump(r, false))
	}
	wantPH := []string{
		"12:<certificate for FortiGate FQDN>", "14:<IDP identifier URL>", "17:<psk>",
		"19:<index>", "25:<IDP identifier URL>",
	}
	if !reflect.DeepEqual(placeholders, wantPH) {
		t.Errorf("placeholders = %q, want %q", placeholders, wantPH)
	}
	for i, c := range seed000 {
		n := -1
		for j, l := range lines {
			if l == c.line {
				n = j + 1
			}
		}
		if n < 0 {
			t.Fatalf("seed line %d not found in testdata/seed_000.txt", i+1)
		}
		if !reflect.DeepEqual(perLine[n], c.want) {
			t.Errorf("line %d:\n got %q\nwant %q", n, perLine[n], c.want)
		}
	}
	// The diagnose line is debug output pasted after the commands: it stays
	// one shell command (diagnose is not split like a config block).
	d := perLine[31]
	if len(d) != 1 || !strings.HasPrefix(d[0], "command(diagnose) debug application ike -1 diagnose") {
		t.Errorf("line 31 = %q", d)
	}
	for _, r := range rs {
		for _, w := range r.Stmt.Args {
			if strings.HasPrefix(w.Text, "<-") {
				t.Errorf("annotation left in %s", dump(r, true))
			}
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	if got := Quote("port1"); got != `"port1"` {
		t.Errorf("Quote(port1) = %s", got)
	}
	if got := Quote(`a"b\c`); got != `"a\"b\\c"` {
		t.Errorf(`Quote(a"b\c) = %s`, got)
	}
	if got := Quote("it's"); got != `"it's"` {
		t.Errorf(`Quote(it's) = %s`, got)
	}
	strs := []string{
		"", "plain", "a b", `a"b`, `a\b`, `\`, `\\`, `"`, `""`, `a\"b`, `'`, `it's`, `\'`, `"'"`,
		"line1\nline2", "\n", "\n\n", "tab\there", `C:\path\`, "<FortiGate FQDN>", "#not a comment",
		"end", "set", "  lead", "trail ", "\r\n", "a\\\nb", "a\\\r\nb", "héllo ✓", "\x00", "<-- not an annotation",
		"x\\", "\\\"", `\n`,
	}
	rng := rand.New(rand.NewSource(1))
	const alphabet = "ab \"'\\\n\r\t<>#-"
	for range 2000 {
		b := make([]byte, rng.Intn(12))
		for i := range b {
			b[i] = alphabet[rng.Intn(len(alphabet))]
		}
		strs = append(strs, string(b))
	}
	for _, s := range strs {
		src := "set attr " + Quote(s)
		rs := Parse(src)
		if len(rs) != 1 || rs[0].Err != nil || rs[0].Stmt.Kind != Set || len(rs[0].Stmt.Args) != 2 ||
			rs[0].Stmt.Args[1].Text != s || !rs[0].Stmt.Args[1].Quoted {
			t.Errorf("Quote(%q) = %s parses as %q", s, Quote(s), dumpAll(rs, true))
			continue
		}
		// As an edit name and among other values.
		src = "edit " + Quote(s) + "\nset member " + Quote(s) + " " + Quote(s+"x") + "\nnext"
		rs = Parse(src)
		if len(rs) != 3 || rs[0].Err != nil || rs[1].Err != nil || rs[2].Err != nil ||
			rs[0].Stmt.Args[0].Text != s || rs[1].Stmt.Args[1].Text != s || rs[1].Stmt.Args[2].Text != s+"x" ||
			rs[2].Stmt.Kind != Next {
			t.Errorf("Quote(%q) in a block parses as %q", s, dumpAll(rs, true))
		}
	}
}

// genScript writes a script of roughly n statements using every construct,
// with a varying number of values so that many statement shapes exist.
func genScript(n int) string {
	var b strings.Builder
	b.WriteString("#config-version=FGVMK6-7.6.1-FW-build3462-241022:opmode=0:vdom=0:user=admin\n")
	for i := 0; b.Len() < n*20 || i < n/8; i++ {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "config firewall address\n    edit \"addr%d\"\n        set subnet 10.%d.%d.0 255.255.255.0\n", i, i/256%256, i%256)
			fmt.Fprintf(&b, "        set comment \"multi\nline %d\"\n    next\nend\n", i)
		case 1:
			fmt.Fprintf(&b, "config firewall policy\n    edit %d\n        set srcaddr", i)
			for j := 0; j < i%37+1; j++ {
				fmt.Fprintf(&b, " \"a%d\"", j)
			}
			b.WriteString("\n        set action accept\n    next\n    move 1 before 2\nend\n")
		case 2:
			fmt.Fprintf(&b, "config vpn ipsec phase1-interface edit \"vpn%d\" set psksecret <psk> set type dynamic next end\n", i)
		case 3:
			fmt.Fprintf(&b, "conf sys glob\n  set hostname 'FGT-%d' \\\n    x%d\n  unset timezone\n  sh full\nend\n", i, i)
		case 4:
			fmt.Fprintf(&b, "bogus%d word\nset\nrename a to\nnext extra %d\n", i, i)
		case 5:
			fmt.Fprintf(&b, "# comment %d\nexecute ping 10.0.0.%d\ndiagnose debug reset\nget system status\n", i, i%256)
		case 6:
			fmt.Fprintf(&b, "config user saml\n edit \"s%d\"\n  set entity-id \"http://<FortiGate FQDN>/%d\" <--- note\n  append member x%d y\n  unselect member y\n  clear member\n next\n rename \"s%d\" to \"t%d\"\n clone t%d to u%d\nend\n", i, i, i, i, i, i, i)
		case 7:
			fmt.Fprintf(&b, "config firewall service custom\n  delete \"svc%d\"\n  purge\n  abort\nedit \"new\"_svc%d\nselect a%d b\ns x\n", i, i, i%13)
		case 8:
			fmt.Fprintf(&b, "set a%d", i)
			for j := 0; j < i%53; j++ {
				b.WriteString(" v")
			}
			b.WriteString("\n")
		case 9:
			fmt.Fprintf(&b, "config system interface\n edit port%d\n  set ip 10.0.0.1/24\n next\nend\n", i%8)
		}
	}
	return b.String()
}

func TestParseParallelMatchesParse(t *testing.T) {
	if p := runtime.GOMAXPROCS(0); p < 4 {
		runtime.GOMAXPROCS(4)
		defer runtime.GOMAXPROCS(p)
	}
	src := genScript(20000)
	seq := Parse(src)
	if len(seq) <= 4096 {
		t.Fatalf("only %d statements: the parallel path needs more than 4096", len(seq))
	}
	par := ParseParallel(src)
	if !reflect.DeepEqual(seq, par) {
		for i := range min(len(seq), len(par)) {
			if !reflect.DeepEqual(seq[i], par[i]) {
				t.Fatalf("statement %d differs:\n Parse:         %s\n ParseParallel: %s", i, dump(seq[i], true), dump(par[i], true))
			}
		}
		t.Fatalf("Parse gave %d results, ParseParallel %d", len(seq), len(par))
	}
	// Fresh shape cache: the parallel path compiles shapes concurrently.
	clearShapes()
	par = ParseParallel(src)
	if !reflect.DeepEqual(seq, par) {
		t.Fatalf("ParseParallel with a cold shape cache differs from Parse")
	}
	kinds := map[Kind]int{}
	errs := 0
	for _, r := range seq {
		if r.Err != nil {
			errs++
		} else {
			kinds[r.Stmt.Kind]++
		}
	}
	for k := Config; k <= Command; k++ {
		if kinds[k] == 0 {
			t.Errorf("generated script has no %v statement", k)
		}
	}
	if errs == 0 {
		t.Errorf("generated script has no error")
	}
	if got := ParseLine("conf sys glob set a 1 end"); len(got) != 3 {
		t.Errorf("ParseLine gave %d results", len(got))
	}
}

func clearShapes() {
	shapes.Range(func(k, _ any) bool {
		shapes.Delete(k)
		return true
	})
}

// Regression tests for bugs the first test pass found.

func TestBugEmptyWordParseError(t *testing.T) {
	// A lone backslash at the end of the input is nothing at all.
	if rs := Parse("\\"); len(rs) != 0 {
		t.Errorf("Parse(`\\`) = %q, want nothing", dumpAll(rs, true))
	}
	for _, c := range []struct{ src, pos, msg string }{
		{`purge "" x`, "1:7", "command parse error before ''"},
		{`"" a`, "1:1", "command parse error before ''"},
	} {
		rs := Parse(c.src)
		if len(rs) != 1 || rs[0].Err == nil || rs[0].Err.Msg != c.msg || rs[0].Err.Pos.String() != c.pos {
			t.Errorf("Parse(%q) = %q, want %s %s", c.src, dumpAll(rs, true), c.pos, c.msg)
		}
	}
}

func TestBugShapeCacheHistory(t *testing.T) {
	// Unusual shapes, so that the test does not depend on, nor disturb, the others.
	first := Parse(`abort "" q1 q2 q3 q4 q5 q6 q7`)
	_ = first
	rs := Parse(`abort "z" q1 q2 q3 q4 q5 q6 q7`)
	want := `1:7 ERR near="z" command parse error before 'z'`
	if len(rs) != 1 || dump(rs[0], true) != want {
		t.Errorf("got %q, want %q", dumpAll(rs, true), want)
	}
	// A trailing backslash at the end of the input makes an empty bare word.
	Parse("abort \\")
	rs = Parse("abort x")
	want = `1:7 ERR near="x" command parse error before 'x'`
	if len(rs) != 1 || dump(rs[0], true) != want {
		t.Errorf("got %q, want %q", dumpAll(rs, true), want)
	}
}

func TestBugApostropheInAnnotation(t *testing.T) {
	runCases(t, []parseCase{
		{"ordinary line", "set fortinet-esp disable <----- Don't change this.\nnext\nend",
			[]string{"1:1 set fortinet-esp@1:5 disable@1:18", "2:1 next", "3:1 end"}},
		{"flattened line", "config system global set a 1 <--- don't. end\nnext",
			[]string{"1:1 config system@1:8 global@1:15", "1:22 set a@1:26 1@1:28", "1:42 end", "2:1 next"}},
	})
}

func TestBugPlaceholderGluedToQuote(t *testing.T) {
	runCases(t, []parseCase{
		{"glued", "set x <a>\"b c\"\nnext",
			[]string{`1:7 ERR near="<a>b c" placeholder <a> must be replaced with a real value`, "2:1 next"}},
	})
}

func TestBugBarePlaceholderInsideWord(t *testing.T) {
	src := "set entity-id http://<FortiGate FQDN>:20443/x"
	rs := Parse(src)
	if len(rs) != 1 || rs[0].Err == nil || !strings.Contains(rs[0].Err.Msg, "<FortiGate FQDN>") {
		t.Errorf("Parse(%q) = %q, want a placeholder error naming <FortiGate FQDN>", src, dumpAll(rs, true))
	}
}

func TestBugPlaceholderScanQuadratic(t *testing.T) {
	const n = 100000
	plain := strings.Repeat("set comment b\n", n)
	angle := strings.Repeat("set comment <b\n", n)
	t0 := time.Now()
	Parse(plain)
	dPlain := time.Since(t0)
	t0 = time.Now()
	Parse(angle)
	dAngle := time.Since(t0)
	if dAngle > 10*dPlain+50*time.Millisecond {
		t.Errorf("%d lines: %v with '<b', %v without", n, dAngle, dPlain)
	}
}

func TestBugTrailingBackslashEmptyWord(t *testing.T) {
	runCases(t, []parseCase{
		{"after a value", "set a \\", []string{"1:1 set a@1:5"}},
		{"after a quoted value", "set a 'x' \\", []string{`1:1 set a@1:5 Q"x"@1:7`}},
	})
}
