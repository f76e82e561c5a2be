package cmdb

import (
	"encoding/binary"
	"errors"
)

// Entries are stored in bbolt in a small length-prefixed binary form: fast
// to write a million of, and versioned by the meta bucket's format number.

var errCorrupt = errors.New("cmdb: corrupt stored entry")

func putStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeEntry(b []byte, e *Entry) []byte {
	b = putStr(b, e.Key)
	b = binary.AppendUvarint(b, uint64(len(e.Values)))
	for k, v := range e.Values {
		b = putStr(b, k)
		b = binary.AppendUvarint(b, uint64(len(v)))
		for _, w := range v {
			b = putStr(b, w)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.Children)))
	for name, rows := range e.Children {
		b = putStr(b, name)
		b = binary.AppendUvarint(b, uint64(rows.Len()))
		for _, c := range rows.Ordered() {
			b = encodeEntry(b, c)
		}
	}
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a length and checks it cannot exceed the remaining bytes, so
// a corrupt length cannot make us allocate gigabytes.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return 0
	}
	return int(n)
}

func (d *decoder) entry() *Entry {
	e := NewEntry(d.str())
	nv := d.count()
	for i := 0; i < nv && d.err == nil; i++ {
		k := d.str()
		nw := d.count()
		v := make([]string, nw)
		for j := range v {
			v[j] = d.str()
		}
		e.Values[k] = v
	}
	nc := d.count()
	for i := 0; i < nc && d.err == nil; i++ {
		name := d.str()
		nr := d.count()
		rows := NewRows()
		for j := 0; j < nr && d.err == nil; j++ {
			rows.Put(d.entry())
		}
		if e.Children == nil {
			e.Children = map[string]*Rows{}
		}
		e.Children[name] = rows
	}
	return e
}

func decodeEntry(b []byte) (*Entry, error) {
	d := decoder{b: b}
	e := d.entry()
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}
