package https

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/fosim/fosim/cmdb"
)

// filters are ?filter= parameters: every parameter must hold, and within
// one the comma-separated clauses are alternatives, as FortiOS's REST API
// reads them ("name==web,name==db&filter=type==ipmask").
type filters [][]clause

type clause struct {
	attr, op, value string
}

// filterOps, longest first so that "<=" is not read as "<".
var filterOps = []string{"==", "!=", "=@", "!@", "<=", ">=", "<", ">"}

func parseFilters(params []string) (filters, error) {
	var out filters
	for _, p := range params {
		var any []clause
		for _, c := range strings.Split(p, ",") {
			cl, ok := parseClause(c)
			if !ok {
				return nil, inputError("invalid filter '"+c+"'", cmdb.CodeValue)
			}
			any = append(any, cl)
		}
		out = append(out, any)
	}
	return out, nil
}

func parseClause(c string) (clause, bool) {
	best := -1
	var op string
	for _, o := range filterOps {
		if i := strings.Index(c, o); i > 0 && (best < 0 || i < best || i == best && len(o) > len(op)) {
			best, op = i, o
		}
	}
	if best < 0 {
		return clause{}, false
	}
	return clause{attr: c[:best], op: op, value: c[best+len(op):]}, true
}

// match tells whether an entry, as GET writes it, passes.
func (f filters) match(o object) bool {
	for _, any := range f {
		ok := false
		for _, c := range any {
			if c.match(o) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c clause) match(o object) bool {
	var values []string
	switch v := o.get(c.attr).(type) {
	case nil:
		values = []string{""}
	case string:
		values = []string{v}
	case int64:
		values = []string{strconv.FormatInt(v, 10)}
	case int:
		values = []string{strconv.Itoa(v)}
	case []object:
		for _, item := range v {
			if s, ok := item.get("name").(string); ok {
				values = append(values, s)
			}
		}
	default:
		b, _ := json.Marshal(v)
		values = []string{string(b)}
	}
	// a negated clause holds when no value passes its positive test
	negate := c.op == "!=" || c.op == "!@"
	for _, v := range values {
		if c.test(v) {
			return !negate
		}
	}
	return negate
}

func (c clause) test(v string) bool {
	switch c.op {
	case "==", "!=":
		return v == c.value
	case "=@", "!@":
		return strings.Contains(v, c.value)
	}
	a, errA := strconv.ParseFloat(v, 64)
	b, errB := strconv.ParseFloat(c.value, 64)
	if errA != nil || errB != nil {
		return false
	}
	switch c.op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	}
	return a >= b
}
