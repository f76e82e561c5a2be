package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestEMSCommandLine(t *testing.T) {
	dir := t.TempDir()
	ems := func(stdin string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"ems", "--data", dir}, args...), strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	const uid = "6108A9179A5C40D7BD57504E15114C1F"
	if code, _, errs := ems("", "endpoint", "add", uid, "--ip", "172.16.200.242", "--mac", "00-0c-29-aa-67-74", "--user", "userc"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := ems("", "endpoint", "add", "new", "--ip", "not-an-ip"); code != 1 || !strings.Contains(errs, "an IPv4 address") {
		t.Fatalf("bad ip: %d %s", code, errs)
	}
	if code, _, errs := ems("", "rule", "add", "all_registered_clients", "--match", "registered=yes"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := ems("", "rule", "add", "x", "--match", "colour=red"); code != 1 || !strings.Contains(errs, "unknown condition") {
		t.Fatalf("bad rule: %d %s", code, errs)
	}
	if code, out, _ := ems("", "endpoint", "list"); code != 0 || !strings.Contains(out, uid) || !strings.Contains(out, "all_registered_clients") || !strings.Contains(out, "00:0c:29:aa:67:74") {
		t.Fatalf("endpoint list: %s", out)
	}
	if code, out, errs := ems("", "token", uid); code != 0 || !strings.HasPrefix(out, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.") {
		t.Fatalf("token: %d %s %s", code, out, errs)
	}
	if code, _, _ := ems("", "down"); code != 0 {
		t.Fatal("down")
	}
	if code, out, _ := ems("", "show"); code != 0 || !strings.Contains(out, "state: down") || !strings.Contains(out, "serial-number: FCTEMS") {
		t.Fatalf("show: %s", out)
	}
	if code, _, errs := ems("", "clock"); code != 1 || !strings.Contains(errs, "no EMS runs") {
		t.Fatalf("clock without an EMS: %d %s", code, errs)
	}
	if code, _, errs := ems("", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errs)
	}
}
