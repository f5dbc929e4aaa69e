package profile

import (
	"maps"
	"slices"
)

// What the tests read of a loaded Profile.

// OptionNames lists the options of a section, sorted (nil if no such section).
func (p *Profile) OptionNames(section string) []string {
	s := p.sections[section]
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.opts))
}

// Raw returns an option as written, before substitution.
func (p *Profile) Raw(section, option string) (Option, bool) {
	s := p.sections[section]
	if s == nil {
		return Option{}, false
	}
	o, ok := s.opts[option]
	if !ok {
		return Option{}, false
	}
	return *o, true
}

// Get returns an option with its substitutions done. It runs no part: a
// reference to an option that only a recipe sets (location, output…) is an
// unknown option here.
func (p *Profile) Get(section, option string) (string, error) {
	ev := newEvaluator(p)
	return ev.value(section, option, site{section: section, option: option})
}
