package https

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// listQuery is what a list GET asks beyond its URL, applied in FortiOS's
// order: filter, then sort, then start and count (format shapes what is
// left).
type listQuery struct {
	filters filters
	sorts   []sortKey
	start   int
	count   int // -1: every entry
}

// sortKey is one ?sort= parameter: "name" or "name,asc" ascending,
// "name,dsc" descending. The first parameter decides first; equal
// entries keep their table order.
type sortKey struct {
	attr string
	desc bool
}

// parseListQuery reads filter, sort, start and count; has tells whether
// the entries listed have an attribute, so that a sort on a misspelt one
// is refused rather than silently ignored.
func parseListQuery(q url.Values, has func(attr string) bool) (listQuery, error) {
	f, err := parseFilters(q["filter"])
	if err != nil {
		return listQuery{}, err
	}
	lq := listQuery{filters: f, start: atoiOr(q.Get("start"), 0), count: atoiOr(q.Get("count"), -1)}
	for _, p := range q["sort"] {
		attr, order, _ := strings.Cut(p, ",")
		k := sortKey{attr: attr}
		switch order {
		case "", "asc":
		case "dsc":
			k.desc = true
		default:
			return listQuery{}, inputError("invalid sort order '"+grammar.Excerpt(order)+"' (sort="+grammar.Excerpt(p)+"): asc or dsc", cmdb.CodeValue)
		}
		if !has(attr) {
			return listQuery{}, inputError("command parse error before '"+grammar.Excerpt(attr)+"' (sort: no such attribute)", cmdb.CodeParse)
		}
		lq.sorts = append(lq.sorts, k)
	}
	return lq, nil
}

// tableHas tells whether entries of t have attr: its key or an attribute
// that holds values (a nested table has no order of its own).
func tableHas(t *cmdb.Table) func(string) bool {
	return func(attr string) bool {
		if !t.Singleton && attr == t.KeyName {
			return true
		}
		a := t.Attr(attr)
		return a != nil && a.Child == nil
	}
}

// listRow is one entry of a list: out as the reply writes it, full with
// the attributes filter and sort read (format may have left them out).
type listRow struct {
	out, full object
}

// needsFull tells whether rows need their full objects besides out.
func (lq listQuery) needsFull() bool { return len(lq.filters) > 0 || len(lq.sorts) > 0 }

// attrs are the attributes filter and sort read: all a row's full
// object needs.
func (lq listQuery) attrs() map[string]bool {
	out := map[string]bool{}
	for _, any := range lq.filters {
		for _, c := range any {
			out[c.attr] = true
		}
	}
	for _, k := range lq.sorts {
		out[k.attr] = true
	}
	return out
}

// run filters, sorts and pages rows; matched counts the entries that
// passed the filters, before start and count.
func (lq listQuery) run(rows []listRow) (page []object, matched int) {
	kept := rows[:0:0]
	for _, r := range rows {
		if len(lq.filters) == 0 || lq.filters.match(r.full) {
			kept = append(kept, r)
		}
	}
	if len(lq.sorts) > 0 {
		slices.SortStableFunc(kept, func(a, b listRow) int {
			for _, k := range lq.sorts {
				c := compareValues(a.full.get(k.attr), b.full.get(k.attr))
				if k.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	matched = len(kept)
	start := min(lq.start, len(kept))
	kept = kept[start:]
	if lq.count >= 0 && lq.count < len(kept) {
		kept = kept[:lq.count]
	}
	page = make([]object, len(kept))
	for i, r := range kept {
		page[i] = r.out
	}
	return page, matched
}

// compareValues orders two values of one attribute as GET writes them:
// numbers by value, text and lists of names by their text; an attribute
// an entry lacks sorts first.
func compareValues(a, b any) int {
	na, aNum := sortNumber(a)
	nb, bNum := sortNumber(b)
	if aNum && bNum {
		return cmp.Compare(na, nb)
	}
	return strings.Compare(sortText(a), sortText(b))
}

func sortNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case uint64:
		return int64(n), true
	}
	return 0, false
}

// sortText is a value as sort compares it: a list of names joined by spaces.
func sortText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case []object:
		names := make([]string, 0, len(x))
		for _, item := range x {
			if s, ok := item.get("name").(string); ok {
				names = append(names, s)
			}
		}
		return strings.Join(names, " ")
	}
	if n, ok := sortNumber(v); ok {
		return strconv.FormatInt(n, 10)
	}
	return ""
}

// listMembers are the members a list reply carries beside its results.
func listMembers(page []object, matched, start int) []member {
	start = min(start, matched)
	return []member{{"size", len(page)}, {"limit_reached", false},
		{"matched_count", matched}, {"next_idx", start + len(page) - 1}}
}
