package cli

import (
	"io"
	"strings"
)

// paged returns the writer command output goes through: a "--More--" pager
// when the session is interactive and "config system console" has
// "set output more" (the factory default), else the plain output.
func (sh *Shell) paged() io.Writer {
	if sh.Term == nil || sh.App.Store.SingletonValue("system console", "output") != "more" {
		return sh.Out
	}
	h := sh.Term.Height()
	if h <= 1 {
		h = 25
	}
	return &pager{sh: sh, page: h - 1}
}

// pager stops every page at "--More-- ": space shows the next page, Enter
// one more line, q (or Ctrl-C) drops the rest of the output. The prompt is
// shown only when more output actually follows a full page, so output
// written one line per Write pages too and a page that ends the output
// never waits.
type pager struct {
	sh      *Shell
	page    int
	lines   int
	full    bool // a page is full: ask before the next line
	dropped bool
}

const morePrompt = "--More-- "

func (p *pager) Write(b []byte) (int, error) {
	n := len(b)
	s := string(b)
	for s != "" && !p.dropped {
		if p.full {
			p.full = false
			io.WriteString(p.sh.Out, morePrompt)
			k, err := p.sh.Term.ReadKey()
			io.WriteString(p.sh.Out, "\r"+strings.Repeat(" ", len(morePrompt))+"\r")
			switch {
			case err != nil || k == 'q' || k == 'Q' || k == 3:
				p.dropped = true
				continue
			case k == '\r' || k == '\n':
				p.lines = p.page - 1
			default:
				p.lines = 0
			}
		}
		i := strings.IndexByte(s, '\n')
		line := s
		if i >= 0 {
			line, s = s[:i+1], s[i+1:]
		} else {
			s = ""
		}
		if _, err := io.WriteString(p.sh.Out, line); err != nil {
			return n, err
		}
		if i < 0 {
			continue
		}
		p.lines++
		if p.lines >= p.page {
			p.full = true
		}
	}
	return n, nil
}
