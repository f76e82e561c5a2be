package https

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// MaxBody bounds a request body: one entry, certificates included, is far
// smaller.
const MaxBody = 1 << 20

// cmdbRequest is one /api/v2/cmdb/<path>/<name>[/<mkey>[/<attr>[/<key>]…]]
// request.
type cmdbRequest struct {
	table   *cmdb.Table
	mkey    string // "" for the whole table (or a singleton)
	hasMkey bool
	// steps go down from the entry (a singleton's, or mkey's) through
	// nested tables to the one the request addresses, the last: a nested
	// table or a list of names (/firewall/addrgrp/g/member[/web],
	// /system/saml/service-providers/sp/assertion-attributes[/a]).
	steps []subStep
	reply *reply
}

// subStep is one level below the entry: an attribute holding a nested
// table or a list of names, and one item of it (every step but the last
// names one: the path goes through it).
type subStep struct {
	attr   *cmdb.Attr
	key    string
	hasKey bool
}

// sub is the nested table or list the request addresses; nil for a
// top-level table.
func (req *cmdbRequest) sub() *subStep {
	if len(req.steps) == 0 {
		return nil
	}
	return &req.steps[len(req.steps)-1]
}

// parseCmdbPath splits /api/v2/cmdb/vpn.ipsec/phase1-interface/<mkey>:
// the dots of the first segment are the spaces of the table path; after
// the entry, attribute names and item keys alternate, as deep as the
// schema nests tables.
func (s *Server) parseCmdbPath(r *http.Request, rep *reply) (*cmdbRequest, error) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v2/cmdb/")
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, inputError("command parse error before '"+grammar.Excerpt(seg)+"'", cmdb.CodeParse)
		}
		segs[i] = u
	}
	if len(segs) < 2 || segs[0] == "" || segs[1] == "" {
		return nil, inputError("command parse error before '"+grammar.Excerpt(rest)+"'", cmdb.CodeParse)
	}
	rep.path, rep.name = segs[0], segs[1]
	path := strings.ReplaceAll(segs[0], ".", " ") + " " + segs[1]
	t := s.App.Store.Schema().Table(path)
	if t == nil {
		return nil, inputError("command parse error before '"+grammar.Excerpt(segs[1])+"'", cmdb.CodeParse)
	}
	req := &cmdbRequest{table: t, reply: rep}
	below := segs[2:]
	if n := len(below); n > 0 && below[n-1] == "" {
		below = below[:n-1] // a trailing slash
	}
	if slices.Contains(below, "") {
		return nil, inputError("command parse error before '"+grammar.Excerpt(strings.Join(segs[2:], "/"))+"'", cmdb.CodeParse)
	}
	if !t.Singleton && len(below) > 0 {
		req.mkey, req.hasMkey = below[0], true
		rep.mkey = keyValue(t, below[0])
		below = below[1:]
	}
	for len(below) > 0 {
		name := below[0]
		a := t.Attr(name)
		list := a != nil && (a.Type == cmdb.TRefs || a.Type == cmdb.TStrings)
		// A nested singleton (none is modelled) is refused with the
		// rest: a URL names tables of items and lists of names.
		if a == nil || !list && (a.Child == nil || a.Child.Singleton) {
			return nil, inputError("command parse error before '"+grammar.Excerpt(name)+"'", cmdb.CodeParse)
		}
		step := subStep{attr: a}
		if len(below) > 1 {
			step.key, step.hasKey = below[1], true
		}
		req.steps = append(req.steps, step)
		if len(below) > 2 && list {
			// an item of a list of names holds nothing
			return nil, inputError("command parse error before '"+grammar.Excerpt(below[2])+"'", cmdb.CodeParse)
		}
		below = below[min(len(below), 2):]
		t = a.Child
	}
	return req, nil
}

// errNotSimulated says plainly what fosim does not do.
func errNotSimulated(what string) error { return errors.New("not simulated yet: " + what) }

