package https

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/fosim/fosim/cmdb"
)

// Sub-table URLs address a nested table or a list of names inside one
// entry, at any depth, as FortiOS's REST API does and Ansible's member
// operations (member_path) use: /api/v2/cmdb/firewall/addrgrp/<group>/member[/<name>],
// /api/v2/cmdb/system/api-user/<user>/trusthost[/<id>],
// /api/v2/cmdb/system/saml/service-providers/<sp>/assertion-attributes[/<name>].
// A list of names is a table of {"name"} items here, as it is there.

// subGet answers GET on a sub-table (every item, with filter, sort,
// start and count as a table's list) or on one item.
func (s *Server) subGet(w http.ResponseWriter, r *http.Request, who *identity, req *cmdbRequest) {
	rep := req.reply
	if _, err := s.readAccess(who.user, "rest", req.table.Path); err != nil {
		rep.fail(w, 0, err)
		return
	}
	sub := req.sub()
	has := func(attr string) bool { return attr == "name" }
	if sub.attr.Child != nil {
		has = tableHas(sub.attr.Child)
	}
	lq, err := parseListQuery(r.URL.Query(), has)
	if err != nil {
		rep.fail(w, http.StatusBadRequest, err)
		return
	}
	var items []object
	var rev uint64
	found := false
	s.App.Store.ReadCommitted(func(v cmdb.View, revision uint64, _ *cmdb.Secrets) {
		rev = revision
		e := v.Entry(req.table.Path, req.mkey)
		if req.table.Singleton && e == nil {
			e = cmdb.NewEntry("")
		}
		if e, err = walkCommitted(req.table, e, req.steps); e != nil {
			found, items = true, subItems(v, sub.attr, e)
		}
	})
	switch {
	case err != nil:
		rep.fail(w, 0, err)
		return
	case !found:
		rep.fail(w, http.StatusNotFound, nil)
		return
	}
	if sub.hasKey {
		keep := []object{}
		for _, it := range items {
			if itemKey(sub.attr, it) == sub.key {
				keep = append(keep, it)
			}
		}
		if len(keep) == 0 {
			rep.fail(w, http.StatusNotFound, nil)
			return
		}
		rep.results(w, rev, keep)
		return
	}
	rows := make([]listRow, len(items))
	for i, it := range items {
		rows[i] = listRow{out: it, full: it}
	}
	page, matched := lq.run(rows)
	rep.results(w, rev, page, listMembers(page, matched, lq.start)...)
}

// walkCommitted goes from e, an entry of t, down through the items
// steps name but the last, and returns the entry holding the last
// step's table or list; nil when an entry or item is missing, and an
// error when an attribute of the path does not exist for its entry (its
// condition does not hold).
func walkCommitted(t *cmdb.Table, e *cmdb.Entry, steps []subStep) (*cmdb.Entry, error) {
	for i, st := range steps {
		if e == nil {
			return nil, nil
		}
		if !t.Exists(st.attr, e) {
			return nil, inputError("command parse error before '"+st.attr.Name+"'", cmdb.CodeParse)
		}
		if i == len(steps)-1 {
			break
		}
		var next *cmdb.Entry
		if rows := e.Children[st.attr.Name]; rows != nil {
			next = rows.ByKey[st.key]
		}
		e, t = next, st.attr.Child
	}
	return e, nil
}

// subItems is a sub-table as GET writes it.
func subItems(v cmdb.View, a *cmdb.Attr, e *cmdb.Entry) []object {
	if a.Child != nil {
		list, _ := childJSON(v, a, e).([]object)
		return list
	}
	list, _ := valueJSON(v, a, e.Get(a), outOptions{}).([]object)
	return list
}

// itemKey is the key of one sub-table item, as its URL names it.
func itemKey(a *cmdb.Attr, it object) string {
	key := "name"
	if a.Child != nil {
		key = a.Child.KeyName
	}
	switch k := it.get(key).(type) {
	case string:
		return k
	case int64:
		return strconv.FormatInt(k, 10)
	}
	return ""
}

func errNotFound() error { return inputError("entry not found in datasource", cmdb.CodeNotFound) }

// subWrite is POST (add an item), PUT (change one; for a list of names,
// the item is its name and nothing changes) and DELETE (remove one, or
// the whole sub-table) on a sub-table. The entries the path goes through
// must exist; each is saved into its owner, the outermost into the
// request's batch.
func (s *Server) subWrite(tbl *cmdb.TableEdit, req *cmdbRequest, method string, body map[string]any, sec *cmdb.Secrets) error {
	e, err := tbl.Edit(req.mkey)
	if err != nil {
		return err
	}
	if e.Created() {
		return errNotFound()
	}
	chain := []*cmdb.EntryEdit{e}
	for _, st := range req.steps[:len(req.steps)-1] {
		ct, err := e.OpenTable(st.attr.Name)
		if err != nil {
			return err
		}
		if e, err = ct.Edit(st.key); err != nil {
			return err
		}
		if e.Created() {
			return errNotFound()
		}
		chain = append(chain, e)
	}
	sub := req.sub()
	if sub.attr.Child == nil {
		err = subWriteList(e, sub, req.reply, method, body)
	} else {
		err = subWriteChild(e, sub, req.reply, method, body, sec)
	}
	if err != nil {
		return err
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if err := chain[i].Save(); err != nil {
			return err
		}
	}
	return nil
}

// subWriteList changes a list of names of e. A POST answers the name
// added as its mkey.
func subWriteList(e *cmdb.EntryEdit, sub *subStep, rep *reply, method string, body map[string]any) error {
	a := sub.attr
	cur := e.Entry().Get(a)
	switch method {
	case http.MethodDelete:
		if !sub.hasKey {
			return e.Unset(a.Name)
		}
		if !slices.Contains(cur, sub.key) {
			return errNotFound()
		}
		return e.Unselect(a.Name, cmdb.Words(sub.key))
	case http.MethodPut:
		if !sub.hasKey || !slices.Contains(cur, sub.key) {
			return errNotFound()
		}
		name, ok := listItem(map[string]any(body))
		if ok && name != sub.key {
			return inputError("value parse error before '"+name+"'", cmdb.CodeValue)
		}
		return nil
	}
	name, ok := listItem(map[string]any(body))
	if sub.hasKey {
		name, ok = sub.key, true
	}
	if !ok || name == "" {
		return inputError("incomplete command in the end", cmdb.CodeIncomplete)
	}
	if slices.Contains(cur, name) {
		return &cmdb.Error{Msg: "entry '" + name + "' already exists", Code: cmdb.CodeDuplicate}
	}
	rep.mkey = name
	return e.Append(a.Name, cmdb.Words(name))
}

// subWriteChild changes the nested table of e. A POST answers the key of
// the item it made as its mkey (the id a numbered table chose).
func subWriteChild(e *cmdb.EntryEdit, sub *subStep, rep *reply, method string, body map[string]any, sec *cmdb.Secrets) error {
	a := sub.attr
	ct, err := e.OpenTable(a.Name)
	if err != nil {
		return err
	}
	switch method {
	case http.MethodDelete:
		if !sub.hasKey {
			return ct.Purge()
		}
		return ct.Delete(sub.key)
	case http.MethodPut:
		if !sub.hasKey {
			return errNotFound()
		}
		ce, err := ct.Edit(sub.key)
		if err != nil {
			return err
		}
		if ce.Created() {
			return errNotFound()
		}
		if err := applyJSON(ce, body, sec); err != nil {
			return err
		}
		return ce.Save()
	}
	return createEntry(ct, a.Child, sub.key, sub.hasKey, body, sec, rep)
}
