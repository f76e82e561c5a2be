package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// Input bounds. FortiOS's CLI refuses over-long input instead of growing
// without limit; Fortinet documents no figure, so fosim's bounds hold the
// longest value the schema models (a 16384-character PEM certificate,
// "vpn certificate") with room for the words and quotes around it. Every
// front end (the SSH pty and plain shells, the console, piped scripts)
// refuses a longer line or statement whole, with ErrInputTooLong, and keeps
// no more than the bound in memory while it skips the rest.
const (
	// MaxLineBytes bounds one physical line (up to its newline).
	MaxLineBytes = 8 << 10
	// MaxStatementBytes bounds a statement continued over several lines
	// (a quoted PEM block, a backslash-continued line).
	MaxStatementBytes = 32 << 10
)

// ErrInputTooLong reports a line or statement over the bounds; the shell
// prints it as a FortiOS parse error.
type ErrInputTooLong struct {
	Limit   int    // the bound that was passed
	Length  int64  // bytes the refused input had (up to its newline)
	Excerpt string // its start (grammar.Excerpt: short, escaped)
}

func (e *ErrInputTooLong) Error() string {
	return fmt.Sprintf("input too long: %d bytes, at most %d allowed: \"%s\"", e.Length, e.Limit, e.Excerpt)
}

// TooLong reports a line of length bytes that starts with start.
func TooLong(limit int, length int64, start string) *ErrInputTooLong {
	return &ErrInputTooLong{Limit: limit, Length: length, Excerpt: grammar.Excerpt(start)}
}

// PrintInputError prints a refused input as the shell prints a failed
// command.
func (sh *Shell) PrintInputError(err error) {
	fmt.Fprintf(sh.Out, "%s\nCommand fail. Return code %d\n", err.Error(), cmdb.CodeParse)
}

// LineReader reads newline-terminated lines from input without a
// terminal (ssh -T, scripts piped into fosim run), at most MaxLineBytes
// each: a longer line is skipped to its newline and reported.
type LineReader struct {
	r *bufio.Reader
}

// NewLineReader reads lines from r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 4096)}
}

