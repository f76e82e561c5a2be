package cli

import (
	"fmt"
	"strings"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// Candidate is one thing that may come next on the command line.
type Candidate struct {
	Word string // what Tab inserts; "" for a value description like <integer>
	Show string // what '?' lists in the first column
	Help string
}

// verbHelp describes the commands of each level, for '?'.
var verbHelp = map[string]string{
	"config":   "Configure object.",
	"get":      "Get dynamic and system information.",
	"show":     "Show configuration.",
	"diagnose": "Diagnose facility.",
	"execute":  "Execute static commands.",
	"exit":     "Exit the CLI.",
	"edit":     "Create/edit an entry.",
	"delete":   "Delete an entry.",
	"purge":    "Purge all entries.",
	"rename":   "Rename an entry.",
	"clone":    "Clone an entry.",
	"move":     "Move an entry.",
	"end":      "End and save last config.",
	"abort":    "End and discard last config.",
	"next":     "Configure next table entry.",
	"set":      "Modify value.",
	"unset":    "Set to default value.",
	"append":   "Append to a list.",
	"select":   "Select from a list.",
	"unselect": "Remove from a list.",
	"clear":    "Clear value.",
}

// levelVerbs lists the commands valid at the session's level.
func (sh *Shell) levelVerbs() []string {
	t, e := sh.Session.Context()
	switch sh.Session.Level() {
	case 0:
		return []string{"config", "show", "get", "diagnose", "execute", "exit"}
	case 1:
		v := []string{"edit", "delete", "purge", "rename", "clone"}
		if t.Ordered {
			v = append(v, "move")
		}
		return append(v, "get", "show", "end", "abort")
	}
	v := []string{"set", "unset", "append", "select", "unselect", "clear", "get", "show"}
	hasChild := false
	for _, a := range t.Attrs {
		if a.Child != nil && t.Exists(a, e) {
			hasChild = true
		}
	}
	if hasChild {
		v = append(v, "config")
	}
	if !t.Singleton {
		v = append(v, "next")
	}
	return append(v, "end", "abort")
}

// splitPartial splits a partial command line into its complete words and the
// word being typed (empty after a space), returning where that word starts.
func splitPartial(line string) (words []string, partial string, start int) {
	var cur strings.Builder
	inWord, quote := false, byte(0)
	wordStart := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			if !inWord {
				inWord, wordStart = true, i
			}
			quote = c
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			if !inWord {
				inWord, wordStart = true, i
			}
			cur.WriteByte(c)
		}
	}
	if inWord {
		return words, cur.String(), wordStart
	}
	return words, "", len(line)
}

// Complete returns the candidates for the word being typed at the end of
// line and where that word starts. Candidates come from the schema, the
// store and the command tree, never from a separate list.
func (sh *Shell) Complete(line string) ([]Candidate, int) {
	words, partial, start := splitPartial(line)
	var all []Candidate
	if len(words) == 0 {
		for _, v := range sh.levelVerbs() {
			all = append(all, Candidate{Word: v, Show: v, Help: verbHelp[v]})
		}
	} else {
		all = sh.nextWords(words)
	}
	var out []Candidate
	for _, c := range all {
		if c.Word == "" || strings.HasPrefix(c.Word, partial) {
			out = append(out, c)
		}
	}
	return out, start
}

