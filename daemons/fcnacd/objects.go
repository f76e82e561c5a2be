package fcnacd

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/fosim/fosim/cmdb"
)

// The tag objects: FortiOS 7.4+ makes every EMS tag a firewall address,
// EMS<n>_ZTNA_<tag> (type dynamic, sub-type ems-tag, obj-tag <tag>)
// resolving the endpoints' IP addresses and MAC_EMS<n>_ZTNA_<tag> (the
// same with obj-type mac) resolving their MAC addresses. fcnacd writes them
// through the structured edit API with a system session, in one commit per
// change of the tag set.
//
// A tag the EMS no longer has is deleted, unless a policy, group or phase1
// still names its address: FortiOS then keeps the address and logs event
// 45120 LOG_ID_EC_INVALID_EMS_TAG_REFERENCED ("EMS Tag dynamic firewall
// address cannot be removed", the 6.4.2 log reference); fcnacd keeps it
// too, resolving nothing, says so in its debug stream, and deletes it once
// nothing names it.

func (d *Daemon) writeLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.write:
			d.writeObjects()
		}
	}
}

// wantedObjects lists, per EMS, the tag object names it should have; an
// EMS enabled but never synced since the appliance started is absent
// (nothing is known of its tags, so nothing of it is deleted).
func (d *Daemon) wantedObjects() (want map[string]bool, known map[int]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	want, known = map[string]bool{}, map[int]bool{}
	for id := 1; id <= 7; id++ {
		ec, configured := d.cfg.ems[id]
		c := d.conns[id]
		switch {
		case c != nil && c.synced:
			known[id] = true
			for _, t := range c.tags {
				want[tagObjectName(id, t, false)] = true
				want[tagObjectName(id, t, true)] = true
			}
		case c == nil && (!configured || !ec.Enabled || ec.Server == ""):
			known[id] = true // no EMS there: none of its tags stays
		}
	}
	return want, known
}

// emsTagObjects lists the EMS tag addresses in the configuration.
func emsTagObjects(s *cmdb.Schema, v cmdb.View) []string {
	rows := v.Table(tableAddress)
	if rows == nil {
		return nil
	}
	r := cmdb.Reader{Schema: s, View: v}
	var out []string
	for _, k := range rows.Keys {
		e := rows.ByKey[k]
		if r.Value(tableAddress, e, "type") != "dynamic" || r.Value(tableAddress, e, "sub-type") != "ems-tag" {
			continue
		}
		if _, _, _, ok := parseTagObjectName(k); ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (d *Daemon) writeObjects() {
	want, known := d.wantedObjects()
	var have []string
	d.rt.Store.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		have = emsTagObjects(d.rt.Store.Schema(), v)
	})
	sess := d.rt.Store.NewSystemSession("fcnacd", "fcnacd")
	sess.Batch = true
	t, err := sess.OpenTable(tableAddress)
	if err != nil {
		d.log.Printf(1, "fcnacd: cannot write the EMS tag addresses: %v", err)
		return
	}
	var created, deleted int
	stale := map[string]bool{}
	for _, name := range have {
		id, _, _, _ := parseTagObjectName(name)
		if want[name] || !known[id] {
			continue
		}
		err := t.Delete(name)
		var ce *cmdb.Error
		switch {
		case err == nil:
			deleted++
		case errors.As(err, &ce) && ce.Code == cmdb.CodeInUse:
			stale[name] = true
		default:
			d.log.Printf(1, "fcnacd: cannot delete %s: %v", name, err)
		}
	}
	var names []string
	for name := range want {
		if _, found := slices.BinarySearch(have, name); !found { // have is sorted
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := d.createObject(t, name); err != nil {
			d.log.Printf(1, "fcnacd: cannot create %s: %v", name, err)
			continue
		}
		created++
	}
	if err := sess.Commit(); err != nil {
		d.log.Printf(1, "fcnacd: the EMS tag addresses were not written: %v", err)
		return
	}
	d.mu.Lock()
	// The objects are numbered ("ID(n)") in name order as first written.
	for _, name := range slices.Concat(have, names) {
		d.objectIDLocked(name)
	}
	var newlyStale []string
	for name := range stale {
		if !d.stale[name] {
			newlyStale = append(newlyStale, name)
		}
	}
	d.stale = stale
	d.mu.Unlock()
	slices.Sort(newlyStale)
	for _, name := range newlyStale {
		d.log.Printf(1, "fcnacd: EMS Tag dynamic firewall address cannot be removed: %s is still referenced; kept, resolving nothing", name)
	}
	if created+deleted > 0 {
		d.log.Printf(1, "fcnacd: EMS tag addresses: %d created, %d deleted, %d kept while referenced", created, deleted, len(stale))
	}
}

func (d *Daemon) createObject(t *cmdb.TableEdit, name string) error {
	_, tag, mac, _ := parseTagObjectName(name)
	e, err := t.Edit(name)
	if err != nil {
		return err
	}
	if !e.Created() {
		// an address of the admin's with this name: left alone
		return fmt.Errorf("an address of that name exists and is not an EMS tag address")
	}
	if err := e.Set("type", cmdb.Words("dynamic")); err != nil {
		return err
	}
	if err := e.Set("sub-type", cmdb.Words("ems-tag")); err != nil {
		return err
	}
	if err := e.Set("obj-tag", cmdb.Words(tag)); err != nil {
		return err
	}
	if mac {
		if err := e.Set("obj-type", cmdb.Words("mac")); err != nil {
			return err
		}
	}
	return e.Save()
}

// setDirtyReason sets the EMS entry's dirty-reason as FortiOS does
// (mismatched-ems-sn while the EMS answers with another serial number,
// none once it matches), when it differs. It runs on a connection's
// goroutine, never in a commit's callback.
func (d *Daemon) setDirtyReason(emsID int, reason string) {
	key := strconv.Itoa(emsID)
	var cur string
	d.rt.Store.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		if e := v.Entry(tableEMS, key); e != nil {
			cur = cmdb.Reader{Schema: d.rt.Store.Schema(), View: v}.Value(tableEMS, e, "dirty-reason")
		}
	})
	if cur == "" || cur == reason {
		return
	}
	sess := d.rt.Store.NewSystemSession("fcnacd", "fcnacd")
	t, err := sess.OpenTable(tableEMS)
	if err == nil {
		var e *cmdb.EntryEdit
		if e, err = t.Edit(key); err == nil && !e.Created() {
			if err = e.Set("dirty-reason", cmdb.Words(reason)); err == nil {
				err = e.Save()
			}
		}
	}
	if err != nil {
		d.log.Printf(1, "fcnacd: EMS %d: dirty-reason %s not written: %v", emsID, reason, err)
	}
}
