package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
	if code, _, errs := ems("", "endpoint", "set", uid, "online", "maybe"); code != 1 || !strings.Contains(errs, "yes or no") {
		t.Fatalf("endpoint set online maybe: %d %s", code, errs)
	}
	if code, _, errs := ems("", "endpoint", "set", uid, "quarantined", "yes"); code != 0 {
		t.Fatal(errs)
	}
	if code, out, _ := ems("", "endpoint", "list"); code != 0 || !strings.Contains(out, "quarantined") {
		t.Fatalf("endpoint list after set: %s", out)
	}
	if code, out, _ := ems("", "endpoint", "list"); code != 0 || !strings.Contains(out, uid) || !strings.Contains(out, "all_registered_clients") || !strings.Contains(out, "00:0c:29:aa:67:74") {
		t.Fatalf("endpoint list: %s", out)
	}
	if code, out, _ := ems("", "rule", "list"); code != 0 || !regexp.MustCompile(`(?m)^all_registered_clients +1 +registered=yes +1$`).MatchString(out) {
		t.Fatalf("rule list: %q", out)
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

// TestEMSServe runs the EMS as "fosim ems" does and drives it with the
// commands that ask the running EMS.
func TestEMSServe(t *testing.T) {
	dir := t.TempDir()
	ems := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"ems", "--data", dir}, args...), strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	const uid = "6108A9179A5C40D7BD57504E15114C1F"
	if code, _, errs := ems("endpoint", "add", uid, "--ip", "172.16.200.242"); code != 0 {
		t.Fatal(errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncWriter
	done := make(chan error, 1)
	go func() { done <- serveEMS(ctx, dir, "127.0.0.1:0", "127.0.0.1:0", &out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "admin on http://") {
		if time.Now().After(deadline) {
			t.Fatalf("the EMS did not start: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !regexp.MustCompile(`^fosim ems: FCTEMS\d{10} on https://127\.0\.0\.1:\d+/api/v1/ \(certificate SHA-256 [0-9A-F]{64}\)`).MatchString(out.String()) {
		t.Fatalf("start line %q", out.String())
	}
	code, before, errs := ems("clock")
	if code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := ems("clock", "advance", "2h"); code != 0 {
		t.Fatal(errs)
	}
	// The token comes from the running EMS, on its clock: iat is 2 h ahead.
	code, tok, errs := ems("token", uid)
	if code != 0 {
		t.Fatal(errs)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(strings.TrimSpace(tok), ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Iat int64 }
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	started, _ := time.Parse(time.RFC3339, strings.TrimSpace(before))
	if ahead := time.Unix(claims.Iat, 0).Sub(started); ahead < 2*time.Hour-time.Minute || ahead > 2*time.Hour+time.Minute {
		t.Fatalf("token iat %d is %v after the EMS clock read before the advance", claims.Iat, ahead)
	}
	if code, out, _ := ems("fabric"); code != 0 || !strings.HasPrefix(out, "FORTIGATE") {
		t.Fatalf("fabric: %q", out)
	}
	if code, _, errs := ems("token", "00000000000000000000000000000000"); code != 1 || !strings.Contains(errs, "no endpoint") {
		t.Fatalf("token of an unknown endpoint: %d %s", code, errs)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
