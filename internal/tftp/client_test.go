package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/internal/tftp/tftpdtest"
)

// Round trips through Debian's tftpd-hpa: sizes around the block size
// (the last block short, or empty when the size is a multiple of it), with
// the negotiated blksize and with 512-byte blocks.
func TestTftpdRoundTrip(t *testing.T) {
	t.Parallel()
	srv := tftpdtest.Start(t)
	ctx := context.Background()
	for _, bs := range []int{0, 512} {
		c := &Client{BlockSize: bs}
		blk := c.blockSize()
		for _, size := range []int{0, 1, blk - 1, blk, blk + 1, 3 * blk, 100_000} {
			data := make([]byte, size)
			r := rand.New(rand.NewPCG(uint64(size), uint64(bs)))
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			name := "rt.conf"
			if err := c.Put(ctx, srv.Addr, name, data); err != nil {
				t.Fatalf("blksize %d, put %d bytes: %v", blk, size, err)
			}
			onDisk, err := os.ReadFile(srv.Path(name))
			if err != nil || !bytes.Equal(onDisk, data) {
				t.Fatalf("blksize %d, %d bytes: the server stored %d bytes (%v)", blk, size, len(onDisk), err)
			}
			got, err := c.Get(ctx, srv.Addr, name)
			if err != nil {
				t.Fatalf("blksize %d, get %d bytes: %v", blk, size, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("blksize %d: got %d bytes back, want %d", blk, len(got), size)
			}
		}
	}
}

// More than 65535 blocks: the block number wraps to 0 as tftpd-hpa does.
func TestTftpdBlockRollover(t *testing.T) {
	t.Parallel()
	srv := tftpdtest.Start(t)
	c := &Client{BlockSize: 8}
	data := bytes.Repeat([]byte("fosim-01"), 70_000) // 70000 blocks
	data = append(data, "tail"...)
	ctx := context.Background()
	if err := c.Put(ctx, srv.Addr, "big", data); err != nil {
		t.Fatalf("put: %v", err)
	}
	got, err := c.Get(ctx, srv.Addr, "big")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes, %v; want %d", len(got), err, len(data))
	}
}

func TestTftpdErrors(t *testing.T) {
	t.Parallel()
	srv := tftpdtest.Start(t)
	ctx := context.Background()
	var c Client
	_, err := c.Get(ctx, srv.Addr, "missing.conf")
	var se *ServerError
	if !errors.As(err, &se) || se.Code != ErrFileNotFound {
		t.Fatalf("get of a missing file: %v, want server error 1", err)
	}
	// --secure: the server refuses a way out of its root.
	if _, err := c.Get(ctx, srv.Addr, "../../../../etc/passwd"); err == nil {
		t.Fatal("in.tftpd served a file outside its root")
	}
	// MaxSize bounds what a server can make the client hold.
	os.WriteFile(srv.Path("large"), make([]byte, 10_000), 0o644)
	small := Client{MaxSize: 4096}
	if _, err := small.Get(ctx, srv.Addr, "large"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("get over MaxSize: %v, want ErrTooLarge", err)
	}
}

// fakeServer answers one request with a script of its own, to test what
// tftpd-hpa never does: losing packets, stray transfer IDs, silence.
func fakeServer(t *testing.T, serve func(req []byte, from *net.UDPAddr, conn *net.UDPConn)) string {
	t.Helper()
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		buf := make([]byte, 1500)
		n, from, err := l.ReadFromUDP(buf)
		if err != nil {
			return
		}
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return
		}
		defer conn.Close()
		serve(buf[:n], from, conn)
	}()
	return l.LocalAddr().String()
}

func dataPacket(n uint16, b []byte) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{0, opDATA}, n), b...)
}

