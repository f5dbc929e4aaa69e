package profile

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// phase says when a recipe may run.
type phase uint8

const (
	softwareTime phase = 1 << iota
	instanceTime
)

func (p phase) String() string {
	if p == softwareTime {
		return "software"
	}
	return "instance"
}

// recipe is one built-in recipe.
type recipe struct {
	name   string
	phases phase
	// options the recipe understands; "x*" accepts every option starting
	// with x. anyOption accepts every option (publish, mkdirectory…).
	options   []string
	anyOption bool
	// raw options are not substituted by the runner: the recipe does it
	// itself (word by word, per shared instance, only the chosen type…).
	raw    []string
	rawAll bool
	// defaults sets the options the recipe computes when the profile does
	// not (location…), before the others are substituted, so "${:location}"
	// works inside the part.
	defaults func(r *runner, pt *part)
	install  func(ctx context.Context, r *runner, pt *part) error
}

func (rc *recipe) knows(option string) bool {
	if rc.anyOption {
		return true
	}
	for _, o := range rc.options {
		if o == option || strings.HasSuffix(o, "*") && strings.HasPrefix(option, o[:len(o)-1]) {
			return true
		}
	}
	return false
}

func (rc *recipe) isRaw(option string) bool { return rc.rawAll || slices.Contains(rc.raw, option) }

// recipeAliases maps the names SlapOS profiles use to the built-in recipes
// that take the same options.
var recipeAliases = map[string]string{
	"slapos.recipe.cmmi":                           "cmmi",
	"slapos.recipe.build:download":                 "download",
	"slapos.recipe.build:download-unpacked":        "download",
	"slapos.recipe.template":                       "template",
	"slapos.cookbook:mkdirectory":                  "mkdirectory",
	"slapos.cookbook:wrapper":                      "wrapper",
	"slapos.cookbook:publish":                      "publish",
	"slapos.cookbook:request":                      "request",
	"slapos.cookbook:requestoptional":              "request",
	"slapos.cookbook:switch-softwaretype":          "switch-softwaretype",
	"slapos.cookbook:slapconfiguration":            "slapconfiguration",
	"slapos.cookbook:slapconfiguration.serialised": "slapconfiguration",
}

var recipes map[string]*recipe

func init() {
	recipes = map[string]*recipe{}
	for _, rc := range []*recipe{
		downloadRecipe, cmmiRecipe, shellRecipe, templateRecipe, mkdirectoryRecipe,
		wrapperRecipe, serviceRecipe, promiseRecipe, publishRecipe, publishSharedRecipe,
		requestRecipe, slapconfigurationRecipe, switchSoftwareTypeRecipe, bridgeRecipe,
	} {
		recipes[rc.name] = rc
	}
}

