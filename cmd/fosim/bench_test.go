package main

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cli"
)

// BenchmarkApplianceStart is issue 9's start figure: from opening an
// existing data directory to a console showing "login:", admin SSH
// accepting a connection and IKE bound (the target is under 100 ms).
//
//	go test ./cmd/fosim -run '^$' -bench ApplianceStart -benchtime 20x
func BenchmarkApplianceStart(b *testing.B) {
	data := filepath.Join(b.TempDir(), "data")
	// The first start makes the factory configuration, certificates and
	// SSH host keys; the figure is for the starts after it.
	first := time.Now()
	startReady(b, data)
	b.Logf("first start (factory defaults, certificates, host keys): %v", time.Since(first).Round(time.Millisecond))
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		total += startReady(b, data)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/ready")
}

// startReady starts the appliance on data, waits until it is ready, stops
// it, and returns the time to ready.
func startReady(b *testing.B, data string) time.Duration {
	opt := applianceOptions{SSHAddr: "127.0.0.1:0", Logf: func(string, ...any) {}}
	opt.IKE.Addr = "127.0.0.1"
	for _, p := range []*int{&opt.IKE.Port, &opt.IKE.NATTPort} {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		*p = c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
	}
	start := time.Now()
	st, err := openStore(data)
	if err != nil {
		b.Fatal(err)
	}
	a := startAppliance(st, data, opt)
	if len(a.Failed) > 0 {
		b.Fatal(a.Failed)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- consoleSessions(a.App, inR, cli.CRLF(outW), func() int { return 40 }, nil, stop)
		outW.Close()
	}()
	var screen strings.Builder
	buf := make([]byte, 256)
	for !strings.Contains(screen.String(), "login: ") {
		n, err := outR.Read(buf)
		if err != nil {
			b.Fatalf("console: %v (%q)", err, screen.String())
		}
		screen.Write(buf[:n])
	}
	c, err := net.Dial("tcp", a.ssh.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	ready := time.Since(start)
	c.Close()
	close(stop)
	go io.Copy(io.Discard, outR)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	inW.Close()
	if err := a.Stop(); err != nil {
		b.Fatal(err)
	}
	st.Close()
	return ready
}
