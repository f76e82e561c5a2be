package https

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// This file converts between CMDB entries and FortiOS's JSON: integers as
// numbers, addresses with masks as "10.0.0.0 255.255.255.0", option lists
// space-separated, lists of names as [{"name": …, "q_origin_key": …}],
// nested tables as arrays of objects, secrets as "ENC XXXX". Writes go
// through the structured edit API, value by value, so that a REST write
// and the CLI's "set" of the same words store the same thing.

// outOptions are the GET parameters that shape an entry.
type outOptions struct {
	fields     map[string]bool // ?format=a|b; nil: every attribute
	datasource bool            // ?datasource=1: name the table of each listed reference
}

// keyValue is an entry's key as FortiOS writes it: a number for numbered
// tables.
func keyValue(t *cmdb.Table, key string) any {
	if t.KeyType == cmdb.TInt {
		if n, err := strconv.ParseInt(key, 10, 64); err == nil {
			return n
		}
	}
	return key
}

// entryJSON writes e, every attribute that exists for it (defaults
// included, as FortiOS's REST API answers), in schema order.
func entryJSON(v cmdb.View, t *cmdb.Table, e *cmdb.Entry, o outOptions) object {
	var out object
	if !t.Singleton {
		out.add(t.KeyName, keyValue(t, e.Key))
		out.add("q_origin_key", keyValue(t, e.Key))
	}
	for _, a := range t.Attrs {
		if o.fields != nil && !o.fields[a.Name] {
			continue
		}
		if !t.Exists(a, e) {
			continue
		}
		if a.Child != nil {
			out.add(a.Name, childJSON(v, a, e))
			continue
		}
		out.add(a.Name, valueJSON(v, a, e.Get(a), o))
	}
	return out
}

func childJSON(v cmdb.View, a *cmdb.Attr, e *cmdb.Entry) any {
	rows := e.Children[a.Name]
	if a.Child.Singleton {
		c := cmdb.NewEntry("")
		if rows.Len() > 0 {
			c = rows.Ordered()[0]
		}
		return entryJSON(v, a.Child, c, outOptions{})
	}
	list := []object{}
	for _, c := range rows.Ordered() {
		list = append(list, entryJSON(v, a.Child, c, outOptions{}))
	}
	return list
}

func valueJSON(v cmdb.View, a *cmdb.Attr, words []string, o outOptions) any {
	switch a.Type {
	case cmdb.TInt:
		if len(words) == 1 {
			if n, err := strconv.ParseInt(words[0], 10, 64); err == nil {
				return n
			}
		}
	case cmdb.TPassword, cmdb.TPasswordHash:
		if len(words) > 0 {
			return secretMask
		}
	case cmdb.TRefs, cmdb.TStrings:
		list := []object{}
		for _, w := range words {
			item := object{{"name", w}, {"q_origin_key", w}}
			if o.datasource && a.Type == cmdb.TRefs {
				item.add("datasource", refTable(v, a, w))
			}
			list = append(list, item)
		}
		return list
	}
	return strings.Join(words, " ")
}

// secretMask is what FortiOS's REST API answers for a secret that is set
// (psksecret, passwd, an admin's password, an API key): the words "ENC
// XXXX", never the ciphertext "show" prints (which the built-in key
// decrypts). Terraform's fortios provider skips exactly this value when it
// reads an object back; a published walk through /api/v2/cmdb/system/admin
// shows "password": "ENC XXXX". An unset secret is "", as other empty
// strings.
const secretMask = "ENC XXXX"

// refTable names the table a reference resolves in, as FortiOS's
// datasource ("firewall.address").
func refTable(v cmdb.View, a *cmdb.Attr, name string) string {
	for _, path := range a.Refs {
		if v.Entry(path, name) != nil {
			return urlPath(path)
		}
	}
	if len(a.Refs) > 0 {
		return urlPath(a.Refs[0])
	}
	return ""
}

