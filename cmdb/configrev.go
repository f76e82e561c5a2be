package cmdb

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Configuration revisions are what "execute revision list config" lists:
// whole saved configurations, as FortiOS keeps them on flash, made at the
// moments FortiOS makes them (an admin's logout with
// revision-backup-on-logout enable, "execute backup config flash"), and by
// fosim before every script or restore so that a paste can be rolled back.
// They are apart from the per-commit revision numbers the notifier hands
// out: a 300-entry paste is 300 commits but not 300 configuration
// revisions, so it never pushes the history out.

var bConfigRevs = []byte("config-revisions")

// Retention of configuration revisions: the newest are kept within both
// bounds (a revision is a whole configuration).
const (
	MaxConfigRevisions     = 100
	MaxConfigRevisionBytes = 256 << 20
)

// ConfigRevision is one saved configuration.
type ConfigRevision struct {
	ID      uint64
	Time    time.Time
	User    string
	Comment string
	Commit  uint64 // the commit revision it was taken at
	Size    int
}

// SaveConfigRevision saves the running configuration as a new revision and
// returns its id.
func (s *Store) SaveConfigRevision(user, comment string) (uint64, error) {
	s.mu.RLock()
	text, commit := s.backupLocked(user), s.revision
	s.mu.RUnlock()
	var id uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bConfigRevs)
		if err != nil {
			return err
		}
		id, _ = b.NextSequence()
		var v []byte
		v = binary.AppendVarint(v, s.now().UnixNano())
		v = putStr(v, user)
		v = putStr(v, comment)
		v = binary.AppendUvarint(v, commit)
		v = putStr(v, text)
		if err := b.Put(u64(id), v); err != nil {
			return err
		}
		return pruneConfigRevisions(b)
	})
	return id, err
}

// pruneConfigRevisions drops the oldest revisions beyond the bounds (the
// newest is always kept).
func pruneConfigRevisions(b *bolt.Bucket) error {
	n, total := 0, 0
	c := b.Cursor()
	var drop [][]byte
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		n++
		total += len(v)
		if n > 1 && (n > MaxConfigRevisions || total > MaxConfigRevisionBytes) {
			drop = append(drop, k)
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func decodeConfigRevision(k, v []byte, withText bool) (ConfigRevision, string, error) {
	d := decoder{b: v}
	ns, n := binary.Varint(d.b)
	if n <= 0 {
		return ConfigRevision{}, "", errCorrupt
	}
	d.b = d.b[n:]
	r := ConfigRevision{ID: binary.BigEndian.Uint64(k), Time: time.Unix(0, ns)}
	r.User, r.Comment = d.str(), d.str()
	r.Commit = d.uvarint()
	r.Size = len(d.b)
	text := ""
	if withText {
		text = d.str()
	}
	return r, text, d.err
}

// ConfigRevisions lists the kept configuration revisions, oldest first.
func (s *Store) ConfigRevisions() ([]ConfigRevision, error) {
	var out []ConfigRevision
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bConfigRevs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			r, _, err := decodeConfigRevision(k, v, false)
			out = append(out, r)
			return err
		})
	})
	return out, err
}

// ConfigRevisionText returns a kept revision's configuration (a backup).
func (s *Store) ConfigRevisionText(id uint64) (string, error) {
	var text string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bConfigRevs)
		var v []byte
		if b != nil {
			v = b.Get(u64(id))
		}
		if v == nil {
			return &Error{Msg: fmt.Sprintf("revision %d not found", id), Code: CodeNotFound}
		}
		var err error
		_, text, err = decodeConfigRevision(u64(id), v, true)
		return err
	})
	return text, err
}

// DeleteConfigRevision removes a kept revision.
func (s *Store) DeleteConfigRevision(id uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bConfigRevs)
		if b == nil || b.Get(u64(id)) == nil {
			return &Error{Msg: fmt.Sprintf("revision %d not found", id), Code: CodeNotFound}
		}
		return b.Delete(u64(id))
	})
}
