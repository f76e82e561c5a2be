package cmdb

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/grammar"
)

// bigConfig generates a configuration of at least lines lines: addresses,
// address groups, phase1/phase2 entries and policies referencing them.
func bigConfig(lines int) (string, int) {
	var b strings.Builder
	n := 0
	w := func(s string) {
		b.WriteString(s)
		b.WriteByte('\n')
		n++
	}
	// Proportions: ~30% addresses, ~5% groups, ~5% VPN, ~60% policies.
	addrs := lines * 30 / 100 / 5
	groups := lines * 5 / 100 / 5
	tunnels := lines * 5 / 100 / 16
	w("config firewall address")
	for i := 0; i < addrs; i++ {
		w(fmt.Sprintf("    edit \"net%d\"", i))
		w(fmt.Sprintf("        set subnet 10.%d.%d.0 255.255.255.0", i/256%256, i%256))
		w(fmt.Sprintf("        set comment \"generated address %d\"", i))
		w("        set color 3")
		w("    next")
	}
	w("end")
	w("config firewall addrgrp")
	for i := 0; i < groups; i++ {
		w(fmt.Sprintf("    edit \"grp%d\"", i))
		w(fmt.Sprintf("        set member \"net%d\" \"net%d\" \"net%d\"", i%addrs, (i+1)%addrs, (i+2)%addrs))
		w(fmt.Sprintf("        set comment \"group %d\"", i))
		w("        set color 5")
		w("    next")
	}
	w("end")
	w("config vpn ipsec phase1-interface")
	for i := 0; i < tunnels; i++ {
		w(fmt.Sprintf("    edit \"vpn%d\"", i))
		w("        set interface \"port1\"")
		w("        set ike-version 2")
		w("        set peertype any")
		w("        set proposal aes128-sha256 aes256-sha256")
		w(fmt.Sprintf("        set remote-gw 192.0.%d.%d", i/250%250, i%250+1))
		w("        set psksecret generated-secret")
		w("    next")
	}
	w("end")
	w("config vpn ipsec phase2-interface")
	for i := 0; i < tunnels; i++ {
		w(fmt.Sprintf("    edit \"vpn%d-p2\"", i))
		w(fmt.Sprintf("        set phase1name \"vpn%d\"", i))
		w("        set proposal aes128-sha256")
		w(fmt.Sprintf("        set src-subnet 10.%d.%d.0 255.255.255.0", i/256%256, i%256))
		w("        set dst-subnet 172.16.0.0 255.255.0.0")
		w("    next")
	}
	w("end")
	w("config firewall policy")
	for i := 1; n < lines-12; i++ {
		w(fmt.Sprintf("    edit %d", i))
		w(fmt.Sprintf("        set name \"policy%d\"", i))
		w("        set srcintf \"port1\"")
		w("        set dstintf \"port2\"")
		w("        set action accept")
		w(fmt.Sprintf("        set srcaddr \"net%d\"", i%addrs))
		w(fmt.Sprintf("        set dstaddr \"grp%d\"", i%groups))
		w("        set schedule \"always\"")
		w("        set service \"HTTPS\" \"PING\"")
		w("        set logtraffic all")
		w("    next")
	}
	w("end")
	return b.String(), n
}

func floorRead(src string) int {
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n += len(strings.Fields(sc.Text()))
	}
	return n
}

// BenchmarkApplyMillionLines parses, validates and commits a generated
// 1,000,000-line configuration and reports each phase against the floor of
// reading the same bytes with bufio.Scanner + strings.Fields.
func BenchmarkApplyMillionLines(b *testing.B) {
	src, lines := bigConfig(1_000_000)
	for i := 0; i < b.N; i++ {
		// The floor is the fastest of three reads, so that heap growth and
		// page faults of the first pass are not charged to it alone.
		floor := time.Duration(1 << 62)
		for range 3 {
			t0 := time.Now()
			floorRead(src)
			floor = min(floor, time.Since(t0))
		}
		b.StopTimer()
		st := newSyncedStore(b)
		b.StartTimer()

		grammar.ParseParallel(src) // warm the parser's shape cache and heap
		t0 := time.Now()
		results := grammar.ParseParallel(src)
		parse := time.Since(t0)

		sess := st.NewSession("admin", "bench")
		sess.Batch, sess.HoldCommits = true, true
		t0 = time.Now()
		for _, r := range results {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			if _, err := sess.Exec(r.Stmt); err != nil {
				b.Fatalf("%v: %v", r.Stmt.Pos, err)
			}
		}
		validate := time.Since(t0)
		t0 = time.Now()
		if err := sess.Flush(); err != nil {
			b.Fatal(err)
		}
		commit := time.Since(t0)

		// The whole apply as "fosim apply" runs it, on a second appliance.
		b.StopTimer()
		st2 := newSyncedStore(b)
		b.StartTimer()
		t0 = time.Now()
		res := RunScript(st2.NewSession("admin", "bench"), src, ScriptOptions{})
		whole := time.Since(t0)
		if len(res.Errors) > 0 {
			b.Fatal(res.Errors[0])
		}

		stmts := float64(len(results))
		b.ReportMetric(float64(lines), "lines")
		b.ReportMetric(stmts/floor.Seconds(), "floor-stmt/s")
		b.ReportMetric(stmts/parse.Seconds(), "parse-stmt/s")
		b.ReportMetric(stmts/validate.Seconds(), "validate-stmt/s")
		b.ReportMetric(stmts/commit.Seconds(), "commit-stmt/s")
		b.ReportMetric(float64(parse+validate+commit)/float64(floor), "phases-x-floor")
		b.ReportMetric(float64(whole)/float64(floor), "apply-x-floor")
		b.Logf("lines=%d stmts=%d floor=%v parse=%v validate=%v commit=%v apply=%v", lines, len(results), floor, parse, validate, commit, whole)
	}
}

// newSyncedStore is a factory appliance whose commits are fsynced, as in
// production.
func newSyncedStore(b *testing.B) *Store {
	st, err := Open(b.TempDir(), testSchema(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.EnsureFactory(st.Serial()); err != nil {
		b.Fatal(err)
	}
	return st
}
