package grammar

import (
	"fmt"
	"strings"
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

// Excerpt is s as an error may quote it: at most MaxExcerpt bytes, cut on
// a rune boundary and marked with "...", control characters and invalid
// UTF-8 escaped, so that binary garbage or a huge word never reaches a
// terminal whole.
func Excerpt(s string) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= MaxExcerpt {
			b.WriteString("...")
			break
		}
		switch {
		case r == utf8.RuneError && len(s[i:]) > 0 && !utf8.ValidString(s[i:min(i+utf8.UTFMax, len(s))]) && s[i] >= 0x80:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// StripBOM drops a UTF-8 byte order mark at the start of a file (Windows
// editors write one).
func StripBOM(src string) string { return strings.TrimPrefix(src, "\ufeff") }

func lineTooLong(pos Pos, what string) *Error {
	return &Error{Pos: pos, Msg: "command parse error: line too long (" + what + ")"}
}
