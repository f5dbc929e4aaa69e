package profile

import (
	"fmt"
	"slices"
	"strings"
)

// site locates a piece of text being substituted, for error messages.
type site struct {
	file    string
	line    int
	section string
	option  string
}

func (s site) err(kind error, format string, args ...any) *Error {
	return &Error{File: s.file, Line: s.line, Section: s.section, Option: s.option, Err: errorf(kind, format, args...)}
}

func optionSite(sec string, name string, o *Option) site {
	line := o.valueLine
	if line == 0 {
		line = o.Line
	}
	return site{file: o.File, line: line, section: sec, option: name}
}

type optKey struct{ sec, opt string }

// evaluator does ${section:option} substitutions over a profile.
//
// Rules: "${section:option}" is replaced by the option's value, itself
// substituted (recursively, cycles are errors); "${:option}" names an option
// of the section being substituted; "$${" is written "${" and its text kept
// as is (for the next stage: instance time, or the software run by the
// instance). Values set by the node or by recipes are never substituted, so
// a parameter holding "${…}" cannot inject a reference.
type evaluator struct {
	p     *Profile
	cache map[optKey]string
	stack []optKey
	// enter is called before an option of a section is read; the part
	// runner installs sections with a recipe there, so that the options
	// their recipe sets exist (buildout's automatic part selection).
	enter func(section string) error
	// overlay holds sections that exist only while one substitution runs
	// (publish-shared's [shared]); nothing is cached while it is set.
	overlay map[string]map[string]string
}

func newEvaluator(p *Profile) *evaluator {
	return &evaluator{p: p, cache: map[optKey]string{}}
}

// forget drops a cached value (an option a recipe just set or changed).
func (e *evaluator) forget(sec, opt string) { delete(e.cache, optKey{sec, opt}) }

// value returns the substituted value of sec:opt; from locates the reference.
func (e *evaluator) value(sec, opt string, from site) (string, error) {
	if ov, ok := e.overlay[sec]; ok {
		v, ok := ov[opt]
		if !ok {
			return "", from.err(ErrUnknownOption, "section [%s] has no option %q (it has %s)",
				sec, opt, listNames(mapKeys(ov)))
		}
		return v, nil
	}
	if e.enter != nil {
		if err := e.enter(sec); err != nil {
			return "", err
		}
	}
	s := e.p.sections[sec]
	if s == nil {
		hint := ""
		if sec == "slap-connection" || sec == "slap-configuration" {
			hint = fmt.Sprintf(" (it exists when an instance is deployed: write $${%s:%s} in the software profile)", sec, opt)
		}
		return "", from.err(ErrUnknownSection, "${%s:%s}: no section [%s]%s", sec, opt, sec, hint)
	}
	o := s.opts[opt]
	if o == nil {
		return "", from.err(ErrUnknownOption, "${%s:%s}: section [%s] has no option %q (it has %s)",
			sec, opt, sec, opt, listNames(mapKeys(s.opts)))
	}
	if o.literal {
		return o.Value, nil
	}
	k := optKey{sec, opt}
	if v, ok := e.cache[k]; ok && e.overlay == nil {
		return v, nil
	}
	if i := slices.Index(e.stack, k); i >= 0 {
		chain := make([]string, 0, len(e.stack)-i+1)
		for _, c := range append(e.stack[i:], k) {
			chain = append(chain, "${"+c.sec+":"+c.opt+"}")
		}
		return "", from.err(ErrSubstitutionCycle, "%s", strings.Join(chain, " → "))
	}
	e.stack = append(e.stack, k)
	v, err := e.expand(o.Value, sec, optionSite(sec, opt, o))
	e.stack = e.stack[:len(e.stack)-1]
	if err != nil {
		return "", err
	}
	if e.overlay == nil {
		e.cache[k] = v
	}
	return v, nil
}

// expand substitutes the references in text; cur is the section "${:x}"
// refers to, at locates the text's first line.
func (e *evaluator) expand(text, cur string, at site) (string, error) {
	if !strings.Contains(text, "$") {
		return text, nil
	}
	var b strings.Builder
	i := 0
	for i < len(text) {
		j := strings.IndexByte(text[i:], '$')
		if j < 0 {
			b.WriteString(text[i:])
			break
		}
		j += i
		b.WriteString(text[i:j])
		switch {
		case strings.HasPrefix(text[j:], "$${"):
			b.WriteString("${")
			i = j + 3
			continue
		case !strings.HasPrefix(text[j:], "${"):
			b.WriteByte('$')
			i = j + 1
			continue
		}
		ref := at
		ref.line = at.line + strings.Count(text[:j], "\n")
		end := strings.IndexByte(text[j:], '}')
		if end < 0 {
			return "", ref.err(ErrSyntax, "%q has no closing '}': write ${section:option}, or $${ to keep a literal ${", clip(text[j:]))
		}
		inner := text[j+2 : j+end]
		sec, opt, ok := strings.Cut(inner, ":")
		if !ok {
			return "", ref.err(ErrSyntax, "${%s} is not a reference: write ${section:option} (${:option} for this section), or $${%s} to keep it as it is", inner, inner)
		}
		if sec != "" && checkName(sec) != "" || checkName(opt) != "" {
			return "", ref.err(ErrSyntax, "${%s} is not a valid reference: section and option names may not contain whitespace or any of []{}:;#$", inner)
		}
		if sec == "" {
			sec = cur
		}
		v, err := e.value(sec, opt, ref)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i = j + end + 1
	}
	return b.String(), nil
}

func clip(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// listNames renders names for an error message, at most 12 of them.
func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 12 {
		return strings.Join(names[:12], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}
