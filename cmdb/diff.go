package cmdb

import (
	"fmt"
	"slices"
	"strings"
)

// UnifiedDiff returns a unified diff of two texts by lines (an LCS diff;
// configurations are small enough), labelled a and b.
func UnifiedDiff(a, b, labelA, labelB string) string {
	x, y := splitLines(a), splitLines(b)
	// LCS table over the lines, trimmed of the common head and tail.
	head := 0
	for head < len(x) && head < len(y) && x[head] == y[head] {
		head++
	}
	tail := 0
	for tail < len(x)-head && tail < len(y)-head && x[len(x)-1-tail] == y[len(y)-1-tail] {
		tail++
	}
	xs, ys := x[head:len(x)-tail], y[head:len(y)-tail]
	if len(xs) == 0 && len(ys) == 0 {
		return ""
	}
	lcs := make([][]int32, len(xs)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(ys)+1)
	}
	for i := len(xs) - 1; i >= 0; i-- {
		for j := len(ys) - 1; j >= 0; j-- {
			if xs[i] == ys[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
	}
	var ops []op
	for _, l := range x[:head] {
		ops = append(ops, op{' ', l})
	}
	i, j := 0, 0
	for i < len(xs) || j < len(ys) {
		switch {
		case i < len(xs) && j < len(ys) && xs[i] == ys[j]:
			ops = append(ops, op{' ', xs[i]})
			i++
			j++
		case i < len(xs) && (j == len(ys) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', xs[i]})
			i++
		default:
			ops = append(ops, op{'+', ys[j]})
			j++
		}
	}
	for _, l := range x[len(x)-tail:] {
		ops = append(ops, op{' ', l})
	}
	// Hunks with three lines of context.
	const ctx = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", labelA, labelB)
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(0, k-ctx)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		aStart, bStart, aLen, bLen := 1, 1, 0, 0
		for _, o := range ops[:start] {
			if o.kind != '+' {
				aStart++
			}
			if o.kind != '-' {
				bStart++
			}
		}
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", aStart, aLen, bStart, bLen)
		for _, o := range ops[start:end] {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return slices.Clone(strings.Split(s, "\n"))
}
