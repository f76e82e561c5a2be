package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os/signal"
	"syscall"
	"time"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/iked"
	"github.com/fosim/fosim/daemons/sshd"
)

// serve runs the headless appliance until SIGINT or SIGTERM.
func serve(st *cmdb.Store, dataDir, sshAddr string, ike iked.Options, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := log.New(stderr, "", log.LstdFlags)
	app := cli.NewAppliance(st)
	app.DataDir = dataDir // the USB disk is its folder usb
	// The appliance daemons; authd and samld join as they land.
	ikeDaemon := iked.New(ike)
	app.VPN = ikeDaemon
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug}, ikeDaemon)
	if err := sup.Start(ctx); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	defer func() {
		if err := sup.Stop(5 * time.Second); err != nil {
			fmt.Fprintln(stderr, "fosim:", err)
		}
	}()
	srv := &sshd.Server{App: app, DataDir: dataDir, Logf: logger.Printf}
	if err := srv.Listen(sshAddr); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	fmt.Fprintf(stdout, "fosim: serving SSH on %s, IKE on UDP %v (data %s)\n", srv.Addr(), ikeDaemon.Addrs(), dataDir)
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	return 0
}
