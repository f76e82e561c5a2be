package grammar

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input bounds. FortiOS's CLI refuses over-long input; its exact limits are
// not published, so fosim picks bounds that every real configuration fits
// (a flattened web-page paste of a whole example, a PEM certificate in a
// quoted string, a group of a few thousand members) and that keep the
// memory of a hostile line small.
const (
	// MaxLine is the longest logical line, in bytes (quoted strings may
	// span physical lines).
	MaxLine = 1 << 20
	// MaxWords is the most words one logical line may hold.
	MaxWords = 1 << 16
)

// MaxExcerpt is how much of a bad word an error quotes.
const MaxExcerpt = 40

// Excerpt is s as an error may quote it: at most MaxExcerpt bytes (see
// ExcerptN), so that binary garbage or a huge word never reaches a
// terminal whole.
func Excerpt(s string) string { return ExcerptN(s, MaxExcerpt) }

// ExcerptN is s cut to at most max bytes with every non-printable
// character escaped (\n, \x00, \u2028 …) and backslashes doubled, ending
// in "..." when cut.
func ExcerptN(s string, max int) string {
	var pieces []string
	total := 0
	for i, r := range s {
		var p string
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			p = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\\':
			p = `\\`
		case unicode.IsPrint(r):
			p = string(r)
		default:
			p = strings.Trim(fmt.Sprintf("%+q", r), "'")
		}
		pieces = append(pieces, p)
		total += len(p)
		if total > max {
			break
		}
	}
	if total <= max {
		return strings.Join(pieces, "")
	}
	var b strings.Builder
	for _, p := range pieces {
		if b.Len()+len(p) > max-3 {
			break
		}
		b.WriteString(p)
	}
	if max >= 3 {
		b.WriteString("...")
	}
	return b.String()
}

// StripBOM drops a UTF-8 byte order mark at the start of a file (Windows
// editors write one).
func StripBOM(src string) string { return strings.TrimPrefix(src, "\ufeff") }

func lineTooLong(pos Pos, what string) *Error {
	return &Error{Pos: pos, Msg: "command parse error: line too long (" + what + ")"}
}