// urlPath writes a table path as FortiOS's URLs and datasources do:
// "vpn ipsec phase1-interface" is "vpn.ipsec.phase1-interface".
func urlPath(path string) string { return strings.ReplaceAll(path, " ", ".") }

// inputError is a request body that cannot be applied, in FortiOS's
// words and return code.
func inputError(msg string, code int) error { return &cmdb.Error{Msg: msg, Code: code} }

// decodeObject reads a JSON object of a request body, numbers kept as
// written.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("invalid JSON body: %v", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON body: data after the object")
	}
	if m == nil {
		return nil, errors.New("invalid JSON body: not an object")
	}
	return m, nil
}

// bodyKey is the entry key a body names (its key attribute), "" when it
// names none.
func bodyKey(t *cmdb.Table, m map[string]any) (string, error) {
	raw, ok := m[t.KeyName]
	if !ok || raw == nil {
		return "", nil
	}
	switch k := raw.(type) {
	case string:
		return k, nil
	case json.Number:
		return k.String(), nil
	}
	return "", inputError("value parse error before '"+t.KeyName+"'", cmdb.CodeValue)
}

// applyJSON sets the attributes a body gives on an open entry. Attributes
// go in schema order, and one whose condition does not hold yet is tried
// again after the others (a body may give "start-ip" with "type":
// "iprange" in any order). An unknown attribute is refused, so that a
// typo does not pass for a change. A nested table given as an array
// replaces the whole table, as FortiOS's PUT does.
func applyJSON(e *cmdb.EntryEdit, m map[string]any, sec *cmdb.Secrets) error {
	t := e.Table()
	var pending []*cmdb.Attr
	for name := range m {
		if name == "q_origin_key" || (!t.Singleton && name == t.KeyName) {
			continue
		}
		a := t.Attr(name)
		if a == nil {
			return inputError("command parse error before '"+name+"'", cmdb.CodeParse)
		}
		pending = append(pending, a)
	}
	order := func(a *cmdb.Attr) int { return slices.Index(t.Attrs, a) }
	slices.SortFunc(pending, func(a, b *cmdb.Attr) int { return order(a) - order(b) })
	for len(pending) > 0 {
		var later []*cmdb.Attr
		var firstErr error
		for _, a := range pending {
			if !t.Exists(a, e.Entry()) {
				later = append(later, a)
				continue
			}
			if err := applyValue(e, a, m[a.Name], sec); err != nil {
				return err
			}
		}
		if len(later) == len(pending) {
			// nothing changed the conditions: these do not exist here
			for _, a := range later {
				if firstErr == nil {
					firstErr = inputError("command parse error before '"+a.Name+"'", cmdb.CodeParse)
				}
			}
			return firstErr
		}
		pending = later
	}
	return nil
}

func applyValue(e *cmdb.EntryEdit, a *cmdb.Attr, raw any, sec *cmdb.Secrets) error {
	if a.Child != nil {
		return applyChild(e, a, raw, sec)
	}
	if raw == nil {
		return e.Unset(a.Name)
	}
	words, err := jsonWords(a, raw)
	if err != nil {
		return err
	}
	if a.Type == cmdb.TUUID {
		if slices.Equal(words, e.Entry().Get(a)) {
			return nil // FortiOS's reply read back: the uuid it already has
		}
		return inputError("value parse error before '"+strings.Join(words, " ")+"'", cmdb.CodeValue)
	}
	if (a.Type == cmdb.TPassword || a.Type == cmdb.TPasswordHash) && strings.Join(words, " ") == secretMask {
		// the mask a GET answered, sent back with the rest of the object:
		// it stands for the secret stored, and nothing else
		if len(e.Entry().Get(a)) == 0 {
			return inputError("value parse error before '"+a.Name+"'", cmdb.CodeValue)
		}
		return nil
	}
	if sameSecret(a, e.Entry().Get(a), words, sec) {
		// the secret it has, given in clear again (Ansible sends it on
		// every run): encrypting it anew would change the configuration
		return nil
	}
	if len(words) == 0 {
		// an empty list: the CLI's unset (lists default to empty)
		return e.Unset(a.Name)
	}
	return e.Set(a.Name, cmdb.Value(words))
}

