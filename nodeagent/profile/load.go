package profile

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// MaxExtendsDepth bounds the nesting of extends (a → b → c …).
const MaxExtendsDepth = 32

// maxProfileSize bounds one profile file.
const maxProfileSize = 8 << 20

// baseLocationOption is the option buildout sets in every section to the
// directory (or directory URL) of the file that defined the section.
const baseLocationOption = "_profile_base_location_"

// Option is one option of a loaded profile: its raw value (substitutions not
// done) and where it was set.
type Option struct {
	Value string
	File  string // "" when set by the node or by a recipe
	Line  int

	valueLine int
	literal   bool // set by the node or a recipe: never substituted
}

type section struct {
	name string
	file string // last file that defined it
	line int
	opts map[string]*Option
}

func (s *section) clone() *section {
	c := *s
	c.opts = make(map[string]*Option, len(s.opts))
	for k, o := range s.opts {
		oc := *o
		c.opts[k] = &oc
	}
	return &c
}

// Profile is a profile with its extends merged: every section with its
// options, each remembering the file and line that set it. Substitutions
// are done on demand (Get), because their values may depend on parts that
// have not run yet.
type Profile struct {
	Location string   // canonical location of the top file
	Files    []string // every file read, in the order they were merged

	sections map[string]*section
}

// Load reads the profile at location (absolute path, file://, http(s)://),
// follows [buildout] extends recursively — relative locations are resolved
// against the file that names them — and merges the files: each extended
// file is merged in the order listed, then the extending file over them.
// "+=" appends lines to and "-=" removes words from the value the extended
// files give. In each file, "${:_profile_base_location_}" is replaced by the
// file's own directory (or directory URL), and every section gets the option
// _profile_base_location_ of the file that defined it last. Sections with
// "<= other" copy the options of the named sections that they do not set.
// A nil fetch means DefaultFetch.
func Load(ctx context.Context, location string, fetch Fetcher) (*Profile, error) {
	l := &loader{ctx: ctx, fetch: fetch, parsed: map[string]*File{}}
	if l.fetch == nil {
		l.fetch = DefaultFetch
	}
	loc, err := canonical(location)
	if err != nil {
		return nil, &Error{File: location, Err: errorf(ErrFetch, "%v", err)}
	}
	secs, err := l.chain(loc, nil)
	if err != nil {
		return nil, err
	}
	p := &Profile{Location: loc, Files: l.files, sections: secs}
	if err := p.applyMacros(); err != nil {
		return nil, err
	}
	return p, nil
}

// layer merges the profile at location (and its extends) over a copy of p:
// the result sees every section of p, overridden or completed by the file.
func (p *Profile) layer(ctx context.Context, location string, fetch Fetcher) (*Profile, error) {
	l := &loader{ctx: ctx, fetch: fetch, parsed: map[string]*File{}}
	loc, err := canonical(location)
	if err != nil {
		return nil, &Error{File: location, Err: errorf(ErrFetch, "%v", err)}
	}
	secs, err := l.chain(loc, nil)
	if err != nil {
		return nil, err
	}
	q := p.clone()
	q.Location = loc
	q.Files = append(slices.Clone(p.Files), l.files...)
	override(q.sections, secs)
	if err := q.applyMacros(); err != nil {
		return nil, err
	}
	return q, nil
}

func (p *Profile) clone() *Profile {
	q := &Profile{Location: p.Location, Files: slices.Clone(p.Files), sections: make(map[string]*section, len(p.sections))}
	for k, s := range p.sections {
		q.sections[k] = s.clone()
	}
	return q
}

// SectionNames lists the sections, sorted.
func (p *Profile) SectionNames() []string { return slices.Sorted(maps.Keys(p.sections)) }

// setLiteral sets an option that is never substituted (node or recipe
// values), creating the section if needed.
func (p *Profile) setLiteral(name, option, value string) {
	s := p.sections[name]
	if s == nil {
		s = &section{name: name, opts: map[string]*Option{}}
		p.sections[name] = s
	}
	s.opts[option] = &Option{Value: value, literal: true}
}

