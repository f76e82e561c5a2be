package ike

import (
	"crypto/rand"
	"encoding/binary"
)

// NewIKESPI is a random IKE SPI: never zero (RFC 7296 §3.1, zero means
// "not yet known").
func NewIKESPI() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// NewESPSPI is a random ESP SPI outside 0-255, which RFC 4303 §2.1
// reserves.
func NewESPSPI() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint32(b[:]); v > 255 {
			return v
		}
	}
}

// ESPSPIBytes is an ESP SPI as proposals, notifies and deletes carry it.
func ESPSPIBytes(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
