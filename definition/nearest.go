package definition

// Nearest is the name in names closest to name by edit distance, if it is close enough to
// be what was meant ("compnies" for "companies"): for "did you mean" in messages. It is
// "" when nothing is close.
func Nearest(name string, names []string) string {
	best, bestD := "", len(name)/3+2
	for _, n := range names {
		if n == name {
			continue
		}
		if d := distance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
