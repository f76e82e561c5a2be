package ike

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestTCPFrameRoundTrip(t *testing.T) {
	var stream []byte
	msgs := [][]byte{bytes.Repeat([]byte{7}, 40), {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1}, bytes.Repeat([]byte{1}, 5000)}
	for i, m := range msgs {
		var err error
		if stream, err = AppendTCPFrame(stream, m, i != 1); err != nil {
			t.Fatal(err)
		}
	}
	fr := NewTCPFrameReader(&oneByte{bytes.NewReader(stream)})
	for i, want := range msgs {
		f, err := fr.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got, isIKE := SplitTCPMessage(f)
		if !bytes.Equal(got, want) || isIKE != (i != 1) {
			t.Fatalf("frame %d: %x ike=%v", i, got, isIKE)
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
	if _, err := AppendTCPFrame(nil, make([]byte, MaxTCPMessage-3), true); !errors.Is(err, ErrTCPTooLong) {
		t.Fatalf("oversized: %v", err)
	}
}

// oneByte reads a byte at a time: frames split across reads.
type oneByte struct{ r io.Reader }

func (o *oneByte) Read(b []byte) (int, error) { return o.r.Read(b[:min(1, len(b))]) }

// FuzzTCPFrames feeds any stream to the frame reader: it never panics,
// never returns more than a frame holds, and a stream it framed itself
// reads back.
func FuzzTCPFrames(f *testing.F) {
	f.Add([]byte{0, 0})                            // length 0: below itself
	f.Add([]byte{0, 1, 0})                         // length 1
	f.Add([]byte{0, 2})                            // an empty frame
	f.Add([]byte{0xff, 0xff, 1, 2, 3})             // truncated longest frame
	f.Add([]byte{0, 10, 0, 0, 0, 0, 1, 2, 3, 4})   // IKE behind the marker
	f.Add([]byte{0, 10, 1, 2, 3, 4, 0, 0, 0, 1})   // ESP
	f.Add([]byte{0, 6, 0, 0, 0, 0, 0, 3, 0, 0, 0}) // a marker alone, then garbage
	f.Add([]byte("IKETCP"))                        // a prefix read as a length
	f.Fuzz(func(t *testing.T, stream []byte) {
		fr := NewTCPFrameReader(bytes.NewReader(stream))
		total := 0
		for {
			frame, err := fr.Next()
			if err != nil {
				break
			}
			if len(frame) > MaxTCPMessage {
				t.Fatalf("frame of %d bytes", len(frame))
			}
			total += len(frame) + 2
			if total > len(stream) {
				t.Fatalf("read %d bytes of a %d-byte stream", total, len(stream))
			}
			msg, isIKE := SplitTCPMessage(frame)
			again, err := AppendTCPFrame(nil, msg, isIKE)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := NewTCPFrameReader(bytes.NewReader(again)).Next()
			if !bytes.Equal(back, frame) {
				t.Fatalf("reframed %x as %x", frame, back)
			}
		}
	})
}
