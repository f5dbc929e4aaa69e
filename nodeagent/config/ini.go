package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// entry is one "key = value" of an INI file, with where it was written.
type entry struct {
	section string
	key     string // lower case
	value   string
	line    int
}

// section is one "[name]" of an INI file and its entries in file order.
type section struct {
	name    string
	line    int
	entries []entry
}

// parseINI reads the configparser subset slapos.cfg uses (see doc.go).
// file only names the input in errors.
func parseINI(file string, data []byte) ([]section, error) {
	var (
		secs []section
		cur  *section
		last *entry // entry that continuation lines extend
		seen = map[string]int{}
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), " \t\r")
		if n == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff")
		}
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" {
			last = nil
			continue
		}
		if trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if last == nil {
				return nil, fmt.Errorf("%w: %s:%d: indented line %q continues no value", ErrConfig, file, n, trimmed)
			}
			if last.value == "" {
				last.value = trimmed
			} else {
				last.value += "\n" + trimmed
			}
			continue
		}
		if trimmed[0] == '[' {
			if !strings.HasSuffix(trimmed, "]") {
				return nil, fmt.Errorf("%w: %s:%d: section header %q has no closing ']'", ErrConfig, file, n, trimmed)
			}
			name := strings.TrimSpace(trimmed[1 : len(trimmed)-1])
			if name == "" {
				return nil, fmt.Errorf("%w: %s:%d: empty section name", ErrConfig, file, n)
			}
			if prev, dup := seen[name]; dup {
				return nil, fmt.Errorf("%w: %s:%d: section [%s] given twice (first at line %d)", ErrConfig, file, n, name, prev)
			}
			seen[name] = n
			secs = append(secs, section{name: name, line: n})
			cur, last = &secs[len(secs)-1], nil
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%w: %s:%d: %q is outside any section: expected a [section] header first", ErrConfig, file, n, trimmed)
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%w: %s:%d: [%s] line %q: expected key = value", ErrConfig, file, n, cur.name, trimmed)
		}
		key := strings.ToLower(strings.TrimSpace(trimmed[:i]))
		for _, e := range cur.entries {
			if e.key == key {
				return nil, fmt.Errorf("%w: %s:%d: [%s] %s given twice (first at line %d)", ErrConfig, file, n, cur.name, key, e.line)
			}
		}
		cur.entries = append(cur.entries, entry{section: cur.name, key: key, value: strings.TrimSpace(trimmed[i+1:]), line: n})
		last = &cur.entries[len(cur.entries)-1]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %w", ErrConfig, file, n+1, err)
	}
	return secs, nil
}