// ReadLine returns the next line without its "\n" (or "\r\n"). A line over
// MaxLineBytes gives *ErrInputTooLong (reading goes on after it); the end
// of input gives io.EOF.
func (lr *LineReader) ReadLine() (string, error) {
	var buf []byte
	var total int64
	for {
		chunk, err := lr.r.ReadSlice('\n')
		total += int64(len(chunk))
		if total <= MaxLineBytes+1 { // +1: the newline is not part of the line
			buf = append(buf, chunk...)
		} else if len(buf) < grammar.MaxExcerpt {
			buf = append(buf, chunk[:min(len(chunk), grammar.MaxExcerpt)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || total == 0) {
			return "", err
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
		length := total
		if strings.HasSuffix(string(chunk), "\n") {
			length--
		}
		if length > MaxLineBytes {
			return "", TooLong(MaxLineBytes, length, line)
		}
		return line, nil
	}
}

// ReadStatement is ReadLine, with the lines that follow joined on while a
// quoted string is open or a line ends in a backslash, as the terminal
// editor joins them: a pasted certificate's PEM in one "set" is one
// statement. The whole statement is bounded by MaxLineBytes; input that
// ends inside a quote returns what was read (the parser reports it).
func (lr *LineReader) ReadStatement() (string, error) {
	line, err := lr.ReadLine()
	if err != nil {
		return line, err
	}
	for continued(line) {
		next, err := lr.ReadLine()
		if err == io.EOF {
			return line, nil
		}
		if err != nil {
			return "", err
		}
		if n := int64(len(line)) + 1 + int64(len(next)); n > MaxLineBytes {
			// Skip what is left of the statement, as ReadLine skips a
			// long line, then report it.
			q := scanQuotes(line + "\n" + next)
			for q.continued() {
				more, err := lr.ReadLine()
				if err != nil {
					break
				}
				n += 1 + int64(len(more))
				q.feed('\n')
				for _, r := range more {
					q.feed(r)
				}
			}
			return "", TooLong(MaxLineBytes, n, line)
		}
		line += "\n" + next
	}
	return line, nil
}

// PlainFields answers login and password prompts with lines of input
// without a terminal (nothing to hide an answer from: no echo either).
func (lr *LineReader) PlainFields(out io.Writer) SecretReader {
	return func(prompt string, echo bool) (string, error) {
		io.WriteString(out, prompt)
		line, err := lr.ReadLine()
		io.WriteString(out, "\n")
		return line, err
	}
}

// RunLines runs the statements of input without a terminal (lines, and
// the lines a quoted string or a backslash carries on), in order, without
// prompts or echo, until exit or the end of input; an over-long one is
// refused with an error and the next runs.
func RunLines(sh *Shell, lr *LineReader) error {
	for !sh.Exited() {
		line, err := lr.ReadStatement()
		var tooLong *ErrInputTooLong
		if errors.As(err, &tooLong) {
			sh.PrintInputError(err)
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		sh.Line(line)
	}
	return nil
}

// Editor is the line editor of a remote terminal (an SSH session with a
// pty, the console): it echoes what is typed, and handles Backspace, Ctrl-C
// (abandon the line), Ctrl-U, Ctrl-D, Tab (complete, cycling through the
// choices), '?' (help at once), the history arrows, the cursor (left,
// right, Home, End, Delete, Ctrl-A/E/B/F/K), backslash-Enter and quoted
// strings continued on the next line. Lines typed ahead or pasted in one burst are
// read one by one, each echoed before it runs, as on a FortiGate.
type Editor struct {
	in      *bufio.Reader
	out     io.Writer
	sh      *Shell
	height  atomic.Int32 // set by window changes from another goroutine
	history []string
	// skipLF drops the \n of a \r\n pair; a terminal sends a lone \r for
	// Enter, so the \n cannot be waited for.
	skipLF bool
}

// NewEditor reads keys from in and echoes to out (which must turn "\n"
// into "\r\n" for a terminal; see CRLF).
func NewEditor(in io.Reader, out io.Writer, sh *Shell, height int) *Editor {
	ed := &Editor{in: bufio.NewReader(in), out: out, sh: sh}
	ed.height.Store(int32(height))
	return ed
}

// SetShell makes sh the shell the editor completes and runs for (the
// console logs one admin in after another on one editor, so that keys
// typed ahead are not lost).
func (ed *Editor) SetShell(sh *Shell) { ed.sh = sh }

// SetHeight records a window change.
func (ed *Editor) SetHeight(h int) { ed.height.Store(int32(h)) }

// Height is the terminal height in rows.
func (ed *Editor) Height() int { return int(ed.height.Load()) }

// ReadKey reads one key press (the LF of a CR LF Enter is not a key).
func (ed *Editor) ReadKey() (rune, error) {
	for {
		r, _, err := ed.in.ReadRune()
		if err != nil {
			return 0, err
		}
		if ed.skipLF {
			ed.skipLF = false
			if r == '\n' {
				continue
			}
		}
		if r == '\r' {
			ed.skipLF = true
		}
		return r, nil
	}
}

// ErrInterrupt is returned by ReadLine when Ctrl-C abandons the line.
var ErrInterrupt = errors.New("interrupt")

const (
	keyCtrlA     = 1
	keyCtrlB     = 2
	keyCtrlE     = 5
	keyCtrlF     = 6
	keyCtrlK     = 11
	keyCtrlC     = 3
	keyCtrlD     = 4
	keyBackspace = 8
	keyTab       = 9
	keyCtrlU     = 21
	keyEscape    = 27
	keyDelete    = 127
)

// ReadLine shows prompt and reads one command line.
func (ed *Editor) ReadLine(prompt string) (string, error) {
	io.WriteString(ed.out, prompt)
	var line []rune
	// size is the bytes of line, physStart where its last physical line
	// starts; overflow counts the bytes typed past the bounds, which are
	// neither kept nor echoed (the line is refused at Enter).
	size, physStart := 0, 0
	var overflow int64
	overLimit := 0 // the bound the line passed
	// skipped follows the quotes of the refused input, so that a statement
	// refused inside a quoted string is skipped to its real end (the rest
	// of a pasted certificate does not run as commands).
	var skipped quoteScan
	histPos := len(ed.history)
	var cycle []Candidate // Tab choices being cycled
	cycleIdx, cycleStart := 0, 0
	// cur is the cursor, an index in line; the terminal's cursor is there.
	cur := 0
	back := func(n int) { io.WriteString(ed.out, strings.Repeat("\b", n)) }
	toEnd := func() {
		io.WriteString(ed.out, string(line[cur:]))
		cur = len(line)
	}
	redraw := func(newLine []rune) {
		// erase what is shown of the current line, then draw the new one
		toEnd()
		io.WriteString(ed.out, strings.Repeat("\b \b", len(line)))
		line = newLine
		io.WriteString(ed.out, string(line))
		cur = len(line)
		s := string(line)
		size, physStart = len(s), strings.LastIndexByte(s, '\n')+1
	}
	insert := func(r rune, n int) {
		line = append(line, 0)
		copy(line[cur+1:], line[cur:])
		line[cur] = r
		size += n
		io.WriteString(ed.out, string(line[cur:]))
		cur++
		back(len(line) - cur)
	}
	// remove deletes the rune at i (the cursor, or just before it) and
	// redraws the rest of the line.
	remove := func(i int) {
		size -= utf8.RuneLen(line[i])
		if i < cur {
			back(1)
			cur--
		}
		line = append(line[:i], line[i+1:]...)
		io.WriteString(ed.out, string(line[cur:])+" ")
		back(len(line) - cur + 1)
	}
	lineStart := func() int { // where the cursor's physical line starts
		i := cur
		for i > 0 && line[i-1] != '\n' {
			i--
		}
		return i
	}
	// fits tells whether r (n bytes) fits; when not, the line overflows.
	fits := func(r rune, n int) bool {
		switch {
		case overflow > 0:
		case size+n-physStart > MaxLineBytes:
			overLimit = MaxLineBytes
			skipped = scanQuotes(string(line))
		case size+n > MaxStatementBytes:
			overLimit = MaxStatementBytes
			skipped = scanQuotes(string(line))
		default:
			return true
		}
		overflow += int64(n)
		skipped.feed(r)
		return false
	}
	tooLong := func() error {
		return TooLong(overLimit, int64(size)+overflow, string(line))
	}
	for {
		r, _, err := ed.in.ReadRune()
		if err != nil {
			if overflow > 0 && err == io.EOF {
				return "", tooLong()
			}
			if len(line) > 0 && err == io.EOF {
				io.WriteString(ed.out, "\n")
				return string(line), nil
			}
			return "", err
		}
		if ed.skipLF {
			ed.skipLF = false
			if r == '\n' {
				continue
			}
		}
		if r != keyTab {
			cycle = nil
		}
		switch r {
		case '\r', '\n':
			ed.skipLF = r == '\r'
			toEnd()
			io.WriteString(ed.out, "\n")
			if overflow > 0 {
				if skipped.continued() {
					skipped.feed('\n')
					overflow++
					continue
				}
				return "", tooLong()
			}
			s := string(line)
			if continued(s) {
				line = append(line, '\n')
				cur = len(line)
				size++
				physStart = size
				continue
			}
			if strings.TrimSpace(s) != "" {
				ed.history = append(ed.history, s)
			}
			return s, nil
		case keyCtrlC:
			io.WriteString(ed.out, "\n")
			return "", ErrInterrupt
		case keyCtrlD:
			if len(line) == 0 {
				return "", io.EOF
			}
		case keyBackspace, keyDelete:
			if cur > 0 && line[cur-1] != '\n' && overflow == 0 {
				remove(cur - 1)
			}
		case keyCtrlA:
			back(cur - lineStart())
			cur = lineStart()
		case keyCtrlB:
			if cur > 0 && line[cur-1] != '\n' {
				back(1)
				cur--
			}
		case keyCtrlE:
			toEnd()
		case keyCtrlF:
			if cur < len(line) {
				io.WriteString(ed.out, string(line[cur]))
				cur++
			}
		case keyCtrlK:
			for cur < len(line) {
				remove(cur)
			}
		case keyCtrlU:
			redraw(nil)
		case keyTab:
			toEnd()
			if cycle == nil {
				var start int
				cycle, start = ed.sh.Complete(string(line))
				cycle = withWords(cycle)
				cycleIdx, cycleStart = 0, utf8.RuneCountInString(string(line)[:start])
			} else {
				cycleIdx = (cycleIdx + 1) % len(cycle)
			}
			if len(cycle) == 0 {
				cycle = nil
				continue
			}
			word := cycle[cycleIdx].Word
			newLine := append(append([]rune{}, line[:cycleStart]...), []rune(word)...)
			if len(cycle) == 1 {
				newLine = append(newLine, ' ')
			}
			redraw(newLine)
		case '?':
			if inQuotes(string(line)) {
				if !fits(r, 1) {
					continue
				}
				insert(r, 1)
				continue
			}
			toEnd()
			io.WriteString(ed.out, "?\n")
			io.WriteString(ed.out, ed.sh.HelpText(string(line)))
			io.WriteString(ed.out, ed.sh.Prompt()+string(line))
		case keyEscape:
			switch ed.escapeKey() {
			case 'A': // up: the history, older
				if histPos > 0 {
					histPos--
					redraw([]rune(ed.history[histPos]))
				}
			case 'B': // down: newer, then an empty line
				if histPos < len(ed.history)-1 {
					histPos++
					redraw([]rune(ed.history[histPos]))
				} else {
					histPos = len(ed.history)
					redraw(nil)
				}
			case 'C': // right
				if cur < len(line) {
					io.WriteString(ed.out, string(line[cur]))
					cur++
				}
			case 'D': // left
				if cur > 0 && line[cur-1] != '\n' {
					back(1)
					cur--
				}
			case 'H': // Home
				back(cur - lineStart())
				cur = lineStart()
			case 'F': // End
				toEnd()
			case '3': // Delete: the rune under the cursor
				if cur < len(line) && overflow == 0 {
					remove(cur)
				}
			}
		default:
			if r < ' ' {
				continue
			}
			n := utf8.RuneLen(r)
			if n < 0 {
				n = 3 // utf8.RuneError as it is written
			}
			if !fits(r, n) {
				continue
			}
			insert(r, n)
		}
	}
}

// escapeKey reads the rest of an escape sequence and names its key: 'A'
// to 'D' for the arrows, 'H' Home, 'F' End, '3' Delete; 0 for any other.
func (ed *Editor) escapeKey() byte {
	b, err := ed.in.ReadByte()
	if err != nil || (b != '[' && b != 'O') {
		return 0
	}
	k, err := ed.in.ReadByte()
	if err != nil {
		return 0
	}
	if k < '0' || k > '9' {
		return k
	}
	// "ESC [ n ~" (at most a few digits): 1 and 7 Home, 4 and 8 End, 3
	// Delete.
	num := []byte{k}
	for len(num) < 4 {
		c, err := ed.in.ReadByte()
		if err != nil || c == '~' {
			break
		}
		num = append(num, c)
	}
	switch string(num) {
	case "1", "7":
		return 'H'
	case "4", "8":
		return 'F'
	case "3":
		return '3'
	}
	return 0
}

func withWords(c []Candidate) []Candidate {
	var out []Candidate
	for _, x := range c {
		if x.Word != "" {
			out = append(out, x)
		}
	}
	return out
}

// continued tells whether a line goes on after Enter: it ends with a
// backslash, or a quoted string is still open.
func continued(s string) bool {
	if strings.HasSuffix(s, "\\") && !strings.HasSuffix(s, "\\\\") {
		return true
	}
	return inQuotes(s)
}

// quoteScan follows quoted strings and backslash escapes a byte at a
// time, as inQuotes and continued read them.
type quoteScan struct {
	quote byte // the open quote, or 0
	esc   bool // a backslash waits for the next character
}

func scanQuotes(s string) quoteScan {
	var q quoteScan
	for _, r := range s {
		q.feed(r)
	}
	return q
}

func (q *quoteScan) feed(r rune) {
	c := byte('x')
	if r < utf8.RuneSelf {
		c = byte(r)
	}
	switch {
	case q.esc:
		q.esc = false
	case q.quote == '"' && c == '\\':
		q.esc = true
	case q.quote != 0:
		if c == q.quote {
			q.quote = 0
		}
	case c == '\\':
		q.esc = true
	case c == '"' || c == '\'':
		q.quote = c
	}
}

// continued tells whether the statement goes on after a newline.
func (q quoteScan) continued() bool { return q.quote != 0 || q.esc }

// inQuotes tells whether s ends inside a quoted string.
func inQuotes(s string) bool {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\' && i+1 < len(s):
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\\' && i+1 < len(s):
			i++
		case c == '"' || c == '\'':
			quote = c
		}
	}
	return quote != 0
}

// CRLF wraps a terminal writer so that "\n" goes out as "\r\n".
func CRLF(w io.Writer) io.Writer { return crlf{w} }

type crlf struct{ w io.Writer }

func (c crlf) Write(b []byte) (int, error) {
	if !strings.Contains(string(b), "\n") {
		return c.w.Write(b)
	}
	s := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(c.w, s); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Run drives the shell from the editor until exit or end of input.
func (ed *Editor) Run() error {
	ed.sh.Term = ed
	for !ed.sh.Exited() {
		line, err := ed.ReadLine(ed.sh.Prompt())
		if errors.Is(err, ErrInterrupt) {
			continue
		}
		var tooLong *ErrInputTooLong
		if errors.As(err, &tooLong) {
			ed.sh.PrintInputError(err)
			continue
		}
		if err != nil {
			ed.sh.Session.Reset()
			if err == io.EOF {
				return nil
			}
			return err
		}
		ed.sh.Line(line)
	}
	return nil
}

// ReadField reads an answer to a login or password prompt: echoed when
// echo, else nothing is shown; Backspace and Ctrl-U edit it, Ctrl-C
// abandons it (ErrInterrupt) and at most MaxPasswordBytes are kept.
func (ed *Editor) ReadField(prompt string, echo bool) (string, error) {
	io.WriteString(ed.out, prompt)
	var field []rune
	size := 0
	for {
		r, _, err := ed.in.ReadRune()
		if err != nil {
			return "", err
		}
		if ed.skipLF {
			ed.skipLF = false
			if r == '\n' {
				continue
			}
		}
		switch r {
		case '\r', '\n':
			ed.skipLF = r == '\r'
			io.WriteString(ed.out, "\n")
			return string(field), nil
		case keyCtrlC:
			io.WriteString(ed.out, "\n")
			return "", ErrInterrupt
		case keyCtrlD:
			if len(field) == 0 {
				return "", io.EOF
			}
		case keyBackspace, keyDelete:
			if n := len(field); n > 0 {
				size -= utf8.RuneLen(field[n-1])
				field = field[:n-1]
				if echo {
					io.WriteString(ed.out, "\b \b")
				}
			}
		case keyCtrlU:
			if echo {
				io.WriteString(ed.out, strings.Repeat("\b \b", len(field)))
			}
			field, size = nil, 0
		default:
			if r < ' ' || size+utf8.RuneLen(r) > MaxPasswordBytes {
				continue
			}
			field = append(field, r)
			size += utf8.RuneLen(r)
			if echo {
				io.WriteString(ed.out, string(r))
			}
		}
	}
}