func (s *Server) serveCmdb(w http.ResponseWriter, r *http.Request, who *identity) {
	rep := &reply{srv: s, method: r.Method, action: r.URL.Query().Get("action")}
	req, err := s.parseCmdbPath(r, rep)
	if err != nil {
		rep.fail(w, http.StatusNotFound, err)
		return
	}
	if status, err := s.checkVdom(r, who); err != nil {
		rep.fail(w, status, err)
		return
	}
	switch {
	case req.sub() != nil && r.Method == http.MethodGet:
		s.subGet(w, r, who, req)
	case req.sub() != nil:
		s.cmdbWrite(w, r, who, req)
	case r.Method == http.MethodGet:
		s.cmdbGet(w, r, who, req)
	case r.Method == http.MethodPost, r.Method == http.MethodPut, r.Method == http.MethodDelete:
		s.cmdbWrite(w, r, who, req)
	default:
		rep.fail(w, http.StatusMethodNotAllowed, errors.New("method not allowed"))
	}
}

// checkVdom accepts the one VDOM fosim has (?global=1 and scope=global
// address it too) for a caller allowed in it: an admin, API user or SSO
// admin whose vdom list is empty or names root. A caller of other VDOMs
// only, which fosim does not have, may reach nothing here (403, -14).
func (s *Server) checkVdom(r *http.Request, who *identity) (status int, err error) {
	if v := r.URL.Query().Get("vdom"); v != "" && v != "root" {
		return http.StatusNotFound, inputError("vdom '"+grammar.Excerpt(v)+"' not found", cmdb.CodeNotFound)
	}
	var vdoms []string
	s.App.Store.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
		// the tables a user's access profile is looked up in, in that order
		for _, path := range []string{"system admin", "system api-user", "system sso-admin"} {
			t := s.App.Store.Schema().Table(path)
			if t == nil || t.Attr("vdom") == nil {
				continue
			}
			if e := v.Entry(path, who.user); e != nil {
				vdoms = e.Get(t.Attr("vdom"))
				return
			}
		}
	})
	if len(vdoms) > 0 && !slices.Contains(vdoms, "root") {
		return http.StatusForbidden, &cmdb.Error{Msg: "Permission denied.", Code: cmdb.CodePermission}
	}
	return 0, nil
}

func (s *Server) cmdbGet(w http.ResponseWriter, r *http.Request, who *identity, req *cmdbRequest) {
	rep := req.reply
	if _, err := s.readAccess(who.user, "rest", req.table.Path); err != nil {
		rep.fail(w, 0, err)
		return
	}
	q := r.URL.Query()
	switch rep.action {
	case "":
	case "schema":
		rep.results(w, s.App.Store.Revision(), schemaJSON(req.table))
		return
	case "default":
		var out object
		s.App.Store.ReadCommitted(func(v cmdb.View, _ uint64, _ *cmdb.Secrets) {
			out = entryJSON(v, req.table, cmdb.NewEntry(""), outOptions{})
		})
		if !req.table.Singleton && len(out) >= 2 {
			out = out[2:] // no name for an entry not made yet
		}
		rep.results(w, s.App.Store.Revision(), out)
		return
	default:
		rep.fail(w, http.StatusBadRequest, errNotSimulated("action "+rep.action))
		return
	}
	opt := outOptions{datasource: q.Get("datasource") == "1"}
	if f := q.Get("format"); f != "" {
		opt.fields = map[string]bool{}
		for _, name := range strings.Split(f, "|") {
			opt.fields[name] = true
		}
	}
	lq, err := parseListQuery(q, tableHas(req.table))
	if err != nil {
		rep.fail(w, http.StatusBadRequest, err)
		return
	}
	meta := q.Get("with_meta") == "1"
	var refs map[string]int // with_meta: references to each entry
	t := req.table
	var results []object
	var listed []listRow
	var single object
	var rev uint64
	found := true
	s.App.Store.ReadCommitted(func(v cmdb.View, revision uint64, _ *cmdb.Secrets) {
		rev = revision
		if t.Singleton {
			e := v.Entry(t.Path, "")
			if e == nil {
				e = cmdb.NewEntry("")
			}
			single = entryJSON(v, t, e, opt)
			return
		}
		rows := v.Table(t.Path)
		if meta {
			refs = refCounts(s.App.Store.Schema(), v, t.Path)
		}
		if req.hasMkey {
			var e *cmdb.Entry
			if rows != nil {
				e = rows.ByKey[req.mkey]
			}
			if e == nil {
				found = false
				return
			}
			results = []object{entryOut(v, t, e, opt, refs)}
			return
		}
		// filter and sort see the attributes they name, whatever format keeps
		var fullOpt *outOptions
		if lq.needsFull() && opt.fields != nil {
			fullOpt = &outOptions{fields: lq.attrs(), datasource: opt.datasource}
		}
		listed = make([]listRow, 0, rows.Len())
		for _, e := range rows.Ordered() {
			row := listRow{out: entryOut(v, t, e, opt, refs)}
			row.full = row.out
			if fullOpt != nil {
				row.full = entryJSON(v, t, e, *fullOpt)
			}
			listed = append(listed, row)
		}
	})
	switch {
	case t.Singleton:
		rep.results(w, rev, single)
	case !found:
		rep.fail(w, http.StatusNotFound, nil)
	case req.hasMkey:
		rep.results(w, rev, results)
	default:
		page, matched := lq.run(listed)
		rep.results(w, rev, page, listMembers(page, matched, lq.start)...)
	}
}

