package https

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
)

// FuzzJSONToEntry feeds request bodies to the JSON-to-CMDB conversion of
// a POST. Whatever it accepts must come back the same: the entry as GET
// writes it, posted again under another name, stores the same values.
// Nothing is committed (the batch is discarded).
func FuzzJSONToEntry(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","subnet":"10.0.0.0/24","comment":"x","color":3}`,
		`{"name":"a","type":"iprange","start-ip":"10.0.0.1","end-ip":"10.0.0.9"}`,
		`{"name":"a","type":"fqdn","fqdn":"example.com","uuid":"x"}`,
		`{"name":"a","subnet":"10.0.0.0 255.255.255.0","associated-interface":"port1"}`,
		`{"name":"a","macaddr":[{"macaddr":"00:11:22:33:44:55"}],"type":"mac"}`,
		`{"name":"a","color":"7","comment":null}`,
		`{"name":"a","subnet":["10.0.0.0","255.0.0.0"]}`,
		`{"name":"","subnet":1}`,
		`{"name":"a","allow-routing":true}`,
		`{"name":"a","q_origin_key":"a","fabric-object":"enable"}`,
	} {
		f.Add([]byte(seed))
	}
	st := cmdbtest.Store(f)
	table := st.Schema().Table("firewall address")
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeObject(body)
		if err != nil {
			return
		}
		sess := st.NewSession("admin", "fuzz")
		sess.Batch = true
		defer sess.Discard()
		tbl, err := sess.OpenTable("firewall address")
		if err != nil {
			t.Fatal(err)
		}
		e, err := tbl.Edit("fuzz-a")
		if err != nil {
			t.Fatal(err)
		}
		if err := applyJSON(e, m, st.Secrets()); err != nil {
			if _, ok := err.(*cmdb.Error); !ok {
				t.Fatalf("not a FortiOS error: %T %v", err, err)
			}
			return
		}
		if err := e.Save(); err != nil {
			return
		}
		out := entryJSON(sess.View(), table, e.Entry(), outOptions{})
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeObject(b)
		if err != nil {
			t.Fatalf("GET output is not a body: %v: %s", err, b)
		}
		delete(again, "uuid")
		e2, err := tbl.Edit("fuzz-b")
		if err != nil {
			t.Fatal(err)
		}
		if err := applyJSON(e2, again, st.Secrets()); err != nil {
			t.Fatalf("GET output %s refused: %v", b, err)
		}
		v1, v2 := maps.Clone(e.Entry().Values), maps.Clone(e2.Entry().Values)
		delete(v1, "uuid")
		delete(v2, "uuid")
		if !maps.EqualFunc(v1, v2, slices.Equal) {
			t.Fatalf("%s stored %v, its GET output %v", body, v1, v2)
		}
	})
}
