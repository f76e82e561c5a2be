package grammar

import (
	"fmt"
	"strings"
)

// rawLine is one logical line: the words between two unquoted newlines.
type rawLine struct {
	pos     Pos
	words   []rawWord
	comment string // set when the line is a '#' comment
	isCmt   bool
	err     *Error // unterminated quote, …
}

type rawWord struct {
	Word
	// placeholder is a bare "<name>" documentation placeholder in the word.
	placeholder string
	// annotation marks a bare "<---" web-page annotation arrow.
	annotation bool
	// unterminated marks a quote that never closed before the end of input.
	unterminated bool
}

// scanner splits source text into logical lines of words, resolving the
// quoting rules of FortiOS (see FIDELITY.md "Quoting").
type scanner struct {
	src  string
	i    int
	line int
	bol  int // offset of the beginning of the current physical line
	buf  strings.Builder
	// scratch is reused for the words of each line; callers copy what they keep.
	scratch []rawWord
}

func (s *scanner) pos() Pos { return Pos{Line: int32(s.line), Col: int32(s.i - s.bol + 1)} }

func (s *scanner) newline() {
	s.i++
	s.line++
	s.bol = s.i
}

// next returns the next logical line, or false at the end of the input.
func (s *scanner) next() (rawLine, bool) {
	ln := rawLine{words: s.scratch[:0]}
	defer func() {
		if cap(ln.words) > 1024 {
			ln.words = nil // a huge line's words are not kept for the next
		}
		s.scratch = ln.words[:0]
	}()
	afterNote := false // an annotation was seen on this physical line
	start := s.i
	for {
		if s.i-start > MaxLine || len(ln.words) > MaxWords {
			return s.tooLong(ln, start)
		}
		// skip blanks
		for s.i < len(s.src) {
			c := s.src[s.i]
			if c == ' ' || c == '\t' || c == '\r' {
				s.i++
				continue
			}
			if n := webBlank(s.src, s.i); n > 0 {
				s.i += n
				continue
			}
			if c == '\\' && s.i+1 < len(s.src) && s.src[s.i+1] == '\n' {
				s.i++
				s.newline()
				continue
			}
			if c == '\\' && s.i+2 < len(s.src) && s.src[s.i+1] == '\r' && s.src[s.i+2] == '\n' {
				s.i += 2
				s.newline()
				continue
			}
			break
		}
		if s.i >= len(s.src) {
			return ln, len(ln.words) > 0 || ln.err != nil
		}
		c := s.src[s.i]
		if c == '\n' {
			s.newline()
			if len(ln.words) > 0 || ln.err != nil {
				return ln, true
			}
			continue
		}
		if c == '#' && len(ln.words) == 0 {
			ln.pos = s.pos()
			start := s.i + 1
			end := strings.IndexByte(s.src[start:], '\n')
			if end < 0 {
				end = len(s.src)
			} else {
				end += start
			}
			ln.isCmt = true
			ln.comment = strings.TrimRight(s.src[start:end], "\r")
			s.i = end
			return ln, true
		}
		w := s.word(afterNote)
		if w.annotation {
			afterNote = true
		}
		if w.Text == "" && !w.Quoted && !w.unterminated {
			continue // a lone backslash at the end of the input
		}
		if len(ln.words) == 0 {
			ln.pos = w.Pos
		}
		if w.unterminated {
			ln.err = &Error{Pos: w.Pos, Near: w.Text, Msg: "unterminated quoted string"}
			return ln, true
		}
		ln.words = append(ln.words, w)
	}
}

// tooLong refuses the logical line begun at start and skips the rest of
// its physical line; its words are dropped at once.
func (s *scanner) tooLong(ln rawLine, start int) (rawLine, bool) {
	pos := ln.pos
	if len(ln.words) == 0 {
		pos = s.pos()
	}
	if end := strings.IndexByte(s.src[s.i:], '\n'); end >= 0 {
		s.i += end
	} else {
		s.i = len(s.src)
	}
	what := fmt.Sprintf("over %d bytes", MaxLine)
	if len(ln.words) > MaxWords {
		what = fmt.Sprintf("over %d words", MaxWords)
	}
	return rawLine{pos: pos, words: ln.words[:0], err: lineTooLong(pos, what)}, true
}

