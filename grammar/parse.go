package grammar

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// Token types handed to participle. The hand-written scanner has already
// resolved quoting, so a statement reaches participle as a short slice of
// words; participle checks its shape.
const (
	tokWord lexer.TokenType = -(iota + 2)
	tokQuoted
)

type tokenDef struct{}

func (tokenDef) Symbols() map[string]lexer.TokenType {
	return map[string]lexer.TokenType{"EOF": lexer.EOF, "Word": tokWord, "Quoted": tokQuoted}
}

func (tokenDef) Lex(string, io.Reader) (lexer.Lexer, error) {
	return nil, errors.New("grammar: statements are lexed by the scanner")
}

// The participle grammar of one statement. Keywords are bare words; a quoted
// word is always a value.
type stmtAST struct {
	Config   *pathAST   `parser:"  'config':Word @@"`
	Edit     *nameAST   `parser:"| 'edit':Word @@"`
	Set      *setAST    `parser:"| @@"`
	Unset    *attrAST   `parser:"| ('unset':Word | 'clear':Word) @@"`
	Append   *valuesAST `parser:"| 'append':Word @@"`
	Unselect *valuesAST `parser:"| 'unselect':Word @@"`
	Next     bool       `parser:"| @'next':Word"`
	End      bool       `parser:"| @'end':Word"`
	Abort    bool       `parser:"| @'abort':Word"`
	Delete   *nameAST   `parser:"| 'delete':Word @@"`
	Purge    bool       `parser:"| @'purge':Word"`
	Rename   *pairAST   `parser:"| 'rename':Word @@"`
	Clone    *pairAST   `parser:"| 'clone':Word @@"`
	Move     *moveAST   `parser:"| 'move':Word @@"`
	Show     *showAST   `parser:"| 'show':Word @@"`
	Get      *pathOpt   `parser:"| 'get':Word @@"`
	Command  *cmdAST    `parser:"| @@"`
}

type wordAST struct {
	Pos    lexer.Position
	Bare   *string `parser:"  @Word"`
	Quoted *string `parser:"| @Quoted"`
}

type pathAST struct {
	Path []wordAST `parser:"@@+"`
}

type pathOpt struct {
	Path []wordAST `parser:"@@*"`
}

type nameAST struct {
	Name wordAST `parser:"@@"`
}

type attrAST struct {
	Attr wordAST `parser:"@@"`
}

type setAST struct {
	Verb   string    `parser:"@('set':Word | 'select':Word)"`
	Attr   wordAST   `parser:"@@"`
	Values []wordAST `parser:"@@*"`
}

type valuesAST struct {
	Attr   wordAST   `parser:"@@"`
	Values []wordAST `parser:"@@+"`
}

type pairAST struct {
	From wordAST `parser:"@@ 'to':Word"`
	To   wordAST `parser:"@@"`
}

type moveAST struct {
	From  wordAST `parser:"@@"`
	Where string  `parser:"@('before':Word | 'after':Word)"`
	To    wordAST `parser:"@@"`
}

type showAST struct {
	Full bool      `parser:"@'full-configuration':Word?"`
	Path []wordAST `parser:"@@*"`
}

type cmdAST struct {
	Verb string    `parser:"@('execute':Word | 'diagnose':Word | 'exit':Word | 'quit':Word | 'tree':Word | 'sudo':Word)"`
	Args []wordAST `parser:"@@*"`
}

var stmtParser = participle.MustBuild[stmtAST](
	participle.Lexer(tokenDef{}),
	participle.UseLookahead(2),
)

// sliceLexer feeds pre-scanned tokens to participle.
type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (l *sliceLexer) Next() (lexer.Token, error) {
	if l.i >= len(l.toks) {
		return lexer.Token{Type: lexer.EOF}, nil
	}
	t := l.toks[l.i]
	l.i++
	return t, nil
}

// literals are the words the participle grammar matches by value; every other
// bare word is just a Word to it.
var literals = map[string]bool{}

