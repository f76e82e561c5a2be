package lab

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/peers/ems"
)

// Options tune a run.
type Options struct {
	// StepTimeout bounds the wait for a step's output to match what lab.txt
	// expects: daemons print from their own goroutines (after a clock move,
	// a peer's message), so a step's output may still be arriving when its
	// command returns. Default 2s; a passing step waits only as long as its
	// output takes.
	StepTimeout time.Duration
	// Settle, when set, makes every step collect output for this long
	// instead of stopping at the first match: to record a transcript of
	// a new lab, whose expected output is not written yet.
	Settle time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Name   string
	Passed bool
	// Diff is a unified diff of lab.txt against this run, lines that
	// matched their masks shown as lab.txt has them; "" when it passed.
	Diff string
	// Transcript is lab.txt with every step's expected output replaced by
	// what this run printed: the start of a new lab's expected file.
	Transcript string
}

// runner plays one lab against one appliance.
type runner struct {
	lab     *Lab
	app     *appliance
	ems     *emsPeer                   // the lab's EMS (ems.json); nil without one
	idp     *idpPeer                   // the lab's IdP (idp.json); nil without one
	saml    map[string]samlToken       // SAML logins' tokens, by client name
	ztna    map[string]string          // ZTNA tokens fetched from the EMS, by client name
	emsReg  map[string]*ems.Registered // the EMS's answers to "! ems register", by client name
	tunnels map[string]*client.Tunnel
	bound   map[string]string // labelled masks' values so far
	timeout time.Duration
	settle  time.Duration
}

// stepResult is what one step printed and how it compared.
type stepResult struct {
	actual   []string
	ok       bool
	conflict string // a labelled mask whose value differed
	badLine  int    // index in expected of the conflict's line, else -1
}

// RunDir loads and runs the lab in dir.
func RunDir(ctx context.Context, dir string, opt Options) (*Result, error) {
	l, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return Run(ctx, l, opt)
}

// Run plays l on a new appliance. An error means the lab could not run (its
// configuration is refused, an action is misspelt); a mismatch is a Result
// that did not pass.
func Run(ctx context.Context, l *Lab, opt Options) (res *Result, err error) {
	if opt.StepTimeout <= 0 {
		opt.StepTimeout = 2 * time.Second
	}
	peer, err := startEMS(l.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	defer peer.close()
	// UTC, so that a lab's "execute date/time" reads the same everywhere;
	// the lab's IdP runs on it too
	clk := clock.New(time.UTC)
	idpPeer, err := startIdP(l.Dir, clk)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	defer idpPeer.close()
	app, err := startAppliance(ctx, idpPeer.config(peer.config(l.Config)), filepath.Join(l.Dir, ConfigFile), clk)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	r := &runner{lab: l, app: app, ems: peer, idp: idpPeer, saml: map[string]samlToken{}, ztna: map[string]string{}, emsReg: map[string]*ems.Registered{}, tunnels: map[string]*client.Tunnel{}, bound: map[string]string{}, timeout: opt.StepTimeout, settle: opt.Settle}
	defer func() {
		for _, t := range r.tunnels {
			t.Close()
		}
		if cerr := app.close(); cerr != nil && err == nil {
			err = fmt.Errorf("lab %s: stopping the appliance: %w", l.Name, cerr)
		}
	}()
	results := make([]stepResult, len(l.Steps))
	offset := 0
	for i, step := range l.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch step.Kind {
		case Console:
			app.console.Line(step.Text)
		case Action:
			out, err := r.runAction(ctx, step.Text)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", filepath.Join(l.Dir, ScriptFile), step.Line, err)
			}
			// after the debug lines the action caused
			app.out.Write([]byte(out))
		}
		results[i], offset = r.await(step, offset)
	}
	res = &Result{Name: l.Name, Passed: true}
	for _, sr := range results {
		res.Passed = res.Passed && sr.ok
	}
	res.Transcript = strings.Join(r.layout(results, false), "\n") + "\n"
	if !res.Passed {
		name := filepath.Join(l.Dir, ScriptFile)
		res.Diff = cmdb.UnifiedDiff(strings.Join(l.Lines, "\n")+"\n", strings.Join(r.layout(results, true), "\n")+"\n",
			name+" (expected)", name+" (this run)")
		for i, sr := range results {
			if sr.conflict != "" {
				res.Diff += fmt.Sprintf("%s:%d: %s\n", name, l.Steps[i].Line+1+sr.badLine, sr.conflict)
			}
		}
	}
	return res, nil
}