// jsonWords turns a JSON value into the words "set" takes.
func jsonWords(a *cmdb.Attr, raw any) ([]string, error) {
	bad := func() error {
		if a.Type == cmdb.TPassword || a.Type == cmdb.TPasswordHash {
			// a secret is never echoed, not even a malformed one
			return inputError("value parse error before '"+a.Name+"'", cmdb.CodeValue)
		}
		j, _ := json.Marshal(raw)
		return inputError("value parse error before '"+grammar.Excerpt(string(j))+"'", cmdb.CodeValue)
	}
	switch v := raw.(type) {
	case json.Number:
		return []string{v.String()}, nil
	case bool:
		return nil, bad()
	case string:
		switch a.Type {
		case cmdb.TString, cmdb.TText, cmdb.TRef, cmdb.TOption:
			return []string{v}, nil
		case cmdb.TPassword, cmdb.TPasswordHash:
			if enc, ok := strings.CutPrefix(v, "ENC "); ok {
				return []string{"ENC", enc}, nil
			}
			return []string{v}, nil
		}
		return strings.Fields(v), nil
	case []any:
		if !a.Type.Multi() {
			return nil, bad()
		}
		words := []string{}
		for _, item := range v {
			w, ok := listItem(item)
			if !ok {
				return nil, bad()
			}
			words = append(words, w)
		}
		return words, nil
	}
	return nil, bad()
}

// listItem reads one member of a list: a string, or FortiOS's object
// {"name": …} (its q_origin_key, or its one member, otherwise).
func listItem(item any) (string, bool) {
	switch v := item.(type) {
	case string:
		return v, true
	case map[string]any:
		for _, k := range []string{"name", "q_origin_key"} {
			if s, ok := v[k].(string); ok {
				return s, true
			}
		}
		if len(v) == 1 {
			for _, x := range v {
				s, ok := x.(string)
				return s, ok
			}
		}
	}
	return "", false
}

// applyChild replaces a nested table with the objects given.
func applyChild(e *cmdb.EntryEdit, a *cmdb.Attr, raw any, sec *cmdb.Secrets) error {
	ct, err := e.OpenTable(a.Name)
	if err != nil {
		return err
	}
	if a.Child.Singleton {
		m, ok := raw.(map[string]any)
		if !ok {
			return inputError("value parse error before '"+a.Name+"'", cmdb.CodeValue)
		}
		ce, err := ct.Edit("")
		if err != nil {
			return err
		}
		if err := applyJSON(ce, m, sec); err != nil {
			return err
		}
		return ce.Save()
	}
	list, ok := raw.([]any)
	if raw != nil && !ok {
		return inputError("value parse error before '"+a.Name+"'", cmdb.CodeValue)
	}
	if err := ct.Purge(); err != nil {
		return err
	}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return inputError("value parse error before '"+a.Name+"'", cmdb.CodeValue)
		}
		key, err := newEntryKey(a.Child, m, "", false)
		if err != nil {
			return err
		}
		ce, err := ct.Edit(key)
		if err != nil {
			return err
		}
		if err := applyJSON(ce, m, sec); err != nil {
			return err
		}
		if err := ce.Save(); err != nil {
			return err
		}
	}
	return nil
}

// sameSecret tells whether words, a secret in clear, is the one stored.
func sameSecret(a *cmdb.Attr, stored, words []string, sec *cmdb.Secrets) bool {
	if len(words) != 1 || len(stored) != 2 || stored[0] != "ENC" || sec == nil {
		return false
	}
	switch a.Type {
	case cmdb.TPassword:
		clear, err := sec.Decrypt(stored[1])
		return err == nil && subtle.ConstantTimeCompare([]byte(clear), []byte(words[0])) == 1
	case cmdb.TPasswordHash:
		return cmdb.CheckPassword(stored[1], words[0])
	}
	return false
}
