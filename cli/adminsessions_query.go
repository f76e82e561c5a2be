package cli

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
)

// AdminSessions are the logged-in administrators of every front end,
// oldest first: the list "get system info admin status" prints, for
// front ends that report it in their own format (the REST API's
// monitor/system/current-admins).
func (a *Appliance) AdminSessions() []AdminSession {
	list, _ := a.adminSessions()
	return list
}

// LoginSessions is the AdminSessionSource of a front end that runs one
// shell per login (admin SSH, the console): it Adds a session at login
// and calls the func Add returns at logout. The zero value is ready.
type LoginSessions struct {
	// Numbers gives each login its number (Appliance.NextSessionNumber,
	// so that every front end's are unique); counted here when nil.
	Numbers func() uint64

	mu   sync.Mutex
	seq  uint64
	live map[string]*loginSession
}

type loginSession struct {
	AdminSession
	disconnect func()
}

// Add lists s until the returned remove is called; s's ID and Seq are
// given here. disconnect ends the login ("execute
// disconnect-admin-session"), and need not wait for remove.
func (l *LoginSessions) Add(s AdminSession, disconnect func()) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live == nil {
		l.live = map[string]*loginSession{}
	}
	l.seq++
	s.ID, s.Seq = strconv.FormatUint(l.seq, 10), l.seq
	if l.Numbers != nil {
		s.Seq = l.Numbers()
	}
	l.live[s.ID] = &loginSession{s, disconnect}
	return func() {
		l.mu.Lock()
		delete(l.live, s.ID)
		l.mu.Unlock()
	}
}

// AdminSessions are the logins not yet removed, in login order.
func (l *LoginSessions) AdminSessions() []AdminSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]AdminSession, 0, len(l.live))
	for _, s := range l.live {
		out = append(out, s.AdminSession)
	}
	slices.SortFunc(out, func(a, b AdminSession) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// DisconnectAdminSession ends the login id and stops listing it.
func (l *LoginSessions) DisconnectAdminSession(id string) bool {
	l.mu.Lock()
	s := l.live[id]
	delete(l.live, id)
	l.mu.Unlock()
	if s == nil {
		return false
	}
	if s.disconnect != nil {
		s.disconnect()
	}
	return true
}

// DisconnectAdmin ends the session of login method typ ("https", "ssh")
// numbered seq (AdminSession's Type and Seq, the method and id the REST
// API's current-admins gives); false when there is none.
func (a *Appliance) DisconnectAdmin(typ string, seq uint64) bool {
	list, srcs := a.adminSessions()
	for i, s := range list {
		if s.Type == typ && s.Seq == seq {
			return srcs[i].DisconnectAdminSession(s.ID)
		}
	}
	return false
}

// Removable tells whether another admin may end s: not when its admin
// has allow-remove-admin-session disable ("Enable/disable allow admin
// session to be removed by privileged admin users").
func (a *Appliance) Removable(s AdminSession) bool {
	st := a.Store
	t := st.Schema().Table("system admin")
	e := st.Lookup("system admin", s.User)
	if t == nil || e == nil || t.Attr("allow-remove-admin-session") == nil {
		return true
	}
	return e.Value(t.Attr("allow-remove-admin-session")) != "disable"
}
