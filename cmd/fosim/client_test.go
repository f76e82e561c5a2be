package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fosim client takes the PSK from a file or the environment, so that it
// need not be in the process list (issue 8 row 15).
func TestClientSecretFromFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := `config vpn ipsec phase1-interface
    edit "dialup"
        set type dynamic
        set interface "port1"
        set ike-version 2
        set peertype any
        set proposal aes128-sha256
        set dhgrp 19
        set psksecret "file-psk-123"
    next
end
config vpn ipsec phase2-interface
    edit "dialup-p2"
        set phase1name "dialup"
        set proposal aes128-sha256
        set pfs disable
    next
end
`
	if _, stderr, rc := fosim(t, conf, "--data", data, "apply", "-"); rc != 0 {
		t.Fatal(stderr)
	}
	app := serveChild(t, data)
	defer app.stop(syscall.SIGTERM)
	port := app.ikePort
	pskFile := filepath.Join(dir, "psk")
	os.WriteFile(pskFile, []byte("file-psk-123\n"), 0o600)
	server := "127.0.0.1:" + port
	out, stderr, rc := fosim(t, "", "client", "--server", server, "--psk-file", pskFile)
	if rc != 0 || !strings.Contains(out, "established") {
		t.Fatalf("--psk-file: rc=%d %s %s", rc, out, stderr)
	}
	t.Setenv("FOSIM_PSK", "file-psk-123")
	out, stderr, rc = fosim(t, "", "client", "--server", server)
	if rc != 0 || !strings.Contains(out, "established") {
		t.Fatalf("$FOSIM_PSK: rc=%d %s %s", rc, out, stderr)
	}
	t.Setenv("FOSIM_PSK", "wrong-psk-456")
	if _, _, rc = fosim(t, "", "client", "--server", server); rc == 0 {
		t.Fatal("a wrong PSK from the environment connected")
	}
}
