package control

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
)

// ErrNotRunning says no appliance answers on the data directory's
// control socket: the caller opens the store itself.
var ErrNotRunning = errors.New("no appliance running on the data directory")

// Running tells whether an appliance answers on dataDir's control socket.
func Running(dataDir string) bool {
	return shortPath(dataDir, func(dir string) error {
		c, err := net.Dial("unix", filepath.Join(dir, SocketName))
		if err == nil {
			c.Close()
		}
		return err
	}) == nil
}

// Do sends req to the appliance running on dataDir and returns its answer,
// or ErrNotRunning when none listens there (no socket, or a stale one).
func Do(dataDir string, req Request) (Response, error) {
	if len(req.Input) > MaxInput {
		return Response{}, &ErrTooLarge{Name: req.InputName, Bytes: int64(len(req.Input))}
	}
	var c net.Conn
	err := shortPath(dataDir, func(dir string) error {
		var err error
		c, err = net.Dial("unix", filepath.Join(dir, SocketName))
		return err
	})
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return Response{}, ErrNotRunning
		}
		return Response{}, fmt.Errorf("control socket %s: %w", filepath.Join(dataDir, SocketName), err)
	}
	defer c.Close()
	bw := bufio.NewWriter(c)
	werr := writeRequest(bw, req)
	if werr == nil {
		werr = bw.Flush()
	}
	// A refusal (another uid, a request too large) is answered before the
	// request is read, and the connection closed: the answer is read even
	// when sending failed.
	resp, err := readResponse(bufio.NewReader(c))
	switch {
	case err == nil:
		return resp, nil
	case werr != nil:
		return Response{}, fmt.Errorf("control socket: sending the request: %w", werr)
	default:
		return Response{}, fmt.Errorf("control socket: reading the answer: %w", err)
	}
}
