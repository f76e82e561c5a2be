package cmdb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fosim/fosim/grammar"
)

// ScriptError is one failed statement of a script, with its position.
type ScriptError struct {
	Pos grammar.Pos
	Err error
}

func (e ScriptError) Error() string {
	if e.Pos.Line == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("line %d:%d: %s", e.Pos.Line, e.Pos.Col, e.Err.Error())
}

// Code returns the FortiOS return code of the error (-61 when unknown).
func (e ScriptError) Code() int {
	var ce *Error
	if errors.As(e.Err, &ce) {
		return ce.Code
	}
	return CodeParse
}

// ScriptResult is what running a script did.
type ScriptResult struct {
	Statements int
	Errors     []ScriptError
	// Output is what show / get statements printed.
	Output strings.Builder
	// Transcript is the output and the errors in the order they happened,
	// errors as "line L:C: message" + "Command fail. Return code N".
	Transcript strings.Builder
	// Verbatim holds, in lenient mode, the text of config blocks for tables
	// fosim does not model, kept so that a backup round-trips them.
	Verbatim []string
	// Committed is the number of changes the script committed.
	Committed int
}

// ScriptOptions tune RunScript.
type ScriptOptions struct {
	// Lenient keeps unmodelled config blocks verbatim instead of failing.
	Lenient bool
	// Echo, when set, receives informational lines ("new entry 'x' added").
	Echo func(string)
	// Atomic makes the whole script one transaction: any error and nothing
	// is committed. Without it, as FortiOS runs a script, each top-level
	// block is committed with the statements that succeeded.
	Atomic bool
}

// RunScript runs a whole configuration text through a session in batch
// mode: every statement in order, errors collected with their positions, the
// saved entries committed at the end of each top-level config block.
func RunScript(sess *Session, src string, opt ScriptOptions) *ScriptResult {
	src = grammar.StripBOM(src)
	res := &ScriptResult{}
	sess.Batch = true
	committedBefore := sess.Committed()
	if opt.Atomic {
		held := sess.HoldCommits
		sess.HoldCommits = true
		defer func() { sess.HoldCommits = held }()
	}
	defer func() { sess.Batch = false }()
	var lines []string // source lines, only split when a verbatim block needs them
	// verbatim tracks an unmodelled block being skipped in lenient mode.
	var verbatim struct {
		depth    int
		from, to int
	}
	for batch := range grammar.ParseStream(src) {
		for _, r := range batch {
			if verbatim.depth > 0 {
				if r.Err == nil {
					verbatim.to = max(verbatim.to, int(r.Stmt.Pos.Line))
					switch r.Stmt.Kind {
					case grammar.Config:
						verbatim.depth++
					case grammar.End:
						verbatim.depth--
					}
				}
				if verbatim.depth == 0 {
					if lines == nil {
						lines = strings.Split(src, "\n")
					}
					res.Verbatim = append(res.Verbatim, strings.Join(lines[verbatim.from-1:verbatim.to], "\n")+"\n")
				}
				continue
			}
			res.run(sess, r, opt, &verbatim.depth, &verbatim.from, &verbatim.to)
		}
	}
	if verbatim.depth > 0 { // an unmodelled block left open at the end
		if lines == nil {
			lines = strings.Split(src, "\n")
		}
		res.Verbatim = append(res.Verbatim, strings.Join(lines[verbatim.from-1:min(verbatim.to, len(lines))], "\n")+"\n")
	}
	// A script that stops inside a block still saves what it finished, as
	// FortiOS does when the connection closes after "next".
	for sess.Depth() > 0 {
		f := sess.top()
		if f.isEntry() && f.ent.table.Singleton {
			_, _ = sess.Exec(grammar.Stmt{Kind: grammar.End, Verb: "end"})
			continue
		}
		sess.pop(1)
	}
	if opt.Atomic && len(res.Errors) > 0 {
		sess.Discard()
	} else if err := sess.Flush(); err != nil {
		res.fail(ScriptError{Err: err})
	}
	res.Committed = sess.Committed() - committedBefore
	return res
}

// run executes one parsed statement of a script; in lenient mode a config
// block for an unmodelled table starts a verbatim block instead.
func (res *ScriptResult) run(sess *Session, r grammar.Result, opt ScriptOptions, depth, from, to *int) {
	if r.Err != nil {
		res.fail(ScriptError{Pos: r.Err.Pos, Err: SyntaxError(r.Err)})
		return
	}
	st := r.Stmt
	if st.Kind == grammar.Comment {
		return
	}
	res.Statements++
	if opt.Lenient && st.Kind == grammar.Config && sess.Depth() == 0 {
		if _, n, err := sess.schema.Resolve(texts(st.Args)); err != nil || n != len(st.Args) {
			*depth, *from, *to = 1, int(st.Pos.Line), int(st.Pos.Line)
			return
		}
	}
	out, err := sess.Exec(st)
	if err != nil {
		res.fail(ScriptError{Pos: errorPos(st, err), Err: err})
		return
	}
	if out != "" {
		if st.Kind == grammar.Show || st.Kind == grammar.Get {
			res.Output.WriteString(out)
			res.Transcript.WriteString(out)
		} else if opt.Echo != nil {
			opt.Echo(out)
		}
	}
}

func (res *ScriptResult) fail(e ScriptError) {
	res.Errors = append(res.Errors, e)
	fmt.Fprintf(&res.Transcript, "%s\nCommand fail. Return code %d\n", e.Error(), e.Code())
}

// errorPos points at the word an error names ("… before 'colour'"), else
// at the statement.
func errorPos(st grammar.Stmt, err error) grammar.Pos {
	msg := err.Error()
	if p, ok := strings.CutPrefix(msg, "placeholder "); ok {
		p, _, _ = strings.Cut(p, " must be")
		for _, w := range st.Args {
			if strings.Contains(w.Text, p) {
				return w.Pos
			}
		}
	}
	i := strings.LastIndex(msg, "before '")
	if i < 0 {
		return st.Pos
	}
	near := strings.TrimSuffix(msg[i+len("before '"):], "'")
	for _, w := range st.Args {
		if w.Text == near {
			return w.Pos
		}
	}
	return st.Pos
}

// SyntaxError gives a grammar error its FortiOS return code.
func SyntaxError(e *grammar.Error) *Error {
	code := CodeParse
	if strings.HasPrefix(e.Msg, "incomplete") {
		code = CodeIncomplete
	}
	if strings.HasPrefix(e.Msg, "placeholder") {
		code = CodeValue
	}
	return &Error{Msg: e.Msg, Code: code}
}