type loader struct {
	ctx    context.Context
	fetch  Fetcher
	parsed map[string]*File
	files  []string
}

type frame struct {
	loc  string
	line int // line of the extends option that leads to the next frame
}

func (l *loader) read(loc string, from *frame) (*File, error) {
	if f, ok := l.parsed[loc]; ok {
		return f, nil
	}
	fail := func(err error) error {
		e := &Error{File: loc, Err: errorf(ErrFetch, "%v", err)}
		if from != nil {
			e = &Error{File: from.loc, Line: from.line, Section: "buildout", Option: "extends",
				Err: errorf(ErrFetch, "%s: %v", loc, err)}
		}
		return e
	}
	rc, err := l.fetch(l.ctx, loc)
	if err != nil {
		return nil, fail(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxProfileSize+1))
	if err != nil {
		return nil, fail(err)
	}
	if len(data) > maxProfileSize {
		return nil, fail(fmt.Errorf("larger than %d bytes", maxProfileSize))
	}
	f, err := Parse(loc, data)
	if err != nil {
		return nil, err
	}
	l.parsed[loc] = f
	return f, nil
}

// chain returns the sections of the file at loc merged over its extends.
func (l *loader) chain(loc string, stack []frame) (map[string]*section, error) {
	for i, fr := range stack {
		if fr.loc == loc {
			names := make([]string, 0, len(stack)-i+1)
			for _, f := range stack[i:] {
				names = append(names, f.loc)
			}
			last := stack[len(stack)-1]
			return nil, &Error{File: last.loc, Line: last.line, Section: "buildout", Option: "extends",
				Err: errorf(ErrExtendsCycle, "%s", strings.Join(append(names, loc), " → "))}
		}
	}
	var from *frame
	if len(stack) > 0 {
		from = &stack[len(stack)-1]
	}
	if len(stack) >= MaxExtendsDepth {
		return nil, &Error{File: from.loc, Line: from.line, Section: "buildout", Option: "extends",
			Err: errorf(ErrExtendsCycle, "extends nested deeper than %d files", MaxExtendsDepth)}
	}
	f, err := l.read(loc, from)
	if err != nil {
		return nil, err
	}
	if err := l.ctx.Err(); err != nil {
		return nil, err
	}
	base := baseLocation(loc)
	merged := map[string]*section{}
	for _, fs := range f.Sections {
		if fs.Name != "buildout" {
			continue
		}
		for _, o := range fs.Options {
			if o.Name != "extends" {
				continue
			}
			if o.Op != OpSet {
				return nil, &Error{File: loc, Line: o.Line, Section: "buildout", Option: "extends",
					Err: errorf(ErrSyntax, "extends takes \"=\", not %q", o.Op.String())}
			}
			value := replaceBaseLocation(o.Value, base)
			if strings.Contains(value, "${") {
				return nil, &Error{File: loc, Line: o.Line, Section: "buildout", Option: "extends",
					Err: errorf(ErrSyntax, "extends may only use ${:_profile_base_location_}, not other substitutions")}
			}
			for _, ref := range strings.Fields(value) {
				target, err := resolve(loc, ref)
				if err != nil {
					return nil, &Error{File: loc, Line: o.Line, Section: "buildout", Option: "extends", Err: errorf(ErrFetch, "%v", err)}
				}
				secs, err := l.chain(target, append(stack, frame{loc: loc, line: o.Line}))
				if err != nil {
					return nil, err
				}
				override(merged, secs)
			}
		}
	}
	applyFile(merged, f, base)
	if !slices.Contains(l.files, loc) {
		l.files = append(l.files, loc)
	}
	return merged, nil
}

// override sets in dst every option of src (later files win).
func override(dst, src map[string]*section) {
	for name, s := range src {
		d := dst[name]
		if d == nil {
			dst[name] = s.clone()
			continue
		}
		d.file, d.line = s.file, s.line
		for k, o := range s.opts {
			oc := *o
			d.opts[k] = &oc
		}
	}
}

