package profile

import (
	"errors"
	"strings"
)

// word is one word of a command line and the offset of its first byte.
type word struct {
	text   string
	offset int
}

// splitWords splits a command line into words as a POSIX shell would
// without expanding anything: blanks and newlines separate words, '…'
// quotes literally, "…" quotes with \" \\ \$ \` escapes, a backslash
// outside quotes escapes the next character and a backslash-newline joins
// lines. "$" is kept as it is, so ${section:option} references survive for
// substitution word by word.
func splitWords(s string) ([]word, error) {
	var words []word
	var cur strings.Builder
	in, start := false, 0
	begin := func(i int) {
		if !in {
			in, start = true, i
		}
	}
	end := func() {
		if in {
			words = append(words, word{text: cur.String(), offset: start})
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			end()
		case '\\':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
				continue
			}
			begin(i)
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
		case '\'':
			begin(i)
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			begin(i)
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated \" quote")
			}
		default:
			begin(i)
			cur.WriteByte(c)
		}
	}
	end()
	return words, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// list splits an option value into items separated by blanks or newlines.
func list(v string) []string { return strings.Fields(v) }
