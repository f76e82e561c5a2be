// Package control is the local control socket of a running appliance: the
// host commands (fosim show, get, apply, backup, restore) reach the store
// of the appliance that holds it, instead of failing on its lock.
//
// The socket is DATA/control.sock, mode 0600, and the server admits only
// the appliance's own uid (SO_PEERCRED). A request is one JSON header line
// followed by the raw bytes of its input; a response is one JSON header
// line followed by its stdout, stderr and file bytes. Raw bytes rather
// than JSON strings: a configuration script is mostly quotes and
// newlines, which JSON would escape to twice their size.
package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SocketName is the control socket's file name in the data directory.
const SocketName = "control.sock"

// MaxInput bounds a script or backup sent to the appliance (and read by
// the host commands on either path, so that both refuse the same files).
const MaxInput = 256 << 20

// maxHeader bounds a header line: it carries names and table paths only.
const maxHeader = 1 << 20

// maxOutput bounds each part of a response: the configuration printed
// whole fits with room to spare.
const maxOutput = 1 << 30

// Request is one host command.
type Request struct {
	// Command is show, get, apply, backup or restore.
	Command string `json:"command"`
	// Paths are the table and entry words of show and get.
	Paths    []string `json:"paths,omitempty"`
	Full     bool     `json:"full,omitempty"`
	Lenient  bool     `json:"lenient,omitempty"`
	Continue bool     `json:"continue,omitempty"`
	// InputName names the input in error lines (the file name, <stdin>).
	InputName string `json:"input_name,omitempty"`
	// Input is the script of apply or the backup of restore.
	Input []byte `json:"-"`
}

// Response is what the command printed and its exit status.
type Response struct {
	Code   int    `json:"code"`
	Stdout []byte `json:"-"`
	Stderr []byte `json:"-"`
	// File is the text backup writes; the caller writes it, with its own
	// permissions and working directory.
	File []byte `json:"-"`
}

type requestHeader struct {
	Request
	InputBytes int64 `json:"input_bytes"`
}

type responseHeader struct {
	Response
	StdoutBytes int64 `json:"stdout_bytes"`
	StderrBytes int64 `json:"stderr_bytes"`
	FileBytes   int64 `json:"file_bytes"`
}

// ErrTooLarge refuses an input over MaxInput.
type ErrTooLarge struct {
	Name  string
	Bytes int64
}

func (e *ErrTooLarge) Error() string {
	return fmt.Sprintf("%s: %d bytes, at most %d (%d MiB) allowed", e.Name, e.Bytes, MaxInput, MaxInput>>20)
}

func writeRequest(w io.Writer, req Request) error {
	if len(req.Input) > MaxInput {
		return &ErrTooLarge{Name: req.InputName, Bytes: int64(len(req.Input))}
	}
	if err := writeHeader(w, requestHeader{Request: req, InputBytes: int64(len(req.Input))}); err != nil {
		return err
	}
	_, err := w.Write(req.Input)
	return err
}

func readRequest(r *bufio.Reader) (Request, error) {
	var h requestHeader
	if err := readHeader(r, &h); err != nil {
		return Request{}, err
	}
	if h.InputBytes < 0 || h.InputBytes > MaxInput {
		return Request{}, &ErrTooLarge{Name: h.InputName, Bytes: h.InputBytes}
	}
	req := h.Request
	var err error
	req.Input, err = readBytes(r, h.InputBytes)
	return req, err
}

func writeResponse(w io.Writer, resp Response) error {
	h := responseHeader{Response: resp, StdoutBytes: int64(len(resp.Stdout)), StderrBytes: int64(len(resp.Stderr)), FileBytes: int64(len(resp.File))}
	if err := writeHeader(w, h); err != nil {
		return err
	}
	for _, b := range [][]byte{resp.Stdout, resp.Stderr, resp.File} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func readResponse(r *bufio.Reader) (Response, error) {
	var h responseHeader
	if err := readHeader(r, &h); err != nil {
		return Response{}, err
	}
	resp := h.Response
	for _, part := range []struct {
		n   int64
		dst *[]byte
	}{{h.StdoutBytes, &resp.Stdout}, {h.StderrBytes, &resp.Stderr}, {h.FileBytes, &resp.File}} {
		if part.n < 0 || part.n > maxOutput {
			return Response{}, fmt.Errorf("control: response part of %d bytes", part.n)
		}
		b, err := readBytes(r, part.n)
		if err != nil {
			return Response{}, err
		}
		*part.dst = b
	}
	return resp, nil
}

func writeHeader(w io.Writer, h any) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// readHeader reads one JSON line of at most maxHeader bytes.
func readHeader(r *bufio.Reader, h any) error {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxHeader {
			return fmt.Errorf("control: header line over %d bytes", maxHeader)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return json.Unmarshal(line, h)
}

func readBytes(r io.Reader, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}