// applyFile merges one file's own sections over the sections it extends.
func applyFile(dst map[string]*section, f *File, base string) {
	for _, fs := range f.Sections {
		s := dst[fs.Name]
		if s == nil {
			s = &section{name: fs.Name, opts: map[string]*Option{}}
			dst[fs.Name] = s
		}
		s.file, s.line = f.Location, fs.Line
		s.opts[baseLocationOption] = &Option{Value: base, File: f.Location, Line: fs.Line, valueLine: fs.Line, literal: true}
		for _, o := range fs.Options {
			v := replaceBaseLocation(o.Value, base)
			old := ""
			if prev := s.opts[o.Name]; prev != nil {
				old = prev.Value
			}
			switch o.Op {
			case OpAppend:
				v = appendLines(old, v)
			case OpRemove:
				v = removeWords(old, v)
			}
			s.opts[o.Name] = &Option{Value: v, File: f.Location, Line: o.Line, valueLine: o.ValueLine}
		}
	}
}

// appendLines is "old += add": the lines of add after those of old.
func appendLines(old, add string) string {
	switch {
	case strings.TrimSpace(old) == "":
		return add
	case strings.TrimSpace(add) == "":
		return old
	}
	return old + "\n" + add
}

// removeWords is "old -= del": every whitespace-separated word of del is
// removed from old; lines left empty disappear.
func removeWords(old, del string) string {
	drop := map[string]bool{}
	for _, w := range strings.Fields(del) {
		drop[w] = true
	}
	var out []string
	for _, line := range strings.Split(old, "\n") {
		words := strings.Fields(line)
		kept := words[:0]
		for _, w := range words {
			if !drop[w] {
				kept = append(kept, w)
			}
		}
		if len(kept) == len(words) {
			if strings.TrimSpace(line) != "" {
				out = append(out, line)
			}
			continue
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, " "))
		}
	}
	return strings.Join(out, "\n")
}

// replaceBaseLocation replaces "${:_profile_base_location_}" (not its
// escaped form "$${…}") with base.
func replaceBaseLocation(v, base string) string {
	const token = "${:" + baseLocationOption + "}"
	if !strings.Contains(v, token) {
		return v
	}
	var b strings.Builder
	for {
		i := strings.Index(v, token)
		if i < 0 {
			b.WriteString(v)
			return b.String()
		}
		if i > 0 && v[i-1] == '$' {
			b.WriteString(v[:i+len(token)])
		} else {
			b.WriteString(v[:i])
			b.WriteString(base)
		}
		v = v[i+len(token):]
	}
}

// applyMacros resolves "<= a b": the section gets the options of a, then b,
// that it does not set itself.
func (p *Profile) applyMacros() error {
	done := map[string]bool{}
	var apply func(name string, stack []string) error
	apply = func(name string, stack []string) error {
		if done[name] {
			return nil
		}
		s := p.sections[name]
		o := s.opts["<"]
		if o == nil {
			done[name] = true
			return nil
		}
		if slices.Contains(stack, name) {
			return &Error{File: o.File, Line: o.Line, Section: name, Option: "<",
				Err: errorf(ErrSubstitutionCycle, "macro cycle: %s", strings.Join(append(stack, name), " <= "))}
		}
		inherited := map[string]*Option{}
		for _, m := range strings.Fields(o.Value) {
			ms := p.sections[m]
			if ms == nil {
				return &Error{File: o.File, Line: o.Line, Section: name, Option: "<",
					Err: errorf(ErrUnknownSection, "macro section [%s] does not exist", m)}
			}
			if err := apply(m, append(stack, name)); err != nil {
				return err
			}
			for k, mo := range ms.opts {
				if k != baseLocationOption {
					inherited[k] = mo
				}
			}
		}
		for k, mo := range inherited {
			if _, own := s.opts[k]; !own {
				c := *mo
				s.opts[k] = &c
			}
		}
		delete(s.opts, "<")
		done[name] = true
		return nil
	}
	for _, name := range p.SectionNames() {
		if err := apply(name, nil); err != nil {
			return err
		}
	}
	return nil
}
