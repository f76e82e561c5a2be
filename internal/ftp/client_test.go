package ftp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/ftp/ftpdtest"
)

// Round trips through pyftpdlib, and its refusals.
func TestPyftpdlib(t *testing.T) {
	srv := ftpdtest.Start(t)
	ctx := context.Background()
	login := Login{User: srv.User, Password: srv.Password}
	var c Client
	for _, size := range []int{0, 1, 4096, 300_000} {
		data := bytes.Repeat([]byte{byte(size), '\r', '\n', 0}, size/4+1)[:size]
		if err := c.Put(ctx, srv.Addr, login, "rt.conf", data); err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		if onDisk, err := os.ReadFile(srv.Path("rt.conf")); err != nil || !bytes.Equal(onDisk, data) {
			t.Fatalf("the server stored %d bytes (%v), want %d (binary type: CR LF kept)", len(onDisk), err, size)
		}
		got, err := c.Get(ctx, srv.Addr, login, "rt.conf")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get: %d bytes, %v; want %d", len(got), err, size)
		}
	}
	if _, err := c.Get(ctx, srv.Addr, login, "missing.conf"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("get of a missing file: %v, want a 550", err)
	}
	if _, err := c.Get(ctx, srv.Addr, Login{User: srv.User, Password: "wrong"}, "rt.conf"); err == nil || !strings.Contains(err.Error(), "PASS") {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := c.Get(ctx, srv.Addr, Login{}, "rt.conf"); err == nil {
		t.Errorf("anonymous login accepted by a server that has none")
	}
	if err := c.Put(ctx, srv.Addr, login, "x\r\nDELE rt.conf", []byte("x")); err == nil {
		t.Errorf("a file name with CR LF was sent")
	}
	if _, err := os.Stat(srv.Path("rt.conf")); err != nil {
		t.Errorf("rt.conf is gone: %v", err)
	}
	small := Client{MaxSize: 1000}
	if _, err := small.Get(ctx, srv.Addr, login, "rt.conf"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("get over MaxSize: %v", err)
	}
}

// A server without EPSV whose PASV names another host: the data
// connection still goes to the control connection's address.
func TestPASVAddressIgnored(t *testing.T) {
	ctl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	data, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	port := data.Addr().(*net.TCPAddr).Port
	go func() {
		c, err := ctl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "220-multi-line\r\n220 greeting\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch verb, _, _ := strings.Cut(strings.TrimSpace(line), " "); verb {
			case "USER":
				fmt.Fprintf(c, "331 pass\r\n")
			case "PASS":
				fmt.Fprintf(c, "230 in\r\n")
			case "TYPE":
				fmt.Fprintf(c, "200 binary\r\n")
			case "EPSV":
				fmt.Fprintf(c, "500 no EPSV here\r\n")
			case "PASV":
				fmt.Fprintf(c, "227 Entering Passive Mode (10,9,9,9,%d,%d)\r\n", port>>8, port&255)
			case "RETR":
				fmt.Fprintf(c, "150 here\r\n")
				d, err := data.Accept()
				if err != nil {
					return
				}
				d.Write([]byte("#config-version=x\n"))
				d.Close()
				fmt.Fprintf(c, "226 done\r\n")
			case "QUIT":
				fmt.Fprintf(c, "221 bye\r\n")
				return
			}
		}
	}()
	c := Client{Timeout: 5 * time.Second}
	got, err := c.Get(context.Background(), ctl.Addr().String(), Login{User: "u", Password: "p"}, "f")
	if err != nil || string(got) != "#config-version=x\n" {
		t.Fatalf("get: %q %v", got, err)
	}
}

func TestSplitServer(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "127.0.0.1 21", "127.0.0.1:2121": "127.0.0.1 2121",
		"[::1]": "::1 21", "[::1]:2121": "::1 2121", "ftp.example.com": "ftp.example.com 21",
		"": "", "h:0": "", "h:99999": "",
	} {
		h, p, err := SplitServer(in)
		got := fmt.Sprintf("%s %d", h, p)
		if want == "" {
			if err == nil {
				t.Errorf("%q: %s, want an error", in, got)
			}
		} else if err != nil || got != want {
			t.Errorf("%q: %s %v, want %s", in, got, err, want)
		}
	}
}

// FuzzPassivePort: any EPSV or PASV reply gives a valid port or none.
func FuzzPassivePort(f *testing.F) {
	for _, seed := range []string{"Entering Extended Passive Mode (|||6446|)", "Entering Passive Mode (10,0,0,1,4,1)", "(|||99999|)", "(1,2,3,4,256,1)", "(|||", ")(", "(,,,,,)"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		for _, p := range []int{epsvPort(msg), pasvPort(msg)} {
			if p < 0 || p > 65535 {
				t.Fatalf("port %d from %q", p, msg)
			}
		}
	})
}

func TestPassivePort(t *testing.T) {
	if p := epsvPort("Entering Extended Passive Mode (|||6446|)"); p != 6446 {
		t.Errorf("EPSV: %d", p)
	}
	if p := pasvPort("Entering Passive Mode (10,0,0,1,4,1)."); p != 1025 {
		t.Errorf("PASV: %d", p)
	}
	if p := pasvPort("Entering Passive Mode (0,0,0,0,0,0)"); p != 0 {
		t.Errorf("PASV port 0: %d", p)
	}
}
