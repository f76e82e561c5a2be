package iked

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// BenchmarkIKESetup: IKE_SA setups per second, our initiator against iked
// over loopback (IKE_SA_INIT + IKE_AUTH with PSK and one child SA), with the
// DH floor of one handshake measured in the same run.
func BenchmarkIKESetup(b *testing.B) {
	for _, g := range []uint16{19, 14, 31} {
		b.Run(fmt.Sprintf("group%d", g), func(b *testing.B) {
			l := newBenchLab(b)
			ikeS, _ := suite.ParseIKE("aes128-sha256")
			ikeS.DHGroup = g
			espS, _ := suite.ParseESP("aes128-sha256")
			floor := dhFloor(g, 20)
			b.ResetTimer()
			rate := runSetups(b, l.d.Addrs()[0], ikeS, espS)
			b.ReportMetric(rate, "setups/s")
			b.ReportMetric(floor.Seconds()*1e6, "dh-floor-µs")
			b.ReportMetric(rate*floor.Seconds(), "x-dh-floor")
		})
	}
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
			p.spiR = randUint64()
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

// BenchmarkCharonResponder: the same setups against strongSwan's charon as
// the responder, started beforehand by testdata/charon-responder.sh (root,
// a private mount namespace) which prints the address to export:
//
//	FOSIM_CHARON=127.0.0.1:17500 go test ./daemons/iked -run '^$' -bench CharonResponder
func BenchmarkCharonResponder(b *testing.B) {
	addr := os.Getenv("FOSIM_CHARON")
	if addr == "" {
		b.Skip("SKIPPED LOUDLY: start testdata/charon-responder.sh and set FOSIM_CHARON")
	}
	server := netip.MustParseAddrPort(addr)
	for _, g := range []uint16{19, 14, 31} {
		b.Run(fmt.Sprintf("group%d", g), func(b *testing.B) {
			ikeS, _ := suite.ParseIKE("aes128-sha256")
			ikeS.DHGroup = g
			espS, _ := suite.ParseESP("aes128-sha256")
			floor := dhFloor(g, 20)
			b.ResetTimer()
			b.ReportMetric(runSetups(b, server, ikeS, espS), "setups/s")
			b.ReportMetric(floor.Seconds()*1e6, "dh-floor-µs")
		})
	}
}

// runSetups dials b.N tunnels from 2×GOMAXPROCS initiators and returns
// the setups per second.
func runSetups(b *testing.B, server netip.AddrPort, ikeS, espS suite.Suite) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan struct{}, b.N)
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	var errOnce sync.Once
	for w := 0; w < runtime.GOMAXPROCS(0)*2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				tun, err := client.Dial(context.Background(), client.Config{Server: server, PSK: []byte("s3cret-psk"),
					IKE: ikeS, ESP: espS, Local: netip.MustParseAddrPort("127.0.0.1:0"), Timeout: 5 * time.Second})
				if err != nil {
					errOnce.Do(func() { b.Error(err) })
					continue
				}
				tun.Close()
			}
		}()
	}
	wg.Wait()
	return float64(b.N) / time.Since(start).Seconds()
}
