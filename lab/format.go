// Package lab runs fosim's training labs: a folder with a FortiOS
// configuration (config.conf) and a script (lab.txt) of console commands,
// client actions and clock moves, each followed by the output it must
// produce, with masks for what varies from run to run. Run starts a real
// appliance in process (a store with factory defaults in a temporary
// directory, iked on free ports of 127.0.0.1, a console shell on the
// appliance clock), plays the script and reports a unified diff of what
// differed. The format is documented in examples/README.md.
package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The files of a lab folder.
const (
	ConfigFile = "config.conf"
	ScriptFile = "lab.txt"
)

// Lab is a parsed lab folder.
type Lab struct {
	Name   string // the folder's base name
	Dir    string
	Config string // the FortiOS script applied before the first step
	// Lines are lab.txt's lines, kept so that a transcript can be laid out
	// line for line against the file.
	Lines []string
	Steps []Step
}

// StepKind tells a console command from a lab action.
type StepKind int

const (
	// Console is "> LINE": a line typed at the appliance's console.
	Console StepKind = iota
	// Action is "! WORD ARGS": a client dial, a clock move …
	Action
)

// Step is one directive of lab.txt and the output expected after it.
type Step struct {
	Kind StepKind
	Text string // the command line or the action, without "> " / "! "
	Line int    // 1-based line of the directive in lab.txt
	// Expected are the expected output lines (trailing blank lines
	// dropped); ExpectedEnd is the index in Lab.Lines after the step's
	// last expected line, where the next comment or directive starts.
	Expected    []string
	ExpectedEnd int
	// AnyOrder, set by a "! any-order" line before the step, compares the
	// output lines regardless of their order: a daemon that acts on many
	// tunnels at once (a flush) does so in no fixed order.
	AnyOrder bool
	patterns []*pattern // Expected compiled
}

// Load reads a lab folder.
func Load(dir string) (*Lab, error) {
	cfg, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	script, err := os.ReadFile(filepath.Join(dir, ScriptFile))
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	l, err := Parse(string(script))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ScriptFile), err)
	}
	l.Name, l.Dir, l.Config = filepath.Base(abs), dir, string(cfg)
	return l, nil
}

// isComment: "#" alone or "# text". FortiOS output never starts so (a
// backup's "#config-version" has no space), which keeps comments and
// expected output apart without quoting.
func isComment(line string) bool {
	return line == "#" || strings.HasPrefix(line, "# ")
}

