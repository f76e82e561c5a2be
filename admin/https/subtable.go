package https

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/fosim/fosim/cmdb"
)

// Sub-table URLs address a nested table or a list of names inside one
// entry, as FortiOS's REST API does and Ansible's member operations use:
// /api/v2/cmdb/firewall/addrgrp/<group>/member[/<name>],
// /api/v2/cmdb/system/api-user/<user>/trusthost[/<id>]. A list of names
// is a table of {"name"} items here, as it is there.

// subGet answers GET on a sub-table (every item) or on one item.
func (s *Server) subGet(w http.ResponseWriter, who *identity, req *cmdbRequest) {
	rep := req.reply
	sess := s.App.Store.NewSession(who.user, "rest")
	defer sess.Discard()
	if _, err := sess.OpenTable(req.table.Path); err != nil {
		rep.fail(w, 0, err)
		return
	}
	var items []object
	var rev uint64
	found := true
	s.App.Store.ReadCommitted(func(v cmdb.View, revision uint64, _ *cmdb.Secrets) {
		rev = revision
		e := v.Entry(req.table.Path, req.mkey)
		if e == nil {
			found = false
			return
		}
		items = subItems(v, req.sub, e)
	})
	if !found {
		rep.fail(w, http.StatusNotFound, nil)
		return
	}
	if req.hasSubKey {
		keep := []object{}
		for _, it := range items {
			if itemKey(req.sub, it) == req.subKey {
				keep = append(keep, it)
			}
		}
		if len(keep) == 0 {
			rep.fail(w, http.StatusNotFound, nil)
			return
		}
		items = keep
	}
	rep.results(w, rev, items)
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

// subWrite is POST (add an item), PUT (change one; for a list of names,
// the item is its name and nothing changes) and DELETE (remove one) on a
// sub-table; the owning entry is saved with it.
func (s *Server) subWrite(tbl *cmdb.TableEdit, req *cmdbRequest, method string, body map[string]any, sec *cmdb.Secrets) error {
	e, err := tbl.Edit(req.mkey)
	if err != nil {
		return err
	}
	if e.Created() {
		return inputError("entry not found in datasource", cmdb.CodeNotFound)
	}
	a := req.sub
	if a.Child == nil {
		err = subWriteList(e, a, req, method, body)
	} else {
		err = subWriteChild(e, a, req, method, body, sec)
	}
	if err != nil {
		return err
	}
	return e.Save()
}

func subWriteList(e *cmdb.EntryEdit, a *cmdb.Attr, req *cmdbRequest, method string, body map[string]any) error {
	cur := e.Entry().Get(a)
	switch method {
	case http.MethodDelete:
		if !req.hasSubKey {
			return e.Unset(a.Name)
		}
		if !slices.Contains(cur, req.subKey) {
			return inputError("entry not found in datasource", cmdb.CodeNotFound)
		}
		return e.Unselect(a.Name, cmdb.Words(req.subKey))
	case http.MethodPut:
		if !req.hasSubKey || !slices.Contains(cur, req.subKey) {
			return inputError("entry not found in datasource", cmdb.CodeNotFound)
		}
		name, ok := listItem(map[string]any(body))
		if ok && name != req.subKey {
			return inputError("value parse error before '"+name+"'", cmdb.CodeValue)
		}
		return nil
	}
	name, ok := listItem(map[string]any(body))
	if req.hasSubKey {
		name, ok = req.subKey, true
	}
	if !ok || name == "" {
		return inputError("incomplete command in the end", cmdb.CodeIncomplete)
	}
	if slices.Contains(cur, name) {
		return &cmdb.Error{Msg: "entry '" + name + "' already exists", Code: cmdb.CodeDuplicate}
	}
	return e.Append(a.Name, cmdb.Words(name))
}

func subWriteChild(e *cmdb.EntryEdit, a *cmdb.Attr, req *cmdbRequest, method string, body map[string]any, sec *cmdb.Secrets) error {
	ct, err := e.OpenTable(a.Name)
	if err != nil {
		return err
	}
	switch method {
	case http.MethodDelete:
		if !req.hasSubKey {
			return ct.Purge()
		}
		return ct.Delete(req.subKey)
	case http.MethodPut:
		if !req.hasSubKey {
			return inputError("entry not found in datasource", cmdb.CodeNotFound)
		}
		ce, err := ct.Edit(req.subKey)
		if err != nil {
			return err
		}
		if ce.Created() {
			return inputError("entry not found in datasource", cmdb.CodeNotFound)
		}
		if err := applyJSON(ce, body, sec); err != nil {
			return err
		}
		return ce.Save()
	}
	key, err := bodyKey(a.Child, body)
	if err != nil {
		return err
	}
	if req.hasSubKey {
		key = req.subKey
	}
	if key == "" {
		if a.Child.KeyType != cmdb.TInt {
			return inputError("incomplete command in the end", cmdb.CodeIncomplete)
		}
		key = "0"
	}
	ce, err := ct.Edit(key)
	if err != nil {
		return err
	}
	if !ce.Created() {
		return &cmdb.Error{Msg: "entry '" + key + "' already exists", Code: cmdb.CodeDuplicate}
	}
	if err := applyJSON(ce, body, sec); err != nil {
		return err
	}
	return ce.Save()
}
