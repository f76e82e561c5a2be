package https

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cmdb"
)

// BenchmarkSort10000 reads a 10,000-entry firewall address table whole
// with format=name|subnet, as it is and sorted on two keys
// (sort=color&sort=name,dsc: sort reads an attribute the reply leaves
// out), and reports what the sort costs against the unsorted GET of the
// same run (times include the client's JSON decoding).
//
//	go test ./admin/https -run '^$' -bench Sort10000 -benchtime 5x
func BenchmarkSort10000(b *testing.B) {
	const count = 10000
	api := newTestAPI(b)
	var script strings.Builder
	script.WriteString("config firewall address\n")
	for i := 0; i < count; i++ {
		fmt.Fprintf(&script, "edit big_%d\nset subnet 10.%d.%d.0 255.255.255.0\nset color %d\nnext\n", i, i/256%256, i%256, i%32)
	}
	script.WriteString("end\n")
	if res := cmdb.RunScript(api.st.NewSystemSession("bench", "bench"), script.String(), cmdb.ScriptOptions{Atomic: true}); len(res.Errors) > 0 {
		b.Fatal(res.Errors[0])
	}
	var plain, sorted time.Duration
	for n := 0; n < b.N; n++ {
		start := time.Now()
		if code, m := api.do(b, "GET", "/api/v2/cmdb/firewall/address?format=name|subnet", nil); code != 200 || len(m["results"].([]any)) < count {
			b.Fatalf("plain GET: %d", code)
		}
		plain += time.Since(start)
		start = time.Now()
		code, m := api.do(b, "GET", "/api/v2/cmdb/firewall/address?format=name|subnet&sort=color&sort=name,dsc", nil)
		sorted += time.Since(start)
		res := m["results"].([]any)
		first := "" // the factory addresses have color 0 too
		for _, e := range res {
			if name := e.(map[string]any)["name"].(string); strings.HasPrefix(name, "big_") {
				first = name
				break
			}
		}
		if code != 200 || len(res) < count || first != "big_9984" {
			b.Fatalf("sorted GET: %d, first %q", code, first)
		}
	}
	b.ReportMetric(plain.Seconds()/float64(b.N), "plain-s/op")
	b.ReportMetric(sorted.Seconds()/float64(b.N), "sorted-s/op")
	b.ReportMetric(sorted.Seconds()/plain.Seconds(), "sorted/plain")
}