// entryOut is an entry as a GET returns it, with FortiOS's meta members
// when refs (?with_meta=1) is given.
func entryOut(v cmdb.View, t *cmdb.Table, e *cmdb.Entry, opt outOptions, refs map[string]int) object {
	o := entryJSON(v, t, e, opt)
	if refs != nil {
		words := strings.Fields(t.Path)
		o.add("q_ref", refs[e.Key])
		o.add("q_static", false)
		o.add("q_no_rename", false)
		o.add("q_no_edit", false)
		o.add("q_path", strings.Join(words[:len(words)-1], "."))
		o.add("q_name", t.Name())
		o.add("q_mkey_type", mkeyType(t))
	}
	return o
}

func mkeyType(t *cmdb.Table) string {
	if t.KeyType == cmdb.TInt {
		return "integer"
	}
	return "string"
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n
	}
	return def
}

// readBody reads a request's JSON object, at most MaxBody bytes; status
// is 413 for a larger one, else 400.
func readBody(w http.ResponseWriter, r *http.Request) (body map[string]any, status int, err error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, errors.New("request body larger than 1 MiB")
		}
		return nil, http.StatusBadRequest, err
	}
	if body, err = decodeObject(raw); err != nil {
		return nil, http.StatusBadRequest, err
	}
	return body, 0, nil
}

// cmdbWrite is POST (create), PUT (change) and DELETE, each through the
// structured edit API in a session of the caller, so that the access
// profile and every check of the CLI apply.
func (s *Server) cmdbWrite(w http.ResponseWriter, r *http.Request, who *identity, req *cmdbRequest) {
	rep := req.reply
	t := req.table
	var body map[string]any
	// An action's arguments are in the URL; a body (Ansible sends the
	// entry with a move) is not read.
	if r.Method != http.MethodDelete && rep.action == "" {
		var status int
		var err error
		if body, status, err = readBody(w, r); err != nil {
			rep.fail(w, status, err)
			return
		}
	}
	st := s.App.Store
	sess := st.NewSession(who.user, "rest")
	// One transaction per request: a body refused half-way stores nothing.
	sess.Batch = true
	defer sess.Discard()
	before := st.Revision()
	tbl, err := sess.OpenTable(t.Path)
	if err != nil {
		rep.fail(w, 0, err)
		return
	}
	switch {
	case rep.action != "":
		err = s.tableAction(tbl, req, r)
	case req.sub() != nil:
		err = s.subWrite(tbl, req, r.Method, body, st.Secrets())
	case r.Method == http.MethodDelete && t.Singleton:
		err = inputError("command parse error before 'delete'", cmdb.CodeParse)
	case r.Method == http.MethodDelete && !req.hasMkey:
		err = tbl.Purge()
	case r.Method == http.MethodDelete:
		err = tbl.Delete(req.mkey)
	case r.Method == http.MethodPost && t.Singleton:
		err = inputError("command parse error before 'edit'", cmdb.CodeParse)
	case r.Method == http.MethodPost:
		err = s.create(tbl, req, body)
	default:
		err = s.update(tbl, req, body)
	}
	if err == nil {
		err = sess.Commit()
	}
	if err != nil {
		rep.fail(w, 0, err)
		return
	}
	rep.written(w, before, st.Revision())
}