func (sh *Shell) nextWords(words []string) []Candidate {
	verb := grammar.ExpandVerb(words[0])
	args := words[1:]
	st := sh.App.Store
	schema := st.Schema()
	t, e := sh.Session.Context()
	switch sh.Session.Level() {
	case 0:
		switch verb {
		case "config":
			return pathCandidates(schema, args, false)
		case "show":
			c := pathCandidates(schema, skipFull(args), true)
			if len(args) == 0 {
				c = append([]Candidate{{Word: "full-configuration", Show: "full-configuration", Help: "Show full configuration."}}, c...)
			}
			return append(c, sh.entryCandidates(schema, skipFull(args))...)
		case "get":
			c := append(pathCandidates(schema, args, true), commandCandidates(append([]string{"get"}, args...))...)
			return append(c, sh.entryCandidates(schema, args)...)
		case "execute", "diagnose":
			return commandCandidates(append([]string{verb}, args...))
		}
	case 1:
		keys := sh.Session.Keys()
		switch verb {
		case "edit":
			if len(args) == 0 {
				c := []Candidate{{Show: "<" + t.KeyName + ">", Help: keyHelp(t)}}
				return append(c, keyCandidates(keys)...)
			}
		case "delete", "rename", "clone", "move":
			switch {
			case len(args) == 0:
				return keyCandidates(keys)
			case len(args) == 1 && verb == "move":
				return []Candidate{{Word: "before", Show: "before", Help: "Move before another entry."}, {Word: "after", Show: "after", Help: "Move after another entry."}}
			case len(args) == 1:
				return []Candidate{{Word: "to", Show: "to", Help: "New name."}}
			case len(args) == 2 && verb == "move":
				return keyCandidates(keys)
			case len(args) == 2:
				return []Candidate{{Show: "<" + t.KeyName + ">", Help: keyHelp(t)}}
			}
		}
	case 2:
		switch verb {
		case "set", "unset", "append", "select", "unselect", "clear":
			if len(args) == 0 {
				var c []Candidate
				for _, a := range t.Attrs {
					if a.Child == nil && t.Exists(a, e) {
						c = append(c, Candidate{Word: a.Name, Show: a.Name, Help: a.Help})
					}
				}
				return c
			}
			if verb == "unset" || verb == "clear" {
				return nil
			}
			a := t.ResolveAttr(args[0])
			if a == nil || a.Child != nil {
				return nil
			}
			return sh.valueCandidates(a, e, args[1:])
		case "config":
			if len(args) == 0 {
				var c []Candidate
				for _, a := range t.Attrs {
					if a.Child != nil && t.Exists(a, e) {
						c = append(c, Candidate{Word: a.Name, Show: a.Name, Help: a.Child.Help})
					}
				}
				return c
			}
		}
	}
	return nil
}

func skipFull(args []string) []string {
	if len(args) > 0 && len(args[0]) >= 2 && strings.HasPrefix("full-configuration", args[0]) {
		return args[1:]
	}
	return args
}

// pathCandidates lists the next word of a table path after args.
func pathCandidates(s *cmdb.Schema, args []string, anyTable bool) []Candidate {
	prefix := ""
	if len(args) > 0 {
		t, n, err := s.Resolve(args)
		if err != nil && !strings.HasPrefix(err.Error(), "incomplete") {
			return nil
		}
		if t != nil && n == len(args) {
			return nil // a whole path: entries come next (entryCandidates)
		}
		prefix = resolvedPrefix(s, args)
		if prefix == "" {
			return nil
		}
	}
	var out []Candidate
	for _, w := range s.Children(prefix) {
		full := strings.TrimSpace(prefix + " " + w)
		help := ""
		if t := s.Table(full); t != nil {
			help = t.Help
		}
		out = append(out, Candidate{Word: w, Show: w, Help: help})
	}
	return out
}

// resolvedPrefix expands abbreviated path words ("vpn ips") to the path
// prefix they name ("vpn ipsec"), or "" when they name nothing.
func resolvedPrefix(s *cmdb.Schema, args []string) string {
	prefix := ""
	for _, w := range args {
		var pick string
		for _, c := range s.Children(prefix) {
			if c == w {
				pick = c
				break
			}
			if strings.HasPrefix(c, w) {
				if pick != "" {
					return ""
				}
				pick = c
			}
		}
		if pick == "" {
			return ""
		}
		prefix = strings.TrimSpace(prefix + " " + pick)
	}
	return prefix
}

// entryCandidates lists entry names after a complete keyed table path.
func (sh *Shell) entryCandidates(s *cmdb.Schema, args []string) []Candidate {
	if len(args) == 0 {
		return nil
	}
	t, n, err := s.Resolve(args)
	if err != nil || n != len(args) || t.Singleton {
		return nil
	}
	return keyCandidates(sh.App.Store.Rows(t.Path).Keys)
}

func keyCandidates(keys []string) []Candidate {
	out := make([]Candidate, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			out = append(out, Candidate{Word: quoteIfNeeded(k), Show: k})
		}
	}
	return out
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \t\"'\\|") || s == "" {
		return grammar.Quote(s)
	}
	return s
}

func keyHelp(t *cmdb.Table) string {
	if t.KeyType == cmdb.TInt {
		return fmt.Sprintf("Please input integer value (%d - %d); 0 for the next free id.", t.KeyMin, t.KeyTop)
	}
	return fmt.Sprintf("Please input string value (max %d characters).", t.KeyMax)
}