// await waits, up to the step timeout, for the output after offset to
// match the step's expected lines, and returns how it compared and where
// the next step's output starts.
func (r *runner) await(step Step, offset int) (stepResult, int) {
	patterns := step.patterns
	if r.settle > 0 {
		settled := time.NewTimer(r.settle)
		<-settled.C
		text, end := r.app.out.since(offset)
		return r.compare(patterns, outputLines(text), step.AnyOrder), end
	}
	deadline := time.NewTimer(r.timeout)
	defer deadline.Stop()
	for {
		text, end := r.app.out.since(offset)
		sr := r.compare(patterns, outputLines(text), step.AnyOrder)
		if sr.ok {
			return sr, end
		}
		select {
		case <-r.app.out.changed:
		case <-deadline.C:
			text, end = r.app.out.since(offset)
			return r.compare(patterns, outputLines(text), step.AnyOrder), end
		}
	}
}

// compare matches actual against the patterns line for line (anyOrder:
// each pattern against the first line not yet taken that it matches),
// binding the labelled masks when everything matches.
func (r *runner) compare(patterns []*pattern, actual []string, anyOrder bool) stepResult {
	sr := stepResult{actual: actual, badLine: -1}
	if len(actual) != len(patterns) {
		return sr
	}
	bound := maps.Clone(r.bound)
	taken := make([]bool, len(actual))
	for i, p := range patterns {
		found := false
		for j := range actual {
			if taken[j] || (!anyOrder && j != i) {
				continue
			}
			ok, conflict := p.bind(actual[j], bound)
			if ok {
				taken[j], found = true, true
				break
			}
			if conflict != "" && !anyOrder {
				sr.conflict, sr.badLine = conflict, i
			}
		}
		if !found {
			return sr
		}
	}
	r.bound = bound
	sr.ok = true
	return sr
}

// inExpectedOrder reorders the output of an any-order step so that lines
// follow the patterns they match, the others after them, for the diff.
func inExpectedOrder(patterns []*pattern, actual []string) []string {
	taken := make([]bool, len(actual))
	var out []string
	for _, p := range patterns {
		for j, a := range actual {
			if !taken[j] && p.match(a) {
				taken[j] = true
				out = append(out, a)
				break
			}
		}
	}
	for j, a := range actual {
		if !taken[j] {
			out = append(out, a)
		}
	}
	return out
}

// outputLines splits a step's output into lines, trailing blank lines
// dropped (lab.txt separates steps with them).
func outputLines(text string) []string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// escape makes an output line safe in lab.txt: one that would read as a
// directive or a comment gets a leading backslash.
func escape(line string) string {
	if isComment(line) || line == ">" || strings.HasPrefix(line, "> ") || strings.HasPrefix(line, "! ") || strings.HasPrefix(line, `\`) {
		return `\` + line
	}
	return line
}

// layout is lab.txt with each step's expected lines replaced by what the
// run printed. forDiff keeps lab.txt's own text for every printed line
// that matched its pattern (in order, by longest common subsequence), so
// that a diff shows only real differences, not masked values.
func (r *runner) layout(results []stepResult, forDiff bool) []string {
	l := r.lab
	var out []string
	next := 0 // the next line of l.Lines to copy
	for i, step := range l.Steps {
		out = append(out, l.Lines[next:step.Line]...) // up to and with the directive
		sr := results[i]
		actual := sr.actual
		patterns := step.patterns
		if forDiff && step.AnyOrder {
			actual = inExpectedOrder(patterns, actual)
		}
		lines := make([]string, len(actual))
		for j, a := range actual {
			lines[j] = escape(a)
		}
		if forDiff {
			for _, p := range lcs(len(patterns), len(actual), func(a, b int) bool { return patterns[a].match(actual[b]) }) {
				if p[0] != sr.badLine {
					lines[p[1]] = l.Lines[step.Line+p[0]]
				}
			}
		}
		out = append(out, lines...)
		next = step.ExpectedEnd
	}
	return append(out, l.Lines[next:]...)
}

// seedStore makes a peer's store in dir (open makes it) with what its lab
// file b names.
func seedStore[C interface {
	Apply(F) error
	Save(dir string) error
}, F any](dir string, b []byte, open func(string) (C, error), parse func([]byte) (F, error)) error {
	cfg, err := open(dir)
	if err != nil {
		return err
	}
	f, err := parse(b)
	if err != nil {
		return err
	}
	if err := cfg.Apply(f); err != nil {
		return err
	}
	return cfg.Save(dir)
}