func recipeNames(ph phase) []string {
	var names []string
	for n, rc := range recipes {
		if rc.phases&ph != 0 {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// part is a section being installed.
type part struct {
	name string
	sec  *section
	opts map[string]string // substituted options (raw ones excluded)
}

// errf builds an error located at option (or at the section when the part
// has no such option).
func (pt *part) errf(option string, kind error, format string, args ...any) error {
	e := &Error{File: pt.sec.file, Line: pt.sec.line, Section: pt.name, Option: option, Err: errorf(kind, format, args...)}
	if o := pt.sec.opts[option]; o != nil && o.File != "" {
		e.File, e.Line = o.File, o.Line
	}
	return e
}

// wrap locates an error of the recipe's work at option.
func (pt *part) wrap(option string, err error) error {
	if _, ok := err.(*Error); ok {
		return err
	}
	e := &Error{File: pt.sec.file, Line: pt.sec.line, Section: pt.name, Option: option, Err: err}
	if o := pt.sec.opts[option]; o != nil && o.File != "" {
		e.File, e.Line = o.File, o.Line
	}
	return e
}

func (pt *part) has(option string) bool { _, ok := pt.opts[option]; return ok }

// runner installs the parts of one profile, in order, pulling in the
// sections with a recipe that they reference.
type runner struct {
	ctx     context.Context
	phase   phase
	p       *Profile
	ev      *evaluator
	log     io.Writer
	done    map[string]bool
	running []string
	order   []*part // installed parts, in order

	sw *softwareRun // software time
	in *instanceRun // instance time
}

func newRunner(ctx context.Context, ph phase, p *Profile, log io.Writer) *runner {
	r := &runner{ctx: ctx, phase: ph, p: p, ev: newEvaluator(p), log: log, done: map[string]bool{}}
	r.ev.enter = r.enter
	return r
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, format+"\n", args...)
}

// set sets an option computed by the recipe of pt (never substituted).
func (r *runner) set(pt *part, option, value string) {
	pt.sec.opts[option] = &Option{Value: value, literal: true}
	r.ev.forget(pt.name, option)
	if pt.opts != nil {
		pt.opts[option] = value
	}
}

// enter installs a section with a recipe before one of its options is read.
func (r *runner) enter(name string) error {
	if r.done[name] || slices.Contains(r.running, name) {
		return nil
	}
	s := r.p.sections[name]
	if s == nil || s.opts["recipe"] == nil {
		return nil
	}
	return r.install(name, site{})
}

// runParts installs the parts listed in [buildout] parts.
func (r *runner) runParts() error {
	o := r.p.sections["buildout"]
	if o == nil || o.opts["parts"] == nil {
		return &Error{File: r.p.Location, Section: "buildout", Option: "parts",
			Err: errorf(ErrMissingOption, "the profile lists no parts: add [buildout] parts = <section> …")}
	}
	v, err := r.ev.value("buildout", "parts", optionSite("buildout", "parts", o.opts["parts"]))
	if err != nil {
		return err
	}
	return r.installAll(list(v), optionSite("buildout", "parts", o.opts["parts"]))
}

func (r *runner) installAll(names []string, from site) error {
	for _, name := range names {
		if err := r.install(name, from); err != nil {
			return err
		}
	}
	return nil
}

// install runs the recipe of section name once.
func (r *runner) install(name string, from site) error {
	if r.done[name] {
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if slices.Contains(r.running, name) {
		return from.err(ErrSubstitutionCycle, "part [%s] needs itself: %s → %s", name, strings.Join(r.running, " → "), name)
	}
	s := r.p.sections[name]
	if s == nil {
		return from.err(ErrUnknownSection, "part [%s] is listed but no section [%s] exists", name, name)
	}
	ro := s.opts["recipe"]
	if ro == nil {
		return &Error{File: s.file, Line: s.line, Section: name, Option: "recipe",
			Err: errorf(ErrMissingOption, "part [%s] has no recipe: add recipe = <one of %s>", name, strings.Join(recipeNames(r.phase), ", "))}
	}
	r.running = append(r.running, name)
	defer func() { r.running = r.running[:len(r.running)-1] }()
	rname, err := r.ev.value(name, "recipe", optionSite(name, "recipe", ro))
	if err != nil {
		return err
	}
	rname = strings.TrimSpace(rname)
	recipeSite := optionSite(name, "recipe", ro)
	recipeSite.line = ro.Line
	if alias, ok := recipeAliases[rname]; ok {
		rname = alias
	}
	rc := recipes[rname]
	if rc == nil {
		return recipeSite.err(ErrUnknownRecipe, "%q: expected one of %s", rname, strings.Join(recipeNames(r.phase), ", "))
	}
	if rc.phases&r.phase == 0 {
		return recipeSite.err(ErrUnknownRecipe, "%q runs at %s time, not in a %s profile: expected one of %s",
			rname, (rc.phases &^ r.phase).String(), r.phase.String(), strings.Join(recipeNames(r.phase), ", "))
	}
	for _, k := range mapKeys(s.opts) {
		o := s.opts[k]
		if o.literal || k == "recipe" || strings.HasPrefix(k, "_") || rc.knows(k) {
			continue
		}
		return &Error{File: o.File, Line: o.Line, Section: name, Option: k,
			Err: errorf(ErrRecipeOption, "recipe %q does not understand option %q: it takes %s (names starting with _ are free for your own use)",
				rname, k, strings.Join(rc.options, ", "))}
	}
	pt := &part{name: name, sec: s, opts: map[string]string{}}
	if rc.defaults != nil {
		rc.defaults(r, pt)
	}
	for _, k := range mapKeys(s.opts) {
		if rc.isRaw(k) {
			continue
		}
		v, err := r.ev.value(name, k, optionSite(name, k, s.opts[k]))
		if err != nil {
			return err
		}
		pt.opts[k] = v
	}
	r.logf("[%s] %s", name, rname)
	if err := rc.install(r.ctx, r, pt); err != nil {
		return pt.wrap("", err)
	}
	r.done[name] = true
	r.order = append(r.order, pt)
	return nil
}

// expandRaw substitutes a raw option of pt (one the runner left alone).
func (r *runner) expandRaw(pt *part, option string) (string, error) {
	o := pt.sec.opts[option]
	if o == nil {
		return "", nil
	}
	if o.literal {
		return o.Value, nil
	}
	return r.ev.expand(o.Value, pt.name, optionSite(pt.name, option, o))
}

// installedCfg renders the installed parts with their options: the record
// of what was built from what (sources, checksums, patches).
func (r *runner) installedCfg(extra map[string]string) []byte {
	f := &File{}
	if len(extra) > 0 {
		s := &FileSection{Name: "buildout"}
		for _, k := range mapKeys(extra) {
			s.Options = append(s.Options, FileOption{Name: k, Value: extra[k]})
		}
		f.Sections = append(f.Sections, s)
	}
	for _, pt := range r.order {
		s := &FileSection{Name: pt.name}
		for _, k := range mapKeys(pt.opts) {
			if k == baseLocationOption || checkName(k) != "" {
				continue
			}
			s.Options = append(s.Options, FileOption{Name: k, Value: strings.Trim(pt.opts[k], spaces)})
		}
		f.Sections = append(f.Sections, s)
	}
	return f.Format()
}
