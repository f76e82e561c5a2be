package fcnacd

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/fosim/fosim/peers/ems"
)

// BenchmarkSync10kEndpoints100Tags: from the commit that enables the EMS
// to the 200 tag addresses written and all 10,000 records resolving, with
// the heap the synced state holds (after a GC, against the heap before
// the EMS entry was enabled). Each endpoint has two or three of the 100
// tags. ns/TagsOf is the tag check of one IKE_AUTH at that size.
//
//	go test ./daemons/fcnacd -run '^$' -bench Sync10k -benchtime 1x -count 3
func BenchmarkSync10kEndpoints100Tags(b *testing.B) {
	for range b.N {
		b.StopTimer()
		l := newBenchLab(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		start := time.Now()
		l.configure("set call-timeout 60")
		deadline := time.Now().Add(5 * time.Minute)
		for time.Now().Before(deadline) {
			if st := l.state(); st.Endpoints == 10_000 && len(l.d.Dynamic()) == 200 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if st := l.state(); st.Endpoints != 10_000 {
			b.Fatalf("synced %+v", st)
		}
		if got := l.d.TagsOf(netip.MustParseAddr("10.0.3.7")); len(got) < 2 {
			b.Fatalf("10.0.3.7 resolves %v", got)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		// The tag check of one IKE_AUTH: the tags of the client's IP.
		const lookups = 100_000
		t0 := time.Now()
		for i := range lookups {
			l.d.TagsOf(netip.AddrFrom4([4]byte{10, 0, byte(i % 40), byte(i%250 + 1)}))
		}
		b.ReportMetric(float64(time.Since(t0).Nanoseconds())/lookups, "ns/TagsOf")
		b.ReportMetric(elapsed.Seconds()*1000, "ms-to-synced")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB-held")
		l.close()
		b.StartTimer()
	}
}

// newBenchLab is newLab for a benchmark: 10,000 endpoints, 100 tag rules.
func newBenchLab(b *testing.B) *lab {
	b.Helper()
	cfg := func(c *ems.Config) {
		for i := range 10_000 {
			c.Endpoints = append(c.Endpoints, ems.Endpoint{UID: fmt.Sprintf("%032X", i+1),
				IP: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)}), MACs: []string{fmt.Sprintf("00:0c:29:00:%02x:%02x", i/250, i%250)},
				Host: fmt.Sprintf("PC%d", i), User: fmt.Sprintf("user%d", i), OS: "Microsoft Windows 11", FCTVersion: "7.4.5.1949",
				Registered: true, Online: true, CertSN: fmt.Sprintf("%040X", i+1)})
		}
		for i := range 100 {
			c.Rules = append(c.Rules, ems.TagRule{Tag: fmt.Sprintf("tag%02d", i), Type: 1,
				Conditions: []ems.Condition{{Field: "ip", Value: fmt.Sprintf("10.0.%d.0/24", i%40)}}})
		}
	}
	l := startLab(b, cfg)
	l.trust()
	return l
}