// Parse reads lab.txt's text.
func Parse(text string) (*Lab, error) {
	text = strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	l := &Lab{Lines: strings.Split(text, "\n")}
	var cur *Step
	anyOrder := false
	var perr error // from compiling the expected lines
	finish := func() {
		if cur == nil {
			return
		}
		for len(cur.Expected) > 0 && strings.TrimSpace(cur.Expected[len(cur.Expected)-1]) == "" {
			cur.Expected = cur.Expected[:len(cur.Expected)-1]
		}
		// the expected block ends at its last non-blank line
		cur.ExpectedEnd = cur.Line + len(cur.Expected)
		for k, e := range cur.Expected {
			p, err := compile(e)
			if err != nil {
				perr = fmt.Errorf("line %d: %w", cur.Line+1+k, err)
			}
			cur.patterns = append(cur.patterns, p)
		}
		l.Steps = append(l.Steps, *cur)
		cur = nil
	}
	for i, line := range l.Lines {
		switch {
		case isComment(line):
			finish()
		case strings.HasPrefix(line, "> ") || line == ">":
			finish()
			cur = &Step{Kind: Console, Text: strings.TrimPrefix(strings.TrimPrefix(line, ">"), " "), Line: i + 1, AnyOrder: anyOrder}
			anyOrder = false
		case strings.TrimSpace(line) == "! any-order":
			finish()
			anyOrder = true
		case strings.HasPrefix(line, "! "):
			finish()
			cur = &Step{Kind: Action, Text: strings.TrimSpace(line[2:]), Line: i + 1, AnyOrder: anyOrder}
			anyOrder = false
		case anyOrder && strings.TrimSpace(line) != "":
			return nil, fmt.Errorf("line %d: \"! any-order\" must be followed by the step it applies to", i+1)
		case cur != nil:
			if strings.HasPrefix(line, `\`) {
				line = line[1:] // an output line that starts with '>', '!', '#' or '\'
			}
			cur.Expected = append(cur.Expected, line)
		case strings.TrimSpace(line) != "":
			return nil, fmt.Errorf("line %d: output that follows no step (a step starts with \"> \" or \"! \"; a comment with \"# \" ends the step before it): %q", i+1, line)
		}
	}
	finish()
	if perr != nil {
		return nil, perr
	}
	if anyOrder {
		return nil, fmt.Errorf("\"! any-order\" at the end, with no step to apply to")
	}
	if len(l.Steps) == 0 {
		return nil, fmt.Errorf("no steps (lines starting with \"> \" or \"! \")")
	}
	return l, nil
}

// masks are the placeholders an expected line may hold for what varies from
// run to run; any other <…> is literal text (FortiOS prints "<---").
var masks = map[string]string{
	"*":      `.*`,
	"TIME":   `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?`, // a debug timestamp or a clock reading
	"SPI":    `[0-9a-fA-F]{8}`,                           // an ESP SPI
	"COOKIE": `[0-9a-fA-F]{16}`,                          // an IKE SPI
	"HEX":    `[0-9a-fA-F]+`,
	"N":      `-?\d+`,
	"PORT":   `\d{1,5}`,
	"PTR":    `0x[0-9a-f]+`,
	"UUID":   `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
}

// maskRE finds masks; "<SPI:in>" is a mask with a label: every use of the
// label in the lab must stand for the same text.
var maskRE = regexp.MustCompile(`<(\*|[A-Z]+)(?::([a-z0-9_-]+))?>`)

// pattern is an expected line compiled.
type pattern struct {
	text   string
	re     *regexp.Regexp
	labels []string // the labelled masks, in order of their groups
}

func compile(line string) (*pattern, error) {
	p := &pattern{text: line}
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, m := range maskRE.FindAllStringSubmatchIndex(line, -1) {
		name := line[m[2]:m[3]]
		expr, ok := masks[name]
		if !ok {
			continue // not a mask: literal text
		}
		re.WriteString(regexp.QuoteMeta(line[last:m[0]]))
		if m[4] >= 0 {
			p.labels = append(p.labels, line[m[4]:m[5]])
			re.WriteString("(" + expr + ")")
		} else {
			re.WriteString("(?:" + expr + ")")
		}
		last = m[1]
	}
	re.WriteString(regexp.QuoteMeta(line[last:]))
	re.WriteString("$")
	var err error
	p.re, err = regexp.Compile(re.String())
	return p, err
}

// match tells whether actual fits the pattern, ignoring labels.
func (p *pattern) match(actual string) bool { return p.re.MatchString(actual) }

// bind matches actual and checks its labelled masks against the values
// bound so far, binding new labels; it reports the first label whose value
// differs.
func (p *pattern) bind(actual string, bound map[string]string) (ok bool, conflict string) {
	m := p.re.FindStringSubmatch(actual)
	if m == nil {
		return false, ""
	}
	fresh := map[string]string{}
	for i, label := range p.labels {
		v := m[i+1]
		if was, ok := bound[label]; ok {
			if was != v {
				return false, fmt.Sprintf("<…:%s> is %s here but was %s before", label, v, was)
			}
			continue
		}
		if was, ok := fresh[label]; ok && was != v {
			return false, fmt.Sprintf("<…:%s> is %s and %s on one line", label, was, v)
		}
		fresh[label] = v
	}
	for k, v := range fresh {
		bound[k] = v
	}
	return true, ""
}

// Find lists the labs in dir: dir itself when it holds a lab.txt, else its
// sub-folders that do ("fosim lab run examples"), sorted by name.
func Find(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, ScriptFile)); err == nil {
		return []string{dir}, nil
	}
	found, err := filepath.Glob(filepath.Join(dir, "*", ScriptFile))
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: no %s here or in its sub-folders", dir, ScriptFile)
	}
	var dirs []string
	for _, f := range found {
		dirs = append(dirs, filepath.Dir(f))
	}
	return dirs, nil // Glob sorts
}
