package cmdb

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Access profiles: an admin's "config system accprofile" decides what its
// sessions may read and change, group by group (sysgrp, netgrp, fwgrp,
// vpngrp, authgrp …), as on FortiOS. super_admin may do everything,
// including managing other super_admin administrators; a profile's
// "custom" level (per-part permissions fosim does not model) counts as
// read. A session whose admin is unknown can read nothing... except that
// fosim's own host tools (fosim apply/show on the data directory, run by
// the owner of its files) use NewSystemSession.

// Level is an access level of a profile group.
type Level int

const (
	LevelNone Level = iota
	LevelRead
	LevelReadWrite
)

func parseLevel(v string) Level {
	switch v {
	case "read-write":
		return LevelReadWrite
	case "read", "custom":
		return LevelRead
	}
	return LevelNone
}

// Access is what a session may do.
type Access struct {
	Profile string
	super   bool
	groups  map[string]Level
}

// Can tells whether the access reaches level in group.
func (a *Access) Can(group string, level Level) bool {
	if a == nil || a.super {
		return true
	}
	return a.groups[group] >= level
}

// ReadOnly tells whether the access allows no change at all ('$' prompt).
func (a *Access) ReadOnly() bool {
	if a == nil || a.super {
		return false
	}
	for _, l := range a.groups {
		if l == LevelReadWrite {
			return false
		}
	}
	return true
}

// CanReadAll tells whether every group is readable (a whole backup).
func (a *Access) CanReadAll() bool {
	if a == nil || a.super {
		return true
	}
	for _, g := range profileGroups {
		if a.groups[g] < LevelRead {
			return false
		}
	}
	return true
}

// Super tells whether the profile is super_admin.
func (a *Access) Super() bool { return a == nil || a.super }

// profileGroups are the groups of system accprofile.
var profileGroups = []string{"secfabgrp", "ftviewgrp", "authgrp", "sysgrp", "netgrp", "loggrp", "fwgrp", "vpngrp", "utmgrp", "wanoptgrp", "wifi"}

// TableGroup is the profile group a table belongs to (FortiOS's admin
// profile pages: Network is interfaces and DNS, System the rest of system).
func TableGroup(path string) string {
	first, _, _ := strings.Cut(path, " ")
	switch {
	case path == "system interface" || path == "system dns" || first == "router":
		return "netgrp"
	case first == "firewall":
		return "fwgrp"
	case first == "vpn":
		return "vpngrp"
	case first == "user":
		return "authgrp"
	case first == "log":
		return "loggrp"
	case first == "endpoint-control":
		return "secfabgrp"
	}
	return "sysgrp"
}

// Profile is the access profile a session of user gets (accessOf): ""
// for no such user.
func (s *Store) Profile(user string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.accessOf(user).Profile
}

// accessOf resolves user's profile in the running configuration (called
// with the read lock held): an administrator's, else an API user's, else
// an SSO admin's.
func (s *Store) accessOf(user string) *Access {
	v := runningView{s}
	admins, profiles := s.schema.Table("system admin"), s.schema.Table("system accprofile")
	e := v.Entry("system admin", user)
	if e == nil {
		// A REST API user (system api-user) has a profile the same way.
		if api := s.schema.Table("system api-user"); api != nil {
			admins, e = api, v.Entry("system api-user", user)
		}
	}
	if e == nil {
		// An admin logged in through SAML SSO (system sso-admin) too.
		if sso := s.schema.Table("system sso-admin"); sso != nil {
			admins, e = sso, v.Entry("system sso-admin", user)
		}
	}
	if e == nil || admins == nil || profiles == nil {
		return &Access{groups: map[string]Level{}}
	}
	name := strings.Join(e.Get(admins.Attr("accprofile")), " ")
	a := &Access{Profile: name, super: name == "super_admin", groups: map[string]Level{}}
	if p := v.Entry("system accprofile", name); p != nil {
		for _, g := range profileGroups {
			if attr := profiles.Attr(g); attr != nil {
				a.groups[g] = parseLevel(strings.Join(p.Get(attr), " "))
			}
		}
	}
	return a
}

func permissionDenied() *Error {
	return &Error{Msg: "Permission denied.", Code: CodePermission}
}

// mayChange checks a change against the session's access: the table's
// group must be read-write, and only a super_admin may touch a super_admin
// administrator or the super_admin profile.
func (s *Session) mayChange(c Change) error {
	a := s.access
	if a == nil || a.super {
		return nil
	}
	if !a.Can(TableGroup(c.Table), LevelReadWrite) {
		return permissionDenied()
	}
	if c.Table == "system admin" {
		if e := s.store.runningEntry(c.Table, c.Key); e != nil && slices.Equal(e.Values["accprofile"], []string{"super_admin"}) {
			return permissionDenied()
		}
	}
	return a.mayTouchAdmin(c, s.User)
}

// mayTouchAdmin is the rule on administrators and profiles for a profile
// short of super_admin: no super_admin admin or profile, not its own
// profile, not its own admin's profile (either would hand it rights it
// lacks). It is checked at the session and again at commit on a rebased
// change.
func (a *Access) mayTouchAdmin(c Change, user string) error {
	switch c.Table {
	case "system accprofile":
		if c.Key == "super_admin" || c.Key == a.Profile {
			return permissionDenied()
		}
	case "system admin":
		for _, e := range []*Entry{c.Before, c.After} {
			if e != nil && slices.Equal(e.Values["accprofile"], []string{"super_admin"}) {
				return permissionDenied()
			}
		}
		if c.Key == user && (c.After == nil || c.Before == nil || !slices.Equal(c.Before.Values["accprofile"], c.After.Values["accprofile"])) {
			return permissionDenied()
		}
	}
	return nil
}

// mayRead checks that the session may read a table.
func (s *Session) mayRead(t *Table) error { return s.mayReach(t, LevelRead) }

// mayWrite checks, before a set or an edit, that the session may change
// the table at all.
func (s *Session) mayWrite(t *Table) error { return s.mayReach(t, LevelReadWrite) }

// mayReach checks the session's level in the group of t (of its top-level
// table, for a nested one).
func (s *Session) mayReach(t *Table, level Level) error {
	for t.Parent != nil {
		t = t.Parent
	}
	if !s.access.Can(TableGroup(t.Path), level) {
		return permissionDenied()
	}
	return nil
}

// Access is the session's access profile (nil for a system session).
func (s *Session) Access() *Access { return s.access }

// ReadOnly tells whether the session may change nothing.
func (s *Session) ReadOnly() bool { return s.access.ReadOnly() }

// runningEntry reads the committed entry; the caller holds the store's
// read lock (a session's operation does).
func (s *Store) runningEntry(table, key string) *Entry { return runningView{s}.Entry(table, key) }

// AdminTrusted applies an admin entry's trusthost1…10 (table system
// admin) to a source address: with none set every address may log in.
// SSH and HTTPS logins both ask it.
func AdminTrusted(t *Table, e *Entry, src netip.Addr) bool {
	src = src.Unmap()
	any := true
	for i := 1; i <= 10; i++ {
		a := t.Attr("trusthost" + strconv.Itoa(i))
		if a == nil {
			continue
		}
		v := e.Get(a)
		if len(v) != 2 || v[0] == "0.0.0.0" && v[1] == "0.0.0.0" {
			continue
		}
		any = false
		if p, ok := IPv4MaskPrefix(v); ok && p.Contains(src) {
			return true
		}
	}
	return any
}
