package lab

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
