package converge

import "strings"

// ComparePartitionIDs orders partition ids naturally: runs of digits compare
// as numbers, so slappart2 comes before slappart10. Ids equal as numbers but
// spelled differently (slappart01, slappart1) fall back to byte order, which
// keeps the order total. It returns -1, 0 or +1 and allocates nothing.
func ComparePartitionIDs(a, b string) int {
	// Fast path: decide at the first differing byte k, which is what the
	// general walk below does too once it reaches k in step (the common
	// prefix compares equal however it is split into runs).
	n := min(len(a), len(b))
	k := 0
	for k < n && a[k] == b[k] {
		k++
	}
	if k == len(a) && k == len(b) {
		return 0
	}
	da := k < len(a) && isDigit(a[k])
	db := k < len(b) && isDigit(b[k])
	inRun := (da && db) || ((da || db) && k > 0 && isDigit(a[k-1]))
	if !inRun {
		switch {
		case k == len(a):
			return -1
		case k == len(b):
			return 1
		case a[k] < b[k]:
			return -1
		}
		return 1
	}
	s := k
	for s > 0 && isDigit(a[s-1]) {
		s--
	}
	if a[s] == '0' || (s < len(b) && b[s] == '0') {
		return compareNaturalSlow(a, b) // leading zeros: let the walk sort it out
	}
	ea, eb := k, k
	for ea < len(a) && isDigit(a[ea]) {
		ea++
	}
	for eb < len(b) && isDigit(b[eb]) {
		eb++
	}
	switch {
	case ea-s < eb-s:
		return -1
	case ea-s > eb-s:
		return 1
	case a[k] < b[k]:
		return -1
	}
	return 1
}

// compareNaturalSlow is ComparePartitionIDs by a full walk over both ids.
func compareNaturalSlow(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			for i < len(a) && a[i] == '0' {
				i++
			}
			for j < len(b) && b[j] == '0' {
				j++
			}
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			// Without leading zeros, a longer run is a larger number.
			if la, lb := i-si, j-sj; la != lb {
				if la < lb {
					return -1
				}
				return 1
			}
			if c := strings.Compare(a[si:i], b[sj:j]); c != 0 {
				return c
			}
			continue
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
		i++
		j++
	}
	switch ra, rb := len(a)-i, len(b)-j; {
	case ra < rb:
		return -1
	case ra > rb:
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
