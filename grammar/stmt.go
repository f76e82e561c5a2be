// Package grammar turns FortiOS configuration text into statements.
//
// It knows the language (config / edit / set / … / end, quoting, comments,
// the pasted-from-a-web-page forms) but nothing of the schema: whether
// "system global" is a table or "hostname" an attribute is cmdb's business.
package grammar

import (
	"fmt"
	"strings"
)

// Kind is what a statement does.
type Kind uint8

const (
	Invalid  Kind = iota
	Config        // config <path…>
	Edit          // edit <name>
	Set           // set|select <attr> <value…>
	Unset         // unset|clear <attr>
	Append        // append <attr> <value…>
	Unselect      // unselect <attr> <value…>
	Next          // next
	End           // end
	Abort         // abort
	Delete        // delete <name>
	Purge         // purge
	Rename        // rename <a> to <b>
	Clone         // clone <a> to <b>
	Move          // move <a> before|after <b>
	Show          // show [full-configuration] [path…]
	Get           // get [path…]
	Comment       // # … (including the #config-version header)
	Command       // execute / diagnose / exit …: words handed to the shell
)

var kindNames = [...]string{
	Invalid: "invalid", Config: "config", Edit: "edit", Set: "set", Unset: "unset",
	Append: "append", Unselect: "unselect", Next: "next", End: "end", Abort: "abort",
	Delete: "delete", Purge: "purge", Rename: "rename", Clone: "clone", Move: "move",
	Show: "show", Get: "get", Comment: "comment", Command: "command",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Pos is a 1-based line and column (in bytes) in the source text. 32-bit
// fields keep a Word small: a million-line script holds millions of them.
type Pos struct {
	Line, Col int32
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Word is one word of a statement after quoting has been resolved.
type Word struct {
	Text   string
	Pos    Pos
	Quoted bool // written in quotes: never a keyword
}

// Placeholder returns the first documentation placeholder inside a quoted
// word ("http://<FortiGate FQDN>/…"), for the schema to refuse in values
// that cannot hold free text; bare placeholders are already syntax errors.
func (w Word) Placeholder() string {
	if !w.Quoted || strings.IndexByte(w.Text, '<') < 0 {
		return ""
	}
	return findPlaceholder(w.Text)
}

// Stmt is one statement with its position.
type Stmt struct {
	Kind Kind
	Pos  Pos
	// Verb is the command word as resolved (select, clear, show …); for
	// Command it is the first word.
	Verb string
	// Args holds the words after the verb: the path of config/show/get, the
	// name of edit/delete, the attribute then values of set/append/unselect,
	// the two names of rename/clone/move (without to/before/after), the
	// remaining words of a Command.
	Args []Word
	// Full is set by "show full-configuration".
	Full bool
	// Before is set by "move a before b".
	Before bool
	// Text is the comment text (without '#') for Comment.
	Text string
}

// Error is a syntax error with the position it was found at.
type Error struct {
	Pos Pos
	// Near is the word the parser stopped before, as FortiOS quotes it in
	// "command parse error before 'x'".
	Near string
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}
