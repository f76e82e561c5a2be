package https

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/peertest"
)

// pyPeer is a Python script of testdata run for one test by
// /usr/bin/python3, the only interpreter that sees Debian's modules
// (lasso, pysaml2).
type pyPeer struct {
	name   string
	in     io.WriteCloser // the script's standard input
	out    *bufio.Scanner // its standard output, after the ready line
	ready  string         // the ready line, less its prefix
	stderr lockedBuffer
}

// pyPeerStartup is how long a script may take to print its ready line.
const pyPeerStartup = 30 * time.Second

// requirePython skips loudly (or fails under FOSIM_REQUIRE_PEERS=1)
// when /usr/bin/python3 cannot import module, from Debian package pkg.
func requirePython(t *testing.T, module, pkg string) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import "+module).Run(); err != nil {
		peertest.Missing(t, "%s is not installed (apt-get install %s)", pkg, pkg)
	}
}

// startPyPeer runs script with args and waits for its first line, which
// must begin with ready. The script is killed when the test ends; its
// stderr is logged if the test failed.
func startPyPeer(t *testing.T, name, ready, script string, args ...string) *pyPeer {
	t.Helper()
	// -B: no __pycache__ written into testdata.
	cmd := exec.Command("/usr/bin/python3", append([]string{"-B", script}, args...)...)
	p := &pyPeer{name: name}
	cmd.Stderr = &p.stderr
	var err error
	if p.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if said := p.stderr.String(); t.Failed() && said != "" {
			t.Logf("%s stderr:\n%s", name, said)
		}
	})
	p.out = bufio.NewScanner(out)
	p.out.Buffer(make([]byte, 64<<10), 4<<20)
	first := make(chan bool, 1)
	go func() { first <- p.out.Scan() }()
	select {
	case <-first:
		line := p.out.Text()
		rest, ok := strings.CutPrefix(line, ready)
		if !ok {
			t.Fatalf("%s did not start: %q %s", name, line, p.stderr.String())
		}
		p.ready = rest
	case <-time.After(pyPeerStartup):
		t.Fatalf("%s not ready in %v: %s", name, pyPeerStartup, p.stderr.String())
	}
	return p
}

// peerFile writes text to dir/name for a peer script to read, and
// returns its path.
func peerFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lockedBuffer is a script's stderr, written by exec's copying goroutine
// while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
