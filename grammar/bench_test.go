package grammar

import (
	"bufio"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchConfig is a generated configuration of about 200,000 lines: firewall
// addresses, firewall policies and IPsec phase1 interfaces, formatted the
// way "show" prints them.
var benchConfig = sync.OnceValue(func() string {
	const lines = 200000
	var b strings.Builder
	n := 0
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
		n++
	}
	line("#config-version=FGVMK6-7.6.1-FW-build3462-241022:opmode=0:vdom=0:user=admin")
	for i := 0; n < lines; i++ {
		line("config firewall address")
		for j := 0; j < 2000 && n < lines; j++ {
			k := i*2000 + j
			line("    edit \"addr-%d\"", k)
			line("        set uuid 5d4c%04x-1c2b-51ef-3a4b-%012x", k%65536, k)
			line("        set subnet 10.%d.%d.0 255.255.255.0", k/256%256, k%256)
			line("        set comment \"generated address %d\"", k)
			line("    next")
		}
		line("end")
		line("config firewall policy")
		for j := 0; j < 1000 && n < lines; j++ {
			k := i*1000 + j + 1
			line("    edit %d", k)
			line("        set name \"policy-%d\"", k)
			line("        set srcintf \"port1\"")
			line("        set dstintf \"port2\"")
			line("        set action accept")
			line("        set srcaddr \"addr-%d\" \"addr-%d\"", k, k+1)
			line("        set dstaddr \"all\"")
			line("        set schedule \"always\"")
			line("        set service \"HTTP\" \"HTTPS\" \"PING\"")
			line("        set logtraffic all")
			line("    next")
		}
		line("end")
		line("config vpn ipsec phase1-interface")
		for j := 0; j < 500 && n < lines; j++ {
			k := i*500 + j
			line("    edit \"vpn-%d\"", k)
			line("        set type dynamic")
			line("        set interface \"port1\"")
			line("        set ike-version 2")
			line("        set peertype any")
			line("        set net-device disable")
			line("        set proposal aes128-sha256 aes256-sha256")
			line("        set dpd on-idle")
			line("        set psksecret ENC c2VjcmV0LSVk%08d", k)
			line("        set dpd-retryinterval 60")
			line("    next")
		}
		line("end")
	}
	return b.String()
})

// BenchmarkParse parses the 200k-line configuration and, in the same run,
// reads the same bytes with bufio.Scanner + strings.Fields (the floor: line
// splitting and word splitting, no quoting and no grammar). x-floor is how
// many times slower Parse is than that floor.
func BenchmarkParse(b *testing.B) {
	src := benchConfig()
	rs := Parse(src)
	stmts := len(rs)
	for _, r := range rs {
		if r.Err != nil {
			b.Fatalf("generated config does not parse: %v", r.Err)
		}
	}
	nlines := strings.Count(src, "\n")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rs = Parse(src)
	}
	parse := time.Since(start)
	b.StopTimer()
	if len(rs) != stmts {
		b.Fatalf("%d statements, then %d", stmts, len(rs))
	}

	words := 0
	start = time.Now()
	for i := 0; i < b.N; i++ {
		sc := bufio.NewScanner(strings.NewReader(src))
		for sc.Scan() {
			words += len(strings.Fields(sc.Text()))
		}
	}
	floor := time.Since(start)
	if words == 0 {
		b.Fatal("floor read nothing")
	}

	b.ReportMetric(float64(stmts)*float64(b.N)/parse.Seconds(), "stmts/s")
	b.ReportMetric(float64(nlines)*float64(b.N)/floor.Seconds(), "floor-lines/s")
	b.ReportMetric(parse.Seconds()/floor.Seconds(), "x-floor")
}

// BenchmarkParseParallel is BenchmarkParse with ParseParallel.
func BenchmarkParseParallel(b *testing.B) {
	src := benchConfig()
	stmts := len(Parse(src))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ParseParallel(src)
	}
	b.ReportMetric(float64(stmts)*float64(b.N)/b.Elapsed().Seconds(), "stmts/s")
}
