package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// What "fosim ems" and "fosim idp" share: each is a peer in its own
// process with its own store in a data directory, served without a
// command and administered with one.

// peerCmd runs "fosim NAME" (name is ems or idp): --help, the flags (fs
// holds the peer's own; --data, --listen and --admin are added here), the
// data directory (--data, else $dataEnv), then serve without a command or
// admin with one. A usage error exits 2, any other 1.
func peerCmd(name, usage, dataEnv string, fs *flag.FlagSet, args []string, dataFlag string, stdout, stderr io.Writer,
	serve func(ctx context.Context, dir, listen, admin string) error, admin func(dir string, args []string) error) int {
	fs.SetOutput(io.Discard)
	data := fs.String("data", dataFlag, "")
	listen := fs.String("listen", "127.0.0.1:0", "")
	adminAddr := fs.String("admin", "127.0.0.1:0", "")
	for _, a := range args {
		if isHelp(a) || a == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "fosim %s: %v\n%s", name, err, usage)
		return 2
	}
	dir := *data
	if dir == "" {
		dir = os.Getenv(dataEnv)
	}
	if dir == "" {
		fmt.Fprintf(stderr, "fosim %s: no data directory: give --data DIR or set %s\n", name, dataEnv)
		return 2
	}
	var err error
	if rest := fs.Args(); len(rest) == 0 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = serve(ctx, dir, *listen, *adminAddr)
	} else {
		err = admin(dir, rest)
	}
	var usageErr usageError
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "fosim %s: %v\n%s", name, err, usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "fosim %s: %v\n", name, err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// adminAddrFile names a running peer's admin address in its data directory.
const adminAddrFile = "admin.addr"

// peerServer is a peer's two HTTP services: what it serves to others (the
// EMS API, the IdP's SAML URLs) and its loopback administration endpoint,
// which the commands that ask the running peer use.
type peerServer struct {
	service, admin http.Handler
	// wrap, if set, wraps the service's listener (the EMS's TLS).
	wrap func(net.Listener) net.Listener
}

// serve listens for the service on listen and for administration on admin
// (loopback), writes the admin address to dir/admin.addr while it runs,
// calls started with both addresses, and serves until ctx ends or a server
// fails.
func (p peerServer) serve(ctx context.Context, dir, listen, admin string, started func(service, admin net.Addr)) error {
	serviceListener, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	adminListener, err := net.Listen("tcp", admin)
	if err != nil {
		serviceListener.Close()
		return err
	}
	addrFile := filepath.Join(dir, adminAddrFile)
	if err := writeFileAtomic(addrFile, []byte(adminListener.Addr().String()+"\n")); err != nil {
		serviceListener.Close()
		adminListener.Close()
		return err
	}
	defer os.Remove(addrFile)
	serviceAddr := serviceListener.Addr()
	if p.wrap != nil {
		serviceListener = p.wrap(serviceListener)
	}
	serviceServer := &http.Server{Handler: p.service, ReadHeaderTimeout: 10 * time.Second}
	adminServer := &http.Server{Handler: p.admin, ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- serviceServer.Serve(serviceListener) }()
	go func() { errs <- adminServer.Serve(adminListener) }()
	started(serviceAddr, adminListener.Addr())
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errs:
	}
	serviceServer.Close()
	adminServer.Close()
	return err
}

// applyLabFile adds or replaces in a peer's store (apply) what the lab
// file in file, or on stdin ("-"), names.
func applyLabFile[F any](file string, stdin io.Reader, parse func([]byte) (F, error), apply func(F) error) error {
	b, name, err := readInput(file, stdin)
	if err != nil {
		return err
	}
	f, err := parse(b)
	if err == nil {
		err = apply(f)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--admin %q: %v", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return fmt.Errorf("--admin %q: the administration endpoint listens on a loopback address only", addr)
	}
	return nil
}

// peerAdminURL is the administration endpoint of the peer (the EMS, the
// IdP: who) running on dir, which "fosim NAME" started.
func peerAdminURL(dir, who, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, adminAddrFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no %s runs on %s (start fosim %s --data %s)", who, dir, name, dir)
	}
	if err != nil {
		return "", err
	}
	return "http://" + strings.TrimSpace(string(b)), nil
}

// askPeer sends one request to a running peer's administration endpoint
// (base) and returns its answer; an answer other than 200 OK is the error,
// as a peerRefusal.
func askPeer(base, method, path string, form string) ([]byte, error) {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		return nil, err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, peerRefusal(strings.TrimSpace(string(b)))
	}
	return b, nil
}

// peerRefusal is a running peer's answer other than 200 OK.
type peerRefusal string

func (r peerRefusal) Error() string { return string(r) }
