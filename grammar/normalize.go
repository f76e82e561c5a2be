package grammar

import "strings"

// unit is one statement's words after the paste normaliser, before parsing.
type unit struct {
	pos     Pos
	words   []Word
	comment bool
	text    string
	err     *Error
}

// verbs are the words a statement may start with, for unique-prefix
// abbreviation ("conf" → config, "sh" → show).
var verbs = []string{
	"config", "edit", "set", "select", "unset", "clear", "append", "unselect",
	"next", "end", "abort", "delete", "purge", "rename", "clone", "move",
	"show", "get", "execute", "diagnose", "exit", "quit", "tree", "sudo",
}

// splitters are the keywords that start a new statement inside a block that
// a web page flattened onto one line.
var splitters = map[string]bool{
	"config": true, "edit": true, "set": true, "unset": true, "append": true,
	"unselect": true, "next": true, "end": true, "abort": true, "delete": true,
	"purge": true, "rename": true, "clone": true, "move": true,
}

// protected is how many words after each keyword are its own arguments and so
// never start a new statement: the name of edit, the attribute of set …
var protected = map[string]int{
	"edit": 1, "set": 1, "unset": 1, "append": 1, "unselect": 1, "delete": 1,
	"rename": 3, "clone": 3, "move": 3,
}

// ExpandVerb resolves a unique prefix of a statement verb; an exact or
// unknown word is returned unchanged.
func ExpandVerb(w string) string {
	return expand(w, verbs)
}

func expand(w string, list []string) string {
	found := ""
	for _, v := range list {
		if v == w {
			return w
		}
		if strings.HasPrefix(v, w) {
			if found != "" {
				return w // ambiguous: let the parser report it
			}
			found = v
		}
	}
	if found == "" {
		return w
	}
	return found
}

// arena hands out word slices from large chunks: a million-line script
// would otherwise allocate a million small slices. Chunks grow with use, so
// one typed line costs little.
type arena struct {
	chunk []Word
	size  int
}

func (a *arena) alloc(n int) []Word {
	if n > len(a.chunk) {
		a.size = min(max(a.size*2, 64), 16384)
		a.chunk = make([]Word, max(n, a.size))
	}
	w := a.chunk[:n:n]
	a.chunk = a.chunk[n:]
	return w
}

func split(src string) []unit {
	var all []unit
	splitBatches(src, 0, func(u []unit) { all = u })
	return all
}

// splitBatches scans src and hands the units to emit in batches of about
// batch units (all at once when batch is 0).
func splitBatches(src string, batch int, emit func([]unit)) {
	sc := scanner{src: src, line: 1}
	var ar arena
	size := batch
	if size == 0 {
		size = strings.Count(src, "\n") + 1
	}
	units := make([]unit, 0, size)
	for {
		if batch > 0 && len(units) >= batch {
			emit(units)
			units = make([]unit, 0, size+16)
		}
		ln, ok := sc.next()
		if !ok {
			emit(units)
			return
		}
		switch {
		case ln.err != nil:
			units = append(units, unit{pos: ln.pos, err: ln.err})
		case ln.isCmt:
			units = append(units, unit{pos: ln.pos, comment: true, text: ln.comment})
		default:
			units = appendStatements(units, ln.words, &ar)
		}
	}
}

func isKeyword(w rawWord, set map[string]bool) bool {
	return !w.Quoted && w.placeholder == "" && set[w.Text]
}

// appendStatements normalises one logical line into statements.
func appendStatements(units []unit, words []rawWord, ar *arena) []unit {
	if !words[0].Quoted {
		words[0].Text = ExpandVerb(words[0].Text)
	}
	if flattened(words) {
		for len(words) > 0 {
			n := statementLen(words)
			units = appendOne(units, words[:n], ar)
			words = words[n:]
			words = skipAnnotation(words)
		}
		return units
	}
	return appendOne(units, words, ar)
}

// flattened tells a block a web page put on one line ("config system setting
// set ike-tcp-port 20443 end") from an ordinary statement.
func flattened(words []rawWord) bool {
	if words[0].Quoted || (words[0].Text != "config" && words[0].Text != "edit") {
		return false
	}
	skip := 1 + protected[words[0].Text]
	for i := skip; i < len(words); i++ {
		if isKeyword(words[i], splitters) {
			return true
		}
	}
	return false
}

// statementLen is the number of words of the first statement of a flattened
// line, annotation included.
func statementLen(words []rawWord) int {
	i := 1 + protected[words[0].Text]
	for ; i < len(words); i++ {
		if isKeyword(words[i], splitters) || words[i].annotation {
			return i
		}
	}
	return len(words)
}

// skipAnnotation drops a "<----- text" note at the front of words. In a
// flattened line the note runs to the keyword that follows the end of a
// sentence ("… on the VDOM. end"), or else to the first keyword.
func skipAnnotation(words []rawWord) []rawWord {
	if len(words) == 0 || !words[0].annotation {
		return words
	}
	first := -1
	for i := 1; i < len(words); i++ {
		if !isKeyword(words[i], splitters) {
			continue
		}
		if first < 0 {
			first = i
		}
		if strings.HasSuffix(words[i-1].Text, ".") {
			return words[i:]
		}
	}
	if first < 0 {
		return nil
	}
	return words[first:]
}

func appendOne(units []unit, words []rawWord, ar *arena) []unit {
	// An annotation runs to the end of an ordinary line.
	for i, w := range words {
		if w.annotation {
			words = words[:i]
			break
		}
	}
	if len(words) == 0 {
		return units
	}
	u := unit{pos: words[0].Pos, words: ar.alloc(len(words))}
	for i, w := range words {
		if w.placeholder != "" && u.err == nil {
			u.err = &Error{Pos: w.Pos, Near: w.Text, Msg: "placeholder " + w.placeholder + " must be replaced with a real value"}
		}
		u.words[i] = w.Word
	}
	if u.err != nil {
		u.words = nil
	} else if u.words[0].Text == "show" && len(u.words) > 1 && !u.words[1].Quoted &&
		len(u.words[1].Text) >= 2 && strings.HasPrefix("full-configuration", u.words[1].Text) {
		u.words[1].Text = "full-configuration"
	}
	return append(units, u)
}