// tableAction is FortiOS's PUT …/<mkey>?action=move&before=|after=<mkey>
// (the order of policies; Ansible's and Terraform's policy moves) and
// POST …/<mkey>?action=clone&nkey=<new key>, the CLI's move and clone.
func (s *Server) tableAction(tbl *cmdb.TableEdit, req *cmdbRequest, r *http.Request) error {
	q := r.URL.Query()
	t := req.table
	if t.Singleton || !req.hasMkey || req.sub() != nil {
		return inputError("action "+grammar.Excerpt(req.reply.action)+" needs an entry of a table", cmdb.CodeParse)
	}
	switch {
	case req.reply.action == "move" && r.Method == http.MethodPut:
		before, after := q.Get("before"), q.Get("after")
		if (before == "") == (after == "") {
			return inputError("action=move needs one of before= or after=", cmdb.CodeIncomplete)
		}
		other := before + after
		req.reply.mkey = keyValue(t, req.mkey)
		return tbl.Move(req.mkey, other, before != "")
	case req.reply.action == "clone" && r.Method == http.MethodPost:
		nkey := q.Get("nkey")
		if nkey == "" {
			return inputError("action=clone needs nkey=", cmdb.CodeIncomplete)
		}
		req.reply.mkey = keyValue(t, nkey)
		return tbl.Clone(req.mkey, nkey)
	}
	return errNotSimulated("action " + grammar.Excerpt(req.reply.action) + " with " + r.Method)
}

// create is POST on a table: a new entry, refused (-5) when it exists.
func (s *Server) create(tbl *cmdb.TableEdit, req *cmdbRequest, body map[string]any) error {
	return createEntry(tbl, req.table, req.mkey, req.hasMkey, body, s.App.Store.Secrets(), req.reply)
}

// createEntry makes the entry of t (tbl, a table or a nested one) a POST
// asks for: named by key when hasKey (the URL's), else by the body's key
// (a numbered table without one takes "0", the next free id); refused
// (-5) when it exists. The key it got is the reply's mkey.
func createEntry(tbl *cmdb.TableEdit, t *cmdb.Table, key string, hasKey bool, body map[string]any, sec *cmdb.Secrets, rep *reply) error {
	key, err := newEntryKey(t, body, key, hasKey)
	if err != nil {
		return err
	}
	e, err := tbl.Edit(key)
	if err != nil {
		return err
	}
	if !e.Created() {
		return &cmdb.Error{Msg: "entry '" + key + "' already exists", Code: cmdb.CodeDuplicate}
	}
	rep.mkey = keyValue(t, e.Key())
	if err := applyJSON(e, body, sec); err != nil {
		return err
	}
	return e.Save()
}

// newEntryKey is the key of the entry of t a body makes: the URL's when
// hasKey, else the body's; a numbered table without one takes "0", the
// next free id, as "edit 0".
func newEntryKey(t *cmdb.Table, body map[string]any, key string, hasKey bool) (string, error) {
	inBody, err := bodyKey(t, body)
	if err != nil {
		return "", err
	}
	if !hasKey {
		key = inBody
	}
	if key == "" {
		if t.KeyType != cmdb.TInt {
			return "", inputError("incomplete command in the end", cmdb.CodeIncomplete)
		}
		key = "0"
	}
	return key, nil
}

// update is PUT on an entry (or a singleton): the attributes given
// change, the others stay; a new key in the body renames the entry.
func (s *Server) update(tbl *cmdb.TableEdit, req *cmdbRequest, body map[string]any) error {
	t := req.table
	key := ""
	if !t.Singleton {
		if !req.hasMkey {
			return inputError("entry not found in datasource", cmdb.CodeNotFound)
		}
		key = req.mkey
	}
	e, err := tbl.Edit(key)
	if err != nil {
		return err
	}
	if e.Created() {
		return inputError("entry not found in datasource", cmdb.CodeNotFound)
	}
	if newKey, err := bodyKey(t, body); err != nil {
		return err
	} else if !t.Singleton && newKey != "" && newKey != key {
		if err := tbl.Rename(key, newKey); err != nil {
			return err
		}
		req.reply.mkey = keyValue(t, newKey)
		if e, err = tbl.Edit(newKey); err != nil {
			return err
		}
	}
	if err := applyJSON(e, body, s.App.Store.Secrets()); err != nil {
		return err
	}
	return e.Save()
}