// commandCandidates lists what may follow words in the command tree: the
// next path word, or the command's next argument.
func commandCandidates(words []string) []Candidate {
	seen := map[string]bool{}
	var out []Candidate
	for _, c := range commands {
		p := strings.Fields(c.path)
		if len(words) < len(p) {
			if !matchesPrefix(p[:len(words)], words) || seen[p[len(words)]] {
				continue
			}
			w := p[len(words)]
			seen[w] = true
			help := ""
			if len(p) == len(words)+1 {
				help = c.help
			}
			out = append(out, Candidate{Word: w, Show: w, Help: help})
			continue
		}
		if !matchesPrefix(p, words[:len(p)]) {
			continue
		}
		k := len(words) - len(p)
		if args := strings.Fields(c.args); k < len(args) {
			out = append(out, Candidate{Show: args[k], Help: c.help})
		}
		if k >= c.minArgs {
			out = append(out, Candidate{Show: "<Enter>"})
		}
	}
	return out
}

// matchesPrefix tells whether typed words abbreviate path words.
func matchesPrefix(path, typed []string) bool {
	for i, w := range typed {
		if !strings.HasPrefix(path[i], w) {
			return false
		}
	}
	return true
}

// valueCandidates describes what a value of a may be, and lists the choices
// when there are any (options, existing entries for references).
func (sh *Shell) valueCandidates(a *cmdb.Attr, e *cmdb.Entry, typed []string) []Candidate {
	if len(typed) > 0 && !a.Type.Multi() && !(a.Type == cmdb.TIPv4Mask || a.Type == cmdb.TIPv4Net) {
		return []Candidate{{Show: "<Enter>"}}
	}
	switch a.Type {
	case cmdb.TOption, cmdb.TOptions, cmdb.TOptionList:
		var c []Candidate
		for _, o := range a.Options {
			c = append(c, Candidate{Word: o, Show: o})
		}
		return c
	case cmdb.TRef, cmdb.TRefs:
		var c []Candidate
		for _, t := range a.Refs {
			for _, k := range sh.App.Store.Rows(t).Keys {
				c = append(c, Candidate{Word: quoteIfNeeded(k), Show: k})
			}
		}
		return append([]Candidate{{Show: "<string>", Help: "please input string value"}}, c...)
	case cmdb.TInt:
		return []Candidate{{Show: "<integer>", Help: fmt.Sprintf("Please input integer value (%d - %d).", a.Min, a.Top)}}
	case cmdb.TIPv4:
		return []Candidate{{Show: "<ipv4>", Help: "Please input IP address."}}
	case cmdb.TIPv4Mask, cmdb.TIPv4Net:
		return []Candidate{{Show: "<ipv4mask>", Help: "Please input IP address and netmask (a.b.c.d/n or a.b.c.d m.m.m.m)."}}
	case cmdb.TIPv4Netmask:
		return []Candidate{{Show: "<ipv4netmask>", Help: "Please input netmask."}}
	case cmdb.TIPv6, cmdb.TIPv6Prefix:
		return []Candidate{{Show: "<ipv6>", Help: "Please input IPv6 address."}}
	case cmdb.TPassword, cmdb.TPasswordHash:
		return []Candidate{{Show: "<password>", Help: fmt.Sprintf("please input string value (max %d characters)", a.Max)}}
	case cmdb.TMAC:
		return []Candidate{{Show: "<mac>", Help: "Please input MAC address (xx:xx:xx:xx:xx:xx)."}}
	case cmdb.TTime:
		return []Candidate{{Show: "<time>", Help: "Please input time (hh:mm)."}}
	case cmdb.TPortRange:
		return []Candidate{{Show: "<portrange>", Help: "Please input port range (low[-high][:src_low[-src_high]])."}}
	}
	return []Candidate{{Show: "<string>", Help: fmt.Sprintf("please input string value (max %d characters)", a.Max)}}
}

// HelpText renders '?' for the line typed so far.
func (sh *Shell) HelpText(line string) string {
	cands, _ := sh.Complete(line)
	if len(cands) == 0 {
		return "command parse error before '" + strings.TrimSpace(line) + "'\n"
	}
	width := 0
	for _, c := range cands {
		width = max(width, len(c.Show))
	}
	var b strings.Builder
	for _, c := range cands {
		if c.Help == "" {
			b.WriteString(c.Show + "\n")
			continue
		}
		fmt.Fprintf(&b, "%-*s    %s\n", width, c.Show, c.Help)
	}
	return b.String()
}