func init() {
	for _, v := range verbs {
		literals[v] = true
	}
	for _, v := range []string{"full-configuration", "to", "before", "after"} {
		literals[v] = true
	}
}

// template is what participle made of one statement shape: the parse only
// depends on which words are literals, so statements of the same shape
// ("set W W", "edit Q") share it and participle runs once per shape.
type template struct {
	kind   Kind
	full   bool
	before bool
	args   []int // word indexes of Stmt.Args, used when from < 0
	from   int   // Args = words[from:] when >= 0
	// A failed shape: the parser stopped before word errAt, or ran out of
	// words (errAt == len(words)).
	failed bool
	errAt  int
	errMsg string // set for errors that are not about a word
}

var shapes sync.Map // shape key → *template

func shapeKey(words []Word, buf []byte) []byte {
	for _, w := range words {
		switch {
		case w.Quoted:
			buf = append(buf, 'Q')
		case literals[w.Text]:
			buf = append(buf, w.Text...)
		default:
			buf = append(buf, 'W')
		}
		buf = append(buf, ' ')
	}
	return buf
}

// parseWords parses one statement's words with the participle grammar.
func parseWords(words []Word) (Stmt, *Error) {
	var kb [64]byte
	key := shapeKey(words, kb[:0])
	var tp *template
	if v, ok := shapes.Load(string(key)); ok {
		tp = v.(*template)
	} else {
		tp = compileShape(words)
		shapes.Store(string(key), tp)
	}
	if tp.failed {
		switch {
		case tp.errMsg != "":
			return Stmt{}, &Error{Pos: words[0].Pos, Msg: tp.errMsg}
		case tp.errAt >= len(words):
			return Stmt{}, &Error{Pos: words[len(words)-1].Pos, Msg: "incomplete command in the end"}
		}
		w := words[tp.errAt]
		return Stmt{}, &Error{Pos: w.Pos, Near: w.Text, Msg: "command parse error before '" + Excerpt(w.Text) + "'"}
	}
	s := Stmt{Kind: tp.kind, Pos: words[0].Pos, Verb: words[0].Text, Full: tp.full, Before: tp.before}
	if tp.from >= 0 {
		if tp.from < len(words) {
			s.Args = words[tp.from:len(words):len(words)]
		}
	} else {
		s.Args = make([]Word, len(tp.args))
		for i, j := range tp.args {
			s.Args[i] = words[j]
		}
	}
	return s, nil
}

// compileShape runs participle on a statement and records the result by
// word index.
func compileShape(words []Word) *template {
	toks := make([]lexer.Token, len(words), len(words)+1)
	for i, w := range words {
		tt := tokWord
		if w.Quoted {
			tt = tokQuoted
		}
		toks[i] = lexer.Token{Type: tt, Value: w.Text, Pos: lexer.Position{Offset: i, Line: 1, Column: i + 1}}
	}
	toks = append(toks, lexer.Token{Type: lexer.EOF, Pos: lexer.Position{Offset: len(words), Line: 1, Column: len(words) + 1}})
	pl, err := lexer.Upgrade(&sliceLexer{toks: toks})
	if err != nil {
		return &template{failed: true, errMsg: err.Error()}
	}
	ast, err := stmtParser.ParseFromLexer(pl)
	if err != nil {
		// The parser stopped before a word ("command parse error before
		// 'x'") or ran out of words ("incomplete command in the end").
		t := &template{failed: true}
		var perr participle.Error
		if errors.As(err, &perr) {
			t.errAt = perr.Position().Offset
		}
		return t
	}
	return ast.template(len(words))
}

func idx(ws []wordAST) []int {
	out := make([]int, len(ws))
	for i, w := range ws {
		out[i] = w.Pos.Offset
	}
	return out
}

