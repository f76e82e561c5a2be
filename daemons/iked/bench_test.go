package iked

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/ike"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/internal/peertest"
)

// BenchmarkIKESetup: IKE_SA setups per second, our initiator against iked
// over loopback (IKE_SA_INIT + IKE_AUTH with PSK and one child SA), then the
// same setups against strongSwan's charon as the responder, started in the
// same run by testdata/charon-responder.sh, with the DH floor of one
// handshake. The figure is iked's rate over charon's (x-charon). Without
// root or charon, only iked is measured and the charon half is skipped
// loudly (an error under FOSIM_REQUIRE_PEERS=1).
func BenchmarkIKESetup(b *testing.B) {
	charon, haveCharon := startCharonResponder(b)
	for _, g := range []uint16{19, 14, 31} {
		b.Run(fmt.Sprintf("group%d", g), func(b *testing.B) {
			l := newBenchLab(b)
			ikeS, _ := suite.ParseIKE("aes128-sha256")
			ikeS.DHGroup = g
			espS, _ := suite.ParseESP("aes128-sha256")
			floor := dhFloor(g, 20)
			b.ResetTimer()
			rate := runSetups(b, l.d.Addrs()[0], ikeS, espS, client.TransportUDP)
			b.ReportMetric(rate, "setups/s")
			b.ReportMetric(floor.Seconds()*1e6, "dh-floor-µs")
			b.ReportMetric(rate*floor.Seconds(), "x-dh-floor")
			if haveCharon {
				charonRate := runSetups(b, charon, ikeS, espS, client.TransportUDP)
				b.ReportMetric(charonRate, "charon-setups/s")
				b.ReportMetric(rate/charonRate, "x-charon")
			}
		})
	}
}

// startCharonResponder runs testdata/charon-responder.sh on a free port and
// returns charon's address once it answers; the script's process group is
// killed when the benchmark ends.
func startCharonResponder(b *testing.B) (netip.AddrPort, bool) {
	b.Helper()
	missing := ""
	if _, err := os.Stat("/usr/lib/ipsec/charon"); err != nil {
		missing = "strongSwan charon"
	} else if os.Geteuid() != 0 {
		missing = "root"
	}
	if missing != "" {
		if peertest.Required() {
			b.Fatalf("charon as the responder needs %s (FOSIM_REQUIRE_PEERS=1)", missing)
		}
		b.Logf("SKIPPED LOUDLY: charon as the responder needs %s; only iked is measured", missing)
		return netip.AddrPort{}, false
	}
	port := freeUDPPort(b)
	cmd := exec.Command("bash", "testdata/charon-responder.sh")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "SECONDS_UP=3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "FOSIM_CHARON="); ok {
				ready <- addr
			}
		}
		close(ready)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			b.Fatal("charon-responder.sh ended before charon was up")
		}
		return netip.MustParseAddrPort(addr), true
	case <-time.After(30 * time.Second):
		b.Fatal("charon did not come up within 30s")
	}
	return netip.AddrPort{}, false
}

// dhFloor is the cost of one handshake's Diffie-Hellman: two key pairs and
// two shared secrets.
func dhFloor(g uint16, n int) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		a, _ := suite.NewDH(g)
		c, _ := suite.NewDH(g)
		a.Shared(c.Public())
		c.Shared(a.Public())
	}
	return time.Since(start) / time.Duration(n)
}

func newBenchLab(b *testing.B) *lab {
	return newLabTB(b, fmt.Sprintf(basePhase1, "aes128-sha256", "19 14 31", "aes128-sha256"), false)
}

// BenchmarkTunnelsMemoryAndFlush establishes 10,000 tunnels (memory per
// tunnel) and then flushes 100,000 on an ike-tcp-port change: the extra
// 90,000 are copies of the established ones, as the cost measured is the
// flush, not the handshakes.
func BenchmarkTunnelsMemoryAndFlush(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.GC() // the previous iteration's tunnels must not count
		l := newLabTB(b, fmt.Sprintf(basePhase1, "aes128-sha256", "19", "aes128-sha256"), false)
		ikeS, _ := suite.ParseIKE("aes128-sha256")
		ikeS.DHGroup = 19
		espS, _ := suite.ParseESP("aes128-sha256")
		const tunnels = 10000
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		work := make(chan int, tunnels)
		for j := 0; j < tunnels; j++ {
			work <- j
		}
		close(work)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					tun, err := client.Dial(context.Background(), client.Config{Server: l.d.Addrs()[0], PSK: []byte("s3cret-psk"),
						IKE: ikeS, ESP: espS, Local: netip.MustParseAddrPort("127.0.0.1:0")})
					if err != nil {
						b.Error(err)
						return
					}
					tun.Close()
				}
			}()
		}
		wg.Wait()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		up := len(l.d.Gateways())
		if up != tunnels {
			b.Fatalf("%d tunnels up, want %d", up, tunnels)
		}
		perTunnel := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / tunnels
		b.ReportMetric(perTunnel, "heap-B/tunnel")

		// 100,000 tunnels: copies of the established ones.
		l.d.mu.Lock()
		var proto []*ikeSA
		for _, sa := range l.d.sas {
			proto = append(proto, sa)
		}
		for len(l.d.sas) < 100000 {
			p := *proto[len(l.d.sas)%len(proto)]
			p.spiR = ike.NewIKESPI()
			p.timers = nil
			l.d.sas[p.spiR] = &p
		}
		l.d.mu.Unlock()
		start := time.Now()
		l.apply("config system settings\nset ike-tcp-port 20443\nend\n")
		flush := time.Since(start)
		if n := len(l.d.Gateways()); n != 0 {
			b.Fatalf("%d tunnels left after the flush", n)
		}
		b.ReportMetric(float64(flush.Microseconds())/1000, "flush-100k-ms")
	}
}

// runSetups dials b.N tunnels from 8×GOMAXPROCS initiators (enough that
// neither responder waits on round trips), deleting each
// once it is up, and returns the setups per second.
func runSetups(b *testing.B, server netip.AddrPort, ikeS, espS suite.Suite, transport string) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan struct{}, b.N)
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	var errOnce sync.Once
	for w := 0; w < runtime.GOMAXPROCS(0)*8; w++ {
		wg.Add(1)
		local := netip.MustParseAddrPort("127.0.0.1:0")
		if transport == client.TransportTCP {
			// each closed connection leaves a TIME_WAIT behind: one source
			// address per worker keeps the kernel's search for a free
			// ephemeral port short (and from running out)
			local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(1 + w), 1}), 0)
		}
		go func() {
			defer wg.Done()
			for range work {
				tun, err := client.Dial(context.Background(), client.Config{Server: server, PSK: []byte("s3cret-psk"),
					IKE: ikeS, ESP: espS, Local: local, Timeout: 5 * time.Second, Transport: transport})
				if err != nil {
					errOnce.Do(func() { b.Error(err) })
					continue
				}
				// deleted at once, so that both responders keep a small SA
				// table and the figure is the handshake, not the table's
				// growth (charon slows down as established SAs pile up)
				if err := tun.Delete(context.Background()); err != nil {
					errOnce.Do(func() { b.Error(err) })
				}
			}
		}()
	}
	wg.Wait()
	return float64(b.N) / time.Since(start).Seconds()
}
