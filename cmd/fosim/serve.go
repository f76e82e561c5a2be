package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"

	"github.com/fosim/fosim/cmdb"
)

// serve is "fosim serve": the appliance without a console, until a signal
// or "execute shutdown". A listener that cannot start ends it with status
// 1: headless, nobody would see that it is missing.
func serve(st *cmdb.Store, dataDir string, opt applianceOptions, stdout, stderr io.Writer) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, stopSignals...)
	defer signal.Stop(sig)
	if opt.Logf == nil {
		opt.Logf = log.New(stderr, "", log.LstdFlags).Printf
	}
	a := startAppliance(st, dataDir, opt)
	if len(a.Failed) > 0 {
		for _, err := range a.Failed {
			fmt.Fprintln(stderr, "fosim:", err)
		}
		if err := a.Stop(); err != nil {
			fmt.Fprintln(stderr, "fosim:", err)
		}
		return 1
	}
	for _, n := range a.Notes {
		fmt.Fprintln(stderr, "fosim:", n)
	}
	fmt.Fprintln(stdout, a.Listening())
	select {
	case <-sig:
	case <-a.ShutdownRequested():
	}
	if err := a.Stop(); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	return 0
}
