package https

import (
	"strings"

	"github.com/fosim/fosim/cmdb"
)

// schemaJSON is ?action=schema: the table and its attributes as FortiOS
// describes them (category, type, size or range, options, datasources).
func schemaJSON(t *cmdb.Table) object {
	var o object
	o.add("name", t.Name())
	if parts := strings.Fields(t.Path); len(parts) > 1 {
		o.add("path", strings.Join(parts[:len(parts)-1], "."))
	}
	if t.Singleton {
		o.add("category", "complex")
	} else {
		o.add("category", "table")
		o.add("mkey", t.KeyName)
		o.add("mkey_type", mkeyType(t))
	}
	o.add("help", t.Help)
	var children object
	if !t.Singleton {
		key := object{{"name", t.KeyName}, {"category", "unitary"}}
		if t.KeyType == cmdb.TInt {
			key = append(key, member{"type", "integer"}, member{"min-value", t.KeyMin}, member{"max-value", t.KeyTop})
		} else {
			key = append(key, member{"type", "string"}, member{"size", t.KeyMax})
		}
		children.add(t.KeyName, key)
	}
	for _, a := range t.Attrs {
		children.add(a.Name, attrSchema(a))
	}
	o.add("children", children)
	return o
}

func attrSchema(a *cmdb.Attr) object {
	if a.Child != nil {
		return schemaJSON(a.Child)
	}
	o := object{{"name", a.Name}}
	if a.Type.Multi() && (a.Type == cmdb.TRefs || a.Type == cmdb.TStrings) {
		o.add("category", "table")
	} else {
		o.add("category", "unitary")
	}
	o.add("type", schemaType(a.Type))
	o.add("help", a.Help)
	switch a.Type {
	case cmdb.TInt:
		o.add("min-value", a.Min)
		o.add("max-value", a.Top)
	case cmdb.TString, cmdb.TText, cmdb.TRef, cmdb.TRefs, cmdb.TStrings, cmdb.TPassword:
		if a.Max > 0 {
			o.add("size", a.Max)
		}
	case cmdb.TOption, cmdb.TOptions, cmdb.TOptionList:
		opts := []object{}
		for _, name := range a.Options {
			opts = append(opts, object{{"name", name}})
		}
		o.add("options", opts)
	}
	if len(a.Refs) > 0 {
		var ds []string
		for _, r := range a.Refs {
			ds = append(ds, urlPath(r)+".name")
		}
		o.add("datasource", ds)
	}
	if len(a.Default) > 0 {
		o.add("default", strings.Join(a.Default, " "))
	}
	return o
}

// schemaType names a type as FortiOS's schema does.
func schemaType(t cmdb.Type) string {
	switch t {
	case cmdb.TString, cmdb.TRef, cmdb.TRefs, cmdb.TStrings:
		return "string"
	case cmdb.TText:
		return "var-string"
	case cmdb.TOption, cmdb.TOptions, cmdb.TOptionList:
		return "option"
	case cmdb.TInt:
		return "integer"
	case cmdb.TIPv4:
		return "ipv4-address"
	case cmdb.TIPv4Mask:
		return "ipv4-classnet-any"
	case cmdb.TIPv4Net:
		return "ipv4-classnet"
	case cmdb.TIPv4Netmask:
		return "ipv4-netmask"
	case cmdb.TIPv6:
		return "ipv6-address"
	case cmdb.TIPv6Prefix:
		return "ipv6-prefix"
	case cmdb.TPassword, cmdb.TPasswordHash:
		return "password"
	case cmdb.TMAC:
		return "mac-address"
	case cmdb.TPortRange:
		return "user"
	case cmdb.TTime:
		return "user"
	case cmdb.TUUID:
		return "uuid"
	}
	return t.String()
}
