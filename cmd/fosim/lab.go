package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/fosim/fosim/lab"
)

const labUsage = `usage: fosim lab run [--transcript] [--step-timeout D] DIR…

Runs each lab folder (config.conf, lab.txt; see examples/README.md), or
each lab in a folder of labs ("fosim lab run examples"), on a
fresh in-process appliance with factory defaults: PASS <name>, or a unified
diff of lab.txt against the run and exit status 1. --transcript prints
lab.txt with the output of this run instead (to write a new lab's
expected output, then mask what varies). --step-timeout bounds the wait
for a step's output to match (default 2s).
`

// labCmd is "fosim lab run": it needs no data directory, each lab boots
// its own appliance in a temporary one.
func labCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, labUsage)
			return 2
		}
		fmt.Fprint(stdout, labUsage)
		return 0
	}
	if args[0] != "run" {
		fmt.Fprintf(stderr, "fosim lab: unknown command %q\n%s", args[0], labUsage)
		return 2
	}
	fs := flag.NewFlagSet("fosim lab run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, labUsage) }
	transcript := fs.Bool("transcript", false, "print lab.txt with this run's output")
	stepTimeout := fs.Duration("step-timeout", 2*time.Second, "how long a step waits for its output to match")
	for _, a := range args[1:] {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, labUsage)
			return 0
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, labUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	status := 0
	var dirs []string
	for _, arg := range fs.Args() {
		found, err := lab.Find(arg)
		if err != nil {
			fmt.Fprintln(stderr, "fosim lab:", err)
			status = 1
		}
		dirs = append(dirs, found...)
	}
	for _, dir := range dirs {
		opt := lab.Options{StepTimeout: *stepTimeout}
		if *transcript {
			// no expected output to wait for: collect what each step prints
			opt.Settle = 300 * time.Millisecond
		}
		res, err := lab.RunDir(ctx, dir, opt)
		if err != nil {
			fmt.Fprintln(stderr, "fosim lab:", err)
			status = 1
			continue
		}
		switch {
		case *transcript:
			io.WriteString(stdout, res.Transcript)
		case res.Passed:
			fmt.Fprintf(stdout, "PASS %s\n", res.Name)
		default:
			io.WriteString(stdout, res.Diff)
			fmt.Fprintf(stdout, "FAIL %s\n", res.Name)
		}
		if !res.Passed {
			status = 1
		}
	}
	return status
}