// word scans one word starting at a non-blank character. literalApos makes
// single quotes ordinary characters: after a "<---" annotation on the line,
// an apostrophe ("don't") is prose, not a quote.
func (s *scanner) word(literalApos bool) rawWord {
	start := s.pos()
	var w rawWord
	w.Pos = start
	// Fast path: a plain bare word needs no copy.
	j := s.i
	for j < len(s.src) {
		c := s.src[j]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || webBlank(s.src, j) > 0 {
			break
		}
		if c == '"' || c == '\'' || c == '\\' || c == '<' {
			j = -1
			break
		}
		j++
	}
	if j > s.i {
		w.Text = s.src[s.i:j]
		s.i = j
		return w
	}
	if s.src[s.i] == '<' && s.i+1 < len(s.src) && s.src[s.i+1] == '-' {
		w.annotation = true
	}
	s.buf.Reset()
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || webBlank(s.src, s.i) > 0:
			return finishWord(w, s.buf.String())
		case c == '\r':
			s.i++
		case c == '<' && !w.annotation:
			// A documentation placeholder: "<psk>", "<FortiGate FQDN>",
			// also inside a word ("http://<FortiGate FQDN>:443/").
			if n := placeholderLen(s.src[s.i:]); n > 0 {
				if w.placeholder == "" {
					w.placeholder = s.src[s.i : s.i+n]
				}
				s.buf.WriteString(s.src[s.i : s.i+n])
				s.i += n
				continue
			}
			s.buf.WriteByte(c)
			s.i++
		case c == '"':
			w.Quoted = true
			s.i++
			closed := false
			for s.i < len(s.src) {
				c = s.src[s.i]
				if c == '"' {
					s.i++
					closed = true
					break
				}
				if c == '\\' && s.i+1 < len(s.src) {
					switch n := s.src[s.i+1]; n {
					case '"', '\'', '\\':
						s.buf.WriteByte(n)
						s.i += 2
						continue
					}
				}
				if c == '\n' {
					s.buf.WriteByte(c)
					s.newline()
					continue
				}
				s.buf.WriteByte(c)
				s.i++
			}
			if !closed {
				return rawWord{Word: Word{Text: s.buf.String(), Pos: start}, unterminated: true}
			}
		case c == '\'' && !literalApos:
			w.Quoted = true
			s.i++
			end := strings.IndexByte(s.src[s.i:], '\'')
			if end < 0 {
				w := rawWord{Word: Word{Text: s.src[s.i:], Pos: start}, unterminated: true}
				s.i = len(s.src)
				return w
			}
			lit := s.src[s.i : s.i+end]
			for _, ch := range []byte(lit) {
				if ch == '\n' {
					s.line++
				}
			}
			if k := strings.LastIndexByte(lit, '\n'); k >= 0 {
				s.bol = s.i + k + 1
			}
			s.buf.WriteString(lit)
			s.i += end + 1
		case c == '\\':
			if s.i+1 >= len(s.src) {
				s.i++
				continue
			}
			n := s.src[s.i+1]
			if n == '\n' {
				s.i++
				s.newline()
				continue
			}
			if n == '\r' && s.i+2 < len(s.src) && s.src[s.i+2] == '\n' {
				s.i += 2
				s.newline()
				continue
			}
			s.buf.WriteByte(n)
			s.i += 2
		default:
			s.buf.WriteByte(c)
			s.i++
		}
	}
	return finishWord(w, s.buf.String())
}

// placeholderLen returns the length of a "<Name …>" placeholder at the start
// of t (letters first, closed on the same line, no quotes inside), or 0.
func placeholderLen(t string) int {
	if len(t) < 3 || t[0] != '<' || !isLetter(t[1]) {
		return 0
	}
	for j := 1; j < len(t) && j < 128; j++ {
		switch t[j] {
		case '>':
			return j + 1
		case '\n', '"', '\'', '<':
			return 0
		}
	}
	return 0
}

func finishWord(w rawWord, text string) rawWord {
	w.Text = text
	return w
}

// webBlank returns the length of a blank that web pages put into pasted
// snippets: a no-break space (U+00A0) or a zero-width space (U+200B); 0 if
// there is none at i.
func webBlank(src string, i int) int {
	if src[i] == 0xc2 && i+1 < len(src) && src[i+1] == 0xa0 {
		return 2
	}
	if src[i] == 0xe2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2] == 0x8b {
		return 3
	}
	return 0
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// findPlaceholder returns the first "<Name …>" in a quoted value.
func findPlaceholder(t string) string {
	for i := 0; i < len(t); i++ {
		if t[i] != '<' || i+1 >= len(t) || !isLetter(t[i+1]) {
			continue
		}
		for j := i + 1; j < len(t) && j-i < 80; j++ {
			c := t[j]
			if c == '>' {
				return t[i : j+1]
			}
			if !(isLetter(c) || c >= '0' && c <= '9' || c == ' ' || c == '_' || c == '-' || c == '.' || c == '/') {
				break
			}
		}
	}
	return ""
}
