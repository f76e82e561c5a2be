package cli

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Editor is the line editor of a remote terminal (an SSH session with a
// pty): it echoes what is typed, and handles Backspace, Ctrl-C (abandon the
// line), Ctrl-U, Ctrl-D, Tab (complete, cycling through the choices), '?'
// (help at once), the history arrows, backslash-Enter and quoted strings
// continued on the next line. Lines typed ahead or pasted in one burst are
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
	histPos := len(ed.history)
	var cycle []Candidate // Tab choices being cycled
	cycleIdx, cycleStart := 0, 0
	redraw := func(newLine []rune) {
		// erase what is shown of the current line, then draw the new one
		io.WriteString(ed.out, strings.Repeat("\b \b", len(line)))
		line = newLine
		io.WriteString(ed.out, string(line))
	}
	for {
		r, _, err := ed.in.ReadRune()
		if err != nil {
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
			io.WriteString(ed.out, "\n")
			s := string(line)
			if continued(s) {
				line = append(line, '\n')
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
			if n := len(line); n > 0 && line[n-1] != '\n' {
				line = line[:n-1]
				io.WriteString(ed.out, "\b \b")
			}
		case keyCtrlU:
			redraw(nil)
		case keyTab:
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
				line = append(line, r)
				io.WriteString(ed.out, "?")
				continue
			}
			io.WriteString(ed.out, "?\n")
			io.WriteString(ed.out, ed.sh.HelpText(string(line)))
			io.WriteString(ed.out, ed.sh.Prompt()+string(line))
		case keyEscape:
			ed.escape(&line, &histPos, redraw)
		default:
			if r < ' ' {
				continue
			}
			line = append(line, r)
			io.WriteString(ed.out, string(r))
		}
	}
}

// escape handles the arrow keys: up and down walk the history.
func (ed *Editor) escape(line *[]rune, histPos *int, redraw func([]rune)) {
	b, err := ed.in.ReadByte()
	if err != nil || (b != '[' && b != 'O') {
		return
	}
	k, err := ed.in.ReadByte()
	if err != nil {
		return
	}
	switch k {
	case 'A':
		if *histPos > 0 {
			*histPos--
			redraw([]rune(ed.history[*histPos]))
		}
	case 'B':
		if *histPos < len(ed.history)-1 {
			*histPos++
			redraw([]rune(ed.history[*histPos]))
		} else {
			*histPos = len(ed.history)
			redraw(nil)
		}
	}
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
