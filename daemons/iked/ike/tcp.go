package ike

import (
	"encoding/binary"
	"errors"
	"io"
)

// IKE over TCP (RFC 9329, which obsoletes RFC 8229): the initiator opens
// the stream with TCPPrefix once; then every message is framed by a 16-bit
// big-endian length that counts itself. IKE messages follow the 4-byte
// zero non-ESP marker, ESP packets (their SPI is never zero) do not.

// TCPPrefix is the stream prefix, "IKETCP".
var TCPPrefix = []byte("IKETCP")

// MaxTCPMessage is the most a frame carries after its length field.
const MaxTCPMessage = 0xffff - 2

// ErrTCPFrame says a frame's length is below its own two bytes: the stream
// lost its framing and cannot go on.
var ErrTCPFrame = errors.New("ike: TCP frame length below 2")

// ErrTCPTooLong says a message does not fit a frame.
var ErrTCPTooLong = errors.New("ike: message too long for a TCP frame")

// AppendTCPFrame appends msg framed for the stream; an IKE message (isIKE)
// gets the non-ESP marker.
func AppendTCPFrame(dst, msg []byte, isIKE bool) ([]byte, error) {
	n := len(msg)
	if isIKE {
		n += 4
	}
	if n > MaxTCPMessage {
		return dst, ErrTCPTooLong
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(n+2))
	if isIKE {
		dst = append(dst, 0, 0, 0, 0)
	}
	return append(dst, msg...), nil
}

// SplitTCPMessage tells an IKE message (behind the non-ESP marker, which
// it strips) from an ESP packet in a frame's content.
func SplitTCPMessage(frame []byte) (msg []byte, isIKE bool) {
	if len(frame) >= 4 && frame[0] == 0 && frame[1] == 0 && frame[2] == 0 && frame[3] == 0 {
		return frame[4:], true
	}
	return frame, false
}

// TCPFrameReader reads frames off a stream. It reads exactly one frame at
// a time (never past it) and keeps a partial frame across an error such
// as a read timeout, so the caller may call Next again. Its buffer grows
// to the longest frame seen, never past 2+MaxTCPMessage bytes.
type TCPFrameReader struct {
	r        io.Reader
	buf      []byte
	n        int
	returned bool
}

// NewTCPFrameReader reads frames from r (after the stream prefix).
func NewTCPFrameReader(r io.Reader) *TCPFrameReader {
	return &TCPFrameReader{r: r, buf: make([]byte, 2048)}
}

// Next returns the next frame's content (length field stripped), valid
// until the following call.
func (f *TCPFrameReader) Next() ([]byte, error) {
	if f.returned {
		f.n, f.returned = 0, false
	}
	for {
		want := 2
		if f.n >= 2 {
			want = int(binary.BigEndian.Uint16(f.buf[:2]))
			if want < 2 {
				return nil, ErrTCPFrame
			}
			if f.n == want {
				f.returned = true
				return f.buf[2:want], nil
			}
		}
		if len(f.buf) < want {
			f.buf = append(f.buf[:f.n], make([]byte, want-f.n)...)
		}
		m, err := f.r.Read(f.buf[f.n:want])
		f.n += m
		if err != nil {
			if errors.Is(err, io.EOF) && f.n > 0 && (f.n < 2 || f.n < want) {
				return nil, io.ErrUnexpectedEOF
			}
			if f.n >= 2 && f.n == int(binary.BigEndian.Uint16(f.buf[:2])) {
				continue // complete: the error comes with the next call
			}
			return nil, err
		}
	}
}
