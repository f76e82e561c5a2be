package cli

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// filter applies "| grep [-i] [-v] [-f] [-c] [-n] [-A n] [-B n] [-C n]
// PATTERN" to a command's output. -f keeps the enclosing config context of
// each match (config / edit lines and their next / end) and marks the match
// with " <---", as FortiOS does.
func filter(out string, pipe []grammar.Word) (string, error) {
	if len(pipe) == 0 {
		return "", &cmdb.Error{Msg: "incomplete command in the end", Code: cmdb.CodeIncomplete}
	}
	if pipe[0].Text != "grep" {
		return "", &cmdb.Error{Msg: "command parse error before '" + pipe[0].Text + "'", Code: cmdb.CodeParse}
	}
	var ignoreCase, invert, context, count, number bool
	after, before := 0, 0
	pattern := ""
	havePattern := false
	args := wordTexts(pipe[1:])
	for i := 0; i < len(args); i++ {
		a := args[i]
		if havePattern || !strings.HasPrefix(a, "-") || a == "-" {
			if havePattern {
				return "", &cmdb.Error{Msg: "command parse error before '" + a + "'", Code: cmdb.CodeParse}
			}
			pattern, havePattern = a, true
			continue
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'i':
				ignoreCase = true
			case 'v':
				invert = true
			case 'f':
				context = true
			case 'c':
				count = true
			case 'n':
				number = true
			case 'A', 'B', 'C':
				if i+1 >= len(args) {
					return "", &cmdb.Error{Msg: "incomplete command in the end", Code: cmdb.CodeIncomplete}
				}
				n, err := strconv.Atoi(args[i+1])
				if err != nil || n < 0 {
					return "", &cmdb.Error{Msg: "value parse error before '" + args[i+1] + "'", Code: cmdb.CodeValue}
				}
				switch a[j] {
				case 'A':
					after = n
				case 'B':
					before = n
				default:
					after, before = n, n
				}
				i++
			default:
				return "", &cmdb.Error{Msg: "command parse error before '" + a + "'", Code: cmdb.CodeParse}
			}
		}
	}
	if !havePattern {
		return "", &cmdb.Error{Msg: "incomplete command in the end", Code: cmdb.CodeIncomplete}
	}
	expr := pattern
	if _, err := regexp.Compile(expr); err != nil {
		expr = regexp.QuoteMeta(pattern)
	}
	if ignoreCase {
		expr = "(?i)" + expr
	}
	re := regexp.MustCompile(expr)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	match := make([]bool, len(lines))
	n := 0
	for i, l := range lines {
		match[i] = re.MatchString(l) != invert
		if match[i] {
			n++
		}
	}
	if count {
		return strconv.Itoa(n) + "\n", nil
	}
	keep := make([]bool, len(lines))
	for i := range lines {
		if !match[i] {
			continue
		}
		for k := max(0, i-before); k <= min(len(lines)-1, i+after); k++ {
			keep[k] = true
		}
	}
	if context {
		for i, opener := range enclosing(lines) {
			if !match[i] {
				continue
			}
			for _, o := range opener {
				keep[o.open] = true
				if o.close >= 0 {
					keep[o.close] = true
				}
			}
		}
	}
	var b strings.Builder
	for i, l := range lines {
		if !keep[i] {
			continue
		}
		if number {
			b.WriteString(strconv.Itoa(i + 1))
			b.WriteByte(':')
		}
		b.WriteString(l)
		if context && match[i] {
			b.WriteString(" <---")
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

type block struct{ open, close int }

// enclosing returns, for each line of show output, the config / edit blocks
// it sits in (outermost first), with the index of each block's closing line
// (-1 if the output ends first).
func enclosing(lines []string) [][]block {
	opens := func(t string) bool { return strings.HasPrefix(t, "config ") || strings.HasPrefix(t, "edit ") }
	closes := func(t string) bool { return t == "end" || t == "next" }
	closeOf := map[int]int{}
	var st []int
	for i, l := range lines {
		t := strings.TrimLeft(l, " ")
		if closes(t) && len(st) > 0 {
			closeOf[st[len(st)-1]] = i
			st = st[:len(st)-1]
		}
		if opens(t) {
			st = append(st, i)
		}
	}
	out := make([][]block, len(lines))
	st = st[:0]
	for i, l := range lines {
		t := strings.TrimLeft(l, " ")
		if closes(t) && len(st) > 0 {
			st = st[:len(st)-1]
		}
		for _, o := range st {
			c, ok := closeOf[o]
			if !ok {
				c = -1
			}
			out[i] = append(out[i], block{open: o, close: c})
		}
		if opens(t) {
			st = append(st, i)
		}
	}
	return out
}
