package https

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
)

// currentAdminFields are the members of a monitor/system/current-admins
// entry, as FortiOS 7.6 names them. Its "intf" (the interface the admin
// came in on) is left out: fosim's front ends do not record it.
var currentAdminFields = []string{"id", "admin", "srcaddr", "time", "method", "profile", "is_current", "disconnect_enabled"}

// currentAdmins is monitor/system/current-admins: every logged-in
// administrator of every front end (GUI and REST cookie sessions, SSH and
// console logins), the list "get system info admin status" prints.
// Reading it needs read access to system configuration (sysgrp), as on
// FortiOS. A call with an API token is no session and is not listed. Each
// entry's id numbers the session among those of its method; time is when
// it logged in (Unix seconds); is_current marks the caller's own session,
// which it cannot disconnect (disconnect_enabled, which also needs
// sysgrp read-write).
func (s *Server) currentAdmins(w http.ResponseWriter, r *http.Request, rep *reply, who *identity) {
	// system admin is in sysgrp
	access, err := s.readAccess(who.user, "rest", "system admin")
	if err != nil {
		rep.fail(w, 0, err)
		return
	}
	mayDisconnect := access.Can("sysgrp", cmdb.LevelReadWrite)
	lq, err := parseListQuery(r.URL.Query(), func(f string) bool { return slices.Contains(currentAdminFields, f) })
	if err != nil {
		rep.fail(w, http.StatusBadRequest, err)
		return
	}
	var rows []listRow
	for _, a := range s.App.AdminSessions() {
		current := who.owns(a)
		o := object{
			{"id", a.Seq},
			{"admin", a.User},
			{"srcaddr", a.From.String()},
			{"time", a.Started.Unix()},
			{"method", a.Type},
			{"profile", a.Profile},
			{"is_current", current},
			{"disconnect_enabled", mayDisconnect && !current && s.App.Removable(a)},
		}
		rows = append(rows, listRow{out: o, full: o})
	}
	page, _ := lq.run(rows)
	rep.results(w, s.App.Store.Revision(), page)
}

// disconnectAdmins is POST monitor/system/disconnect-admins/select: it
// ends the sessions a body names by the id and method current-admins
// gives them, one ({"id", "method"}) or several ({"admins": [{"id",
// "method"}, …]}). It needs sysgrp read-write; the caller's own session is
// refused (current-admins' disconnect_enabled is false for it), and so is
// a body naming a session that is gone, before any is ended.
func (s *Server) disconnectAdmins(w http.ResponseWriter, r *http.Request, rep *reply, who *identity) {
	access, err := s.readAccess(who.user, "rest", "system admin")
	if err == nil && !access.Can("sysgrp", cmdb.LevelReadWrite) {
		err = &cmdb.Error{Msg: "Permission denied.", Code: cmdb.CodePermission}
	}
	if err != nil {
		rep.fail(w, 0, err)
		return
	}
	body, status, err := readBody(w, r)
	if err != nil {
		rep.fail(w, status, err)
		return
	}
	targets, err := adminTargets(body)
	if err != nil {
		rep.fail(w, http.StatusBadRequest, err)
		return
	}
	live := s.App.AdminSessions()
	for _, t := range targets {
		i := slices.IndexFunc(live, func(a cli.AdminSession) bool { return a.Type == t.method && a.Seq == t.id })
		switch {
		case i < 0:
			rep.fail(w, http.StatusNotFound, inputError("admin session "+strconv.FormatUint(t.id, 10)+" ("+t.method+") not found", cmdb.CodeNotFound))
			return
		case who.owns(live[i]):
			rep.fail(w, http.StatusBadRequest, inputError("cannot disconnect the session making the request", cmdb.CodeValue))
			return
		case !s.App.Removable(live[i]):
			rep.fail(w, 0, &cmdb.Error{Msg: "Permission denied: admin " + live[i].User + " has allow-remove-admin-session disable", Code: cmdb.CodePermission})
			return
		}
	}
	for _, t := range targets {
		s.App.DisconnectAdmin(t.method, t.id)
	}
	rep.results(w, s.App.Store.Revision(), object{})
}

// owns tells whether a is the caller's own session.
func (who *identity) owns(a cli.AdminSession) bool {
	return who.session != nil && a.Type == "https" && a.ID == who.session.id
}

type adminTarget struct {
	id     uint64
	method string
}

// adminTargets reads the sessions a disconnect-admins body names.
func adminTargets(body map[string]any) ([]adminTarget, error) {
	items := []any{body}
	if list, ok := body["admins"]; ok {
		if items, ok = list.([]any); !ok {
			return nil, inputError("value parse error before 'admins'", cmdb.CodeValue)
		}
	}
	var out []adminTarget
	for _, it := range items {
		m, _ := it.(map[string]any)
		num, _ := m["id"].(json.Number)
		id, err := strconv.ParseUint(num.String(), 10, 64)
		if err != nil {
			return nil, inputError("value parse error before 'id'", cmdb.CodeValue)
		}
		method, _ := m["method"].(string)
		if method == "" {
			return nil, inputError("incomplete command in the end: method", cmdb.CodeIncomplete)
		}
		out = append(out, adminTarget{id, method})
	}
	if len(out) == 0 {
		return nil, inputError("incomplete command in the end: admins", cmdb.CodeIncomplete)
	}
	return out, nil
}