func (a *stmtAST) template(n int) *template {
	t := &template{from: -1}
	switch {
	case a.Config != nil:
		t.kind, t.from = Config, 1
	case a.Edit != nil:
		t.kind, t.from = Edit, 1
	case a.Set != nil:
		t.kind, t.from = Set, 1
	case a.Unset != nil:
		t.kind, t.from = Unset, 1
	case a.Append != nil:
		t.kind, t.from = Append, 1
	case a.Unselect != nil:
		t.kind, t.from = Unselect, 1
	case a.Next:
		t.kind, t.from = Next, n
	case a.End:
		t.kind, t.from = End, n
	case a.Abort:
		t.kind, t.from = Abort, n
	case a.Delete != nil:
		t.kind, t.from = Delete, 1
	case a.Purge:
		t.kind, t.from = Purge, n
	case a.Rename != nil:
		t.kind, t.args = Rename, []int{a.Rename.From.Pos.Offset, a.Rename.To.Pos.Offset}
	case a.Clone != nil:
		t.kind, t.args = Clone, []int{a.Clone.From.Pos.Offset, a.Clone.To.Pos.Offset}
	case a.Move != nil:
		t.kind, t.args = Move, []int{a.Move.From.Pos.Offset, a.Move.To.Pos.Offset}
		t.before = a.Move.Where == "before"
	case a.Show != nil:
		t.kind, t.full, t.args = Show, a.Show.Full, idx(a.Show.Path)
	case a.Get != nil:
		t.kind, t.from = Get, 1
	case a.Command != nil:
		t.kind, t.from = Command, 1
	}
	return t
}

// Result is one parsed statement or the error that stopped it. Parsing goes
// on after an error so that a script reports every bad line.
type Result struct {
	Stmt Stmt
	Err  *Error
}

// Parse parses a whole script. Statements are returned in source order.
func Parse(src string) []Result {
	units := split(src)
	return parseUnits(units, 1)
}

// ParseParallel is Parse with participle's work spread over the CPUs; the
// scanner and the paste normaliser stay sequential (they carry line state).
func ParseParallel(src string) []Result {
	return parseUnits(split(src), runtime.GOMAXPROCS(0))
}

// ParseStream parses src while the caller consumes it: batches of results in
// source order on the returned channel, which is closed at the end. Scanning
// and parsing run on their own goroutines, so a long script is parsed while
// the first statements are being applied. The caller must drain the channel.
func ParseStream(src string) <-chan []Result {
	const batch = 8192
	units := make(chan []unit, 8)
	out := make(chan []Result, 8)
	go func() {
		splitBatches(src, batch, func(u []unit) { units <- u })
		close(units)
	}()
	go func() {
		for u := range units {
			out <- parseUnits(u, 1)
		}
		close(out)
	}()
	return out
}

// ParseLine parses the statements of one interactive line (a flattened
// paste may hold several).
func ParseLine(line string) []Result { return Parse(line) }

func parseUnits(units []unit, workers int) []Result {
	out := make([]Result, len(units))
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			u := &units[i]
			switch {
			case u.err != nil:
				out[i].Err = u.err
			case u.comment:
				out[i].Stmt = Stmt{Kind: Comment, Pos: u.pos, Text: u.text}
			default:
				out[i].Stmt, out[i].Err = parseWords(u.words)
			}
		}
	}
	if workers <= 1 || len(units) < 4096 {
		work(0, len(units))
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(units) + workers - 1) / workers
	for lo := 0; lo < len(units); lo += chunk {
		hi := min(lo+chunk, len(units))
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(lo, hi)
		}()
	}
	wg.Wait()
	return out
}

// Quote renders a word the way FortiOS prints names and strings: in double
// quotes with '"' and '\' escaped.
func Quote(s string) string {
	if !strings.ContainsAny(s, "\"\\") {
		return "\"" + s + "\""
	}
	var b strings.Builder
	WriteQuoted(&b, s)
	return b.String()
}

// WriteQuoted writes s as Quote renders it, without an allocation of its
// own (show and backup write many).
func WriteQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}