func readPacket(conn *net.UDPConn) []byte {
	buf := make([]byte, 1500)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// A server without option support, a block sent twice (the ACK lost) and a
// packet from a stranger's port: the file arrives once, whole.
func TestGetDuplicatesAndStrangers(t *testing.T) {
	acks := make(chan []byte, 10)
	addr := fakeServer(t, func(req []byte, from *net.UDPAddr, conn *net.UDPConn) {
		if !strings.Contains(string(req), "cfg\x00octet\x00blksize\x001468\x00") {
			t.Errorf("RRQ %q", req)
		}
		block1 := bytes.Repeat([]byte{'a'}, 512)
		conn.WriteToUDP(dataPacket(1, block1), from)
		acks <- readPacket(conn)
		conn.WriteToUDP(dataPacket(1, block1), from) // as if ACK 1 was lost
		acks <- readPacket(conn)
		stranger, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		stranger.WriteToUDP(dataPacket(2, []byte("evil")), from)
		acks <- readPacket(stranger) // ERROR 5 to the stranger
		stranger.Close()
		conn.WriteToUDP(dataPacket(2, []byte("end")), from)
		acks <- readPacket(conn)
	})
	got, err := (&Client{}).Get(context.Background(), addr, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("a", 512) + "end"; string(got) != want {
		t.Fatalf("got %q…(%d bytes)", got[:min(len(got), 20)], len(got))
	}
	want := [][]byte{{0, opACK, 0, 1}, {0, opACK, 0, 1}, nil, {0, opACK, 0, 2}}
	for i, w := range want {
		p := <-acks
		if w == nil {
			if len(p) < 4 || binary.BigEndian.Uint16(p) != opERROR || binary.BigEndian.Uint16(p[2:]) != ErrUnknownTID {
				t.Errorf("to the stranger: %q, want ERROR 5", p)
			}
			continue
		}
		if !bytes.Equal(p, w) {
			t.Errorf("packet %d: %v, want %v", i, p, w)
		}
	}
}

// An OACK with an option never asked for ends the transfer with ERROR 8.
func TestPutRefusesBadOACK(t *testing.T) {
	reply := make(chan []byte, 1)
	addr := fakeServer(t, func(req []byte, from *net.UDPAddr, conn *net.UDPConn) {
		conn.WriteToUDP([]byte("\x00\x06blksize\x0099999\x00"), from)
		reply <- readPacket(conn)
	})
	err := (&Client{}).Put(context.Background(), addr, "cfg", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "blksize") {
		t.Fatalf("put: %v", err)
	}
	if p := <-reply; len(p) < 4 || binary.BigEndian.Uint16(p[2:]) != ErrOptions {
		t.Fatalf("client answered %q, want ERROR 8", p)
	}
}

// A silent server: the request is sent Retries+1 times, then ErrTimeout.
func TestTimeout(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := &Client{Timeout: 20 * time.Millisecond, Retries: 2}
	start := time.Now()
	_, err = c.Get(context.Background(), l.LocalAddr().String(), "cfg")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("get: %v, want ErrTimeout", err)
	}
	got := 0
	buf := make([]byte, 1500)
	for {
		l.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := l.ReadFromUDP(buf); err != nil {
			break
		}
		got++
	}
	if got != 3 {
		t.Errorf("requests sent: %d, want 3", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
	// A cancelled context ends a transfer at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	slow := &Client{Timeout: time.Hour}
	if _, err := slow.Get(ctx, l.LocalAddr().String(), "cfg"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled get: %v", err)
	}
}

func TestResolveServer(t *testing.T) {
	ctx := context.Background()
	for in, want := range map[string]string{
		"127.0.0.1":       "127.0.0.1:69",
		"127.0.0.1:6969":  "127.0.0.1:6969",
		"::1":             "[::1]:69",
		"[::1]":           "[::1]:69",
		"[::1]:6969":      "[::1]:6969",
		"localhost:70000": "",
		"":                "",
	} {
		a, err := ResolveServer(ctx, in)
		if want == "" {
			if err == nil {
				t.Errorf("%q: %v, want an error", in, a)
			}
			continue
		}
		if err != nil || a.String() != want {
			t.Errorf("%q: %v %v, want %s", in, a, err, want)
		}
	}
}

// FuzzOACK: any OACK a server sends is accepted only with the options
// asked for, a blksize within what was asked, and never panics.
func FuzzOACK(f *testing.F) {
	for _, seed := range []string{"blksize\x001468\x00tsize\x00100\x00", "blksize\x0099999\x00", "\x00", "", "x\x00y\x00", "tsize\x00-1\x00", "BLKSIZE\x008\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		block, _, err := parseOACK(b, wantBlockSize)
		if err == nil && (block < 8 || block > wantBlockSize) {
			t.Fatalf("accepted blksize %d from %q", block, b)
		}
	})
}

// FuzzGet: a server answering the read request with arbitrary packets
// never makes Get panic or hold more than MaxSize.
func FuzzGet(f *testing.F) {
	f.Add([]byte("\x00\x03\x00\x01short"))
	f.Add([]byte("\x00\x06blksize\x00512\x00"))
	f.Add([]byte("\x00\x05\x00\x01not found\x00"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		addr := fakeServer(t, func(req []byte, from *net.UDPAddr, conn *net.UDPConn) {
			conn.WriteToUDP(reply, from)
		})
		c := &Client{Timeout: 10 * time.Millisecond, Retries: 1, MaxSize: 64}
		data, err := c.Get(context.Background(), addr, "cfg")
		if err == nil && len(data) > 64 {
			t.Fatalf("%d bytes past MaxSize", len(data))
		}
	})
}

// A server that sends no tsize is cut off at MaxSize bytes.
func TestGetMaxSizeWithoutTsize(t *testing.T) {
	addr := fakeServer(t, func(req []byte, from *net.UDPAddr, conn *net.UDPConn) {
		for n := uint16(1); n <= 3; n++ {
			conn.WriteToUDP(dataPacket(n, make([]byte, 512)), from)
			if readPacket(conn) == nil {
				return
			}
		}
	})
	c := &Client{MaxSize: 1000}
	if _, err := c.Get(context.Background(), addr, "cfg"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("get: %v, want ErrTooLarge", err)
	}
}
