package control

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
)

func testAppliance(t *testing.T, dir string) *cli.Appliance {
	t.Helper()
	schema, err := cmdb.LoadSchema()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cmdb.Open(dir, schema, cmdb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureFactory(st.Serial()); err != nil {
		t.Fatal(err)
	}
	return cli.NewAppliance(st)
}

func serve(t *testing.T, dir string, uid int) *Server {
	t.Helper()
	srv := &Server{App: testAppliance(t, dir), UID: uid}
	if err := srv.Listen(dir); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv
}

func TestApplyShowBackupThroughSocket(t *testing.T) {
	dir := t.TempDir()
	srv := serve(t, dir, os.Getuid())
	fi, err := os.Stat(srv.Path())
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v %v", srv.Path(), fi.Mode(), err)
	}
	resp, err := Do(dir, Request{Command: "apply", InputName: "<stdin>", Input: []byte("config firewall address\nedit a\nset subnet 10.1.0.0/16\nnext\nend\n")})
	if err != nil || resp.Code != 0 {
		t.Fatalf("apply: %v %d %s", err, resp.Code, resp.Stderr)
	}
	resp, err = Do(dir, Request{Command: "show", Paths: []string{"firewall", "address", "a"}})
	if err != nil || resp.Code != 0 || !strings.Contains(string(resp.Stdout), "set subnet 10.1.0.0 255.255.0.0") {
		t.Fatalf("show: %v %d %q", err, resp.Code, resp.Stdout)
	}
	resp, err = Do(dir, Request{Command: "backup"})
	if err != nil || !strings.HasPrefix(string(resp.File), "#config-version=") {
		t.Fatalf("backup: %v %.80q", err, resp.File)
	}
	// An error keeps its text and exit status.
	resp, _ = Do(dir, Request{Command: "apply", InputName: "x.conf", Input: []byte("config firewall address\nedit b\nset colour 3\nnext\nend\n")})
	if resp.Code != 1 || !strings.HasPrefix(string(resp.Stderr), "x.conf:3:5: command parse error before 'colour'\n") {
		t.Fatalf("apply error: %d %q", resp.Code, resp.Stderr)
	}
}

// Only the appliance's own uid is answered.
func TestOtherUIDRefused(t *testing.T) {
	dir := t.TempDir()
	serve(t, dir, os.Getuid()+1)
	resp, err := Do(dir, Request{Command: "show"})
	if err != nil || resp.Code != 1 || !strings.Contains(string(resp.Stderr), fmt.Sprintf("peer uid %d is not the appliance's uid %d", os.Getuid(), os.Getuid()+1)) {
		t.Fatalf("%v %d %q", err, resp.Code, resp.Stderr)
	}
}

// A socket file left by an appliance that died is neither a running
// appliance for the client nor an obstacle for the next start.
func TestStaleSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SocketName)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal("no stale socket file to test with")
	}
	if _, err := Do(dir, Request{Command: "show"}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale socket: %v", err)
	}
	serve(t, dir, os.Getuid())
	if resp, err := Do(dir, Request{Command: "get", Paths: []string{"system", "global"}}); err != nil || resp.Code != 0 {
		t.Fatalf("after a stale socket: %v %d", err, resp.Code)
	}
	if _, err := Do(t.TempDir(), Request{Command: "show"}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no socket: %v", err)
	}
}

// A 2 GB request is refused from its header, before any of it is read;
// the client refuses it before sending.
func TestRequestSizeBound(t *testing.T) {
	dir := t.TempDir()
	srv := serve(t, dir, os.Getuid())
	c, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, `{"command":"apply","input_name":"big.conf","input_bytes":%d}`+"\n", int64(2)<<30)
	resp, err := readResponse(bufio.NewReader(c))
	if err != nil || resp.Code != 1 || !strings.Contains(string(resp.Stderr), "big.conf: 2147483648 bytes, at most 268435456 (256 MiB) allowed") {
		t.Fatalf("%v %d %q", err, resp.Code, resp.Stderr)
	}
	// 50 MB goes through.
	if resp, err := Do(dir, Request{Command: "get", Paths: []string{"system", "global"}, InputName: "50m.conf", Input: make([]byte, 50<<20)}); err != nil || resp.Code != 0 {
		t.Fatalf("a 50 MB request: %v %d %q", err, resp.Code, resp.Stderr)
	}
	var tooLarge *ErrTooLarge
	if _, err := Do(dir, Request{Command: "apply", InputName: "big.conf", Input: make([]byte, MaxInput+1)}); !errors.As(err, &tooLarge) {
		t.Fatalf("client sent an over-long request: %v", err)
	}
	// A header line without end is bounded too.
	c2, _ := net.Dial("unix", srv.Path())
	defer c2.Close()
	go c2.Write([]byte(strings.Repeat("x", 2<<20)))
	resp, err = readResponse(bufio.NewReader(c2))
	if err != nil || !strings.Contains(string(resp.Stderr), "header line over") {
		t.Fatalf("%v %q", err, resp.Stderr)
	}
}

// A data directory deeper than a socket address can name still gets its
// socket.
func TestLongDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	serve(t, dir, os.Getuid())
	if resp, err := Do(dir, Request{Command: "show", Paths: []string{"system", "global"}}); err != nil || resp.Code != 0 {
		t.Fatalf("%v %d %q", err, resp.Code, resp.Stderr)
	}
}
