package lab

import (
	"fmt"
	"strings"
)

// lcs pairs up lines of a and b that are equal by eq, in order, keeping as
// many pairs as possible; it returns pairs of indexes. Labs are short, so
// the quadratic table is cheap.
func lcs(na, nb int, eq func(i, j int) bool) [][2]int {
	t := make([][]int, na+1)
	for i := range t {
		t[i] = make([]int, nb+1)
	}
	for i := na - 1; i >= 0; i-- {
		for j := nb - 1; j >= 0; j-- {
			switch {
			case eq(i, j):
				t[i][j] = t[i+1][j+1] + 1
			case t[i+1][j] >= t[i][j+1]:
				t[i][j] = t[i+1][j]
			default:
				t[i][j] = t[i][j+1]
			}
		}
	}
	var pairs [][2]int
	for i, j := 0, 0; i < na && j < nb; {
		switch {
		case eq(i, j):
			pairs = append(pairs, [2]int{i, j})
			i++
			j++
		case t[i+1][j] >= t[i][j+1]:
			i++
		default:
			j++
		}
	}
	return pairs
}

// unifiedDiff is a unified diff of two texts' lines with context lines of
// context, or "" when they are equal.
func unifiedDiff(nameA, nameB string, a, b []string, context int) string {
	pairs := lcs(len(a), len(b), func(i, j int) bool { return a[i] == b[j] })
	// ops: ' ' both, '-' only a, '+' only b, with their line indexes
	type op struct {
		kind byte
		i, j int
	}
	var ops []op
	i, j := 0, 0
	for _, p := range append(pairs, [2]int{len(a), len(b)}) {
		for ; i < p[0]; i++ {
			ops = append(ops, op{'-', i, j})
		}
		for ; j < p[1]; j++ {
			ops = append(ops, op{'+', i, j})
		}
		if i < len(a) && j < len(b) {
			ops = append(ops, op{' ', i, j})
			i++
			j++
		}
	}
	var out strings.Builder
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		// a hunk: from context lines before the change to context lines
		// after the last change that is within 2*context of the next
		start := max(0, k-context)
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
			if run == len(ops) || run-end > 2*context {
				end = min(len(ops), end+context)
				break
			}
			end = run
		}
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
		}
		na, nb := 0, 0
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				na++
			}
			if o.kind != '-' {
				nb++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", ops[start].i+1, na, ops[start].j+1, nb)
		for _, o := range ops[start:end] {
			switch o.kind {
			case ' ':
				out.WriteString(" " + a[o.i] + "\n")
			case '-':
				out.WriteString("-" + a[o.i] + "\n")
			case '+':
				out.WriteString("+" + b[o.j] + "\n")
			}
		}
		k = end
	}
	return out.String()
}
