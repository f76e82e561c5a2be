package cli

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

func init() {
	commands = append(commands,
		&command{path: "get system info admin status", help: "Logged in administrators.", run: getAdminStatus},
		&command{path: "execute disconnect-admin-session", help: "Disconnect an administrator session.", args: "<index>", minArgs: 1, maxArgs: 1, run: executeDisconnectAdminSession, writes: true},
		// Seed 004's list is FortiManager's; FortiOS has no such command.
		&command{path: "diagnose system admin-session list", help: "List admin sessions (FortiManager-style view, seed 004).", run: diagnoseAdminSessionList},
	)
}

// AdminSession is one logged-in administrator as the front end holding it
// reports it.
type AdminSession struct {
	// ID is the front end's own name of the session, for Disconnect.
	ID string
	// Seq numbers sessions in the order they logged in (FortiManager's
	// session_id).
	Seq     uint64
	User    string
	Type    string // "https", "ssh"
	From    netip.Addr
	SSO     bool // logged in through SAML SSO
	Profile string
	Started time.Time
}

// AdminSessionSource is a front end with admin sessions (httpsd's GUI and
// REST sessions).
type AdminSessionSource interface {
	AdminSessions() []AdminSession
	// DisconnectAdminSession ends the session id; false when it is gone.
	DisconnectAdminSession(id string) bool
}

// sourceList are an appliance's front ends with admin sessions: a front
// end adds itself when it starts serving. The zero value is ready.
type sourceList struct {
	mu   sync.Mutex
	list []AdminSessionSource
	seq  uint64 // the last session number given
}

// NextSessionNumber numbers a new admin session of any front end: the
// session_id of "diagnose system admin-session list", unique on the
// appliance, in login order.
func (a *Appliance) NextSessionNumber() uint64 {
	l := &a.admins
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return l.seq
}

// AddAdminSessions makes src's sessions part of the appliance's list.
func (a *Appliance) AddAdminSessions(src AdminSessionSource) {
	l := &a.admins
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.list, src) {
		l.list = append(l.list, src)
	}
}

// adminSessions are every front end's sessions, oldest first: the index
// "execute disconnect-admin-session" takes is a position in this list.
func (a *Appliance) adminSessions() ([]AdminSession, []AdminSessionSource) {
	a.admins.mu.Lock()
	srcs := slices.Clone(a.admins.list)
	a.admins.mu.Unlock()
	type owned struct {
		s   AdminSession
		src AdminSessionSource
	}
	var all []owned
	for _, src := range srcs {
		for _, s := range src.AdminSessions() {
			all = append(all, owned{s, src})
		}
	}
	slices.SortStableFunc(all, func(a, b owned) int { return a.s.Started.Compare(b.s.Started) })
	sessions := make([]AdminSession, len(all))
	owners := make([]AdminSessionSource, len(all))
	for i, o := range all {
		sessions[i], owners[i] = o.s, o.src
	}
	return sessions, owners
}

// from is where a session came from: SSO sessions as "SSO(<ip>)" (seed
// 004), the console (no address) as "console".
func (s AdminSession) from() string {
	if !s.From.IsValid() {
		return s.Type
	}
	if s.SSO {
		return "SSO(" + s.From.String() + ")"
	}
	return s.From.String()
}

// getAdminStatus prints "get system info admin status": the index table
// of the 6.0 CLI reference (login type WEB or CLI, "ssh(<ip>)" from for
// CLI sessions), then the "Logged in users" table a published 7.x output
// adds (type https or ssh, and the login time). The index is what
// disconnect-admin-session takes.
func getAdminStatus(sh *Shell, args []string, out io.Writer) error {
	list, _ := sh.App.adminSessions()
	fmt.Fprintf(out, "Index  User name   Login type  From\n")
	for i, s := range list {
		typ, from := "WEB", s.from()
		if s.Type != "https" {
			typ = "CLI"
			if s.From.IsValid() {
				from = s.Type + "(" + from + ")"
			}
		}
		fmt.Fprintf(out, "%-6d %-11s %-11s %s\n", i, s.User, typ, from)
	}
	fmt.Fprintf(out, "Logged in users: %d\n", len(list))
	fmt.Fprintf(out, "USERNAME        TYPE    FROM             TIME\n")
	for _, s := range list {
		fmt.Fprintf(out, "%-15s %-7s %-16s %s\n", s.User, s.Type, s.from(), s.Started.Format("Mon Jan _2 15:04:05 2006"))
	}
	return nil
}

// executeDisconnectAdminSession ends the session at an index of "get
// system info admin status".
func executeDisconnectAdminSession(sh *Shell, args []string, out io.Writer) error {
	n, err := strconv.Atoi(args[0])
	list, srcs := sh.App.adminSessions()
	if err != nil || n < 0 || n >= len(list) {
		return fmt.Errorf("invalid admin session index %q: see \"get system info admin status\"", args[0])
	}
	if !sh.App.Removable(list[n]) {
		return fmt.Errorf("admin %q has allow-remove-admin-session disable: its session cannot be removed", list[n].User)
	}
	if !srcs[n].DisconnectAdminSession(list[n].ID) {
		return fmt.Errorf("admin session %d has already ended", n)
	}
	return nil
}

// diagnoseAdminSessionList prints seed 004's list (FortiManager's
// "diagnose system admin-session list"). "type 7" is what the seed shows
// for an SSO login; the numbers of the other login types are not
// published, so other sessions print none. VDOM root stands for the
// seed's ADOM.
func diagnoseAdminSessionList(sh *Shell, args []string, out io.Writer) error {
	list, _ := sh.App.adminSessions()
	now := sh.App.Clock.Now()
	for i, s := range list {
		fmt.Fprintf(out, "*** entry %d ***\n", i)
		fmt.Fprintf(out, "session_id: %d (seq: %d)\n", s.Seq, i)
		fmt.Fprintf(out, "username: %s\n", s.User)
		if s.SSO {
			fmt.Fprintf(out, "admin template: SSO\n")
			fmt.Fprintf(out, "from: %s (type 7)\n", s.from())
		} else if s.From.IsValid() {
			fmt.Fprintf(out, "from: %s(%s)\n", s.Type, s.From)
		} else {
			fmt.Fprintf(out, "from: %s\n", s.Type)
		}
		fmt.Fprintf(out, "profile: %s\n", s.Profile)
		fmt.Fprintf(out, "adom: root\n")
		fmt.Fprintf(out, "session length: %d (seconds)\n", int(now.Sub(s.Started).Seconds()))
	}
	return nil
}

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
