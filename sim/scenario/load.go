package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrScenario is wrapped by every error of Load.
var ErrScenario = errors.New("scenario: invalid scenario")

// FieldError is one problem with one field of a scenario. File, Line and
// Path say where; Set names the --set override the value came from, if any.
type FieldError struct {
	File string
	Line int
	Path string
	Set  string
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	switch {
	case e.Set != "":
		fmt.Fprintf(&b, ": --set %s", e.Set)
	case e.Line > 0:
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes every FieldError an ErrScenario.
func (e *FieldError) Unwrap() error { return ErrScenario }

// Load reads the scenario file at path, applies the overrides ("key=value",
// see Override) in order, and returns the checked scenario with its
// defaults filled in.
func Load(path string, overrides []string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrScenario, err)
	}
	return Parse(path, data, overrides)
}

// Parse is Load on data already read; file names the data in errors and
// gives the default name.
func Parse(file string, data []byte, overrides []string) (*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &FieldError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &FieldError{File: file, Line: root.Line, Msg: "expected a mapping of scenario fields at the top level"}
	}
	w := &walker{file: file, origin: map[*yaml.Node]string{}, lines: map[string]int{}, sets: map[string]string{}}
	variants := takeVariants(root)
	for _, o := range overrides {
		if name, ok := strings.CutPrefix(o, "variant="); ok {
			if err := w.variant(root, variants, strings.TrimSpace(name), o); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.override(root, o); err != nil {
			return nil, err
		}
	}
	if err := w.walk(root, reflect.TypeFor[Scenario](), ""); err != nil {
		return nil, err
	}
	// The walk above reported every unknown field with its path and line;
	// the decode keeps KnownFields on as a second guard.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&doc); err != nil {
		return nil, &FieldError{File: file, Msg: err.Error()}
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, &FieldError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	sc.applyDefaults(name)
	v := &validator{w: w}
	sc.validate(v)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return &sc, nil
}

// Canonical is the scenario's canonical JSON: struct fields in declaration
// order, map keys sorted, durations as Go duration strings.
func (s *Scenario) Canonical() string {
	b, err := json.Marshal(s)
	if err != nil { // only plain data: cannot fail
		panic(err)
	}
	return string(b)
}

// retired are the fields scenarios no longer take, by path, with what
// replaces them.
var retired = map[string]string{
	"agent.poll_jitter": `field "poll_jitter" is retired: the instance passes follow the node's ` +
		"Schedule (core/agent, as in the production agent), which waits up to a tenth of each delay " +
		"longer; remove it (agent.poll_interval sets the period, and with it the jitter)",
}

// walker checks a YAML tree against the Go types and remembers where each
// field path was written.
type walker struct {
	file   string
	origin map[*yaml.Node]string // node -> the override that set it
	lines  map[string]int        // path -> line
	sets   map[string]string     // path -> override
}

func (w *walker) errAt(n *yaml.Node, path, format string, args ...any) *FieldError {
	e := &FieldError{File: w.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		if o, ok := w.origin[n]; ok {
			e.Set = o
		} else {
			e.Line = n.Line
		}
	}
	return e
}

// where returns the line of path, or of its nearest written parent, and the
// override that set it.
func (w *walker) where(path string) (int, string) {
	for p := path; ; {
		if s, ok := w.sets[p]; ok {
			return 0, s
		}
		if l, ok := w.lines[p]; ok {
			return l, ""
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return 0, ""
		}
		p = p[:i]
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// yamlFields lists a struct's fields by their yaml name.
func yamlFields(t reflect.Type) ([]string, map[string]reflect.StructField) {
	var names []string
	byName := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
		byName[name] = f
	}
	return names, byName
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		if o, ok := w.origin[n]; ok {
			w.sets[path] = o
		} else {
			w.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // an empty field keeps its zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				e := w.errAt(n, path, "%s", fe.Msg)
				if fe.Line > 0 && e.Set == "" {
					e.Line = fe.Line
				}
				return e
			}
			return w.errAt(n, path, "%s", cleanYAMLError(err))
		}
		if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode {
			return nil
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return w.errAt(n, path, "expected a mapping of fields")
		}
		names, byName := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := byName[k.Value]
			if why, gone := retired[join(path, k.Value)]; !ok && gone {
				return w.errAt(k, join(path, k.Value), "%s", why)
			}
			if !ok {
				where := "the top level"
				if path != "" {
					where = path
				}
				return w.errAt(k, join(path, k.Value), "field %q is unknown in %s: expected one of %s",
					k.Value, where, strings.Join(names, ", "))
			}
			if err := w.walk(v, f.Type, join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return w.errAt(n, path, "expected a mapping of key: value")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return w.errAt(k, path, "expected scalar keys")
			}
			if err := w.walk(v, t.Elem(), join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.errAt(n, path, "expected a list")
		}
		for i, e := range n.Content {
			if err := w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return w.errAt(n, path, "expected a single value (%s)", kindWord(t))
	}
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		return w.errAt(n, path, "%q is not %s", n.Value, kindWord(t))
	}
	if k := t.Kind(); k == reflect.Float64 || k == reflect.Float32 {
		if f := v.Elem().Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return w.errAt(n, path, "%q is not a finite number", n.Value)
		}
	}
	return nil
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n  ")
	return s
}

// Override applies one "key=value" to a YAML tree. The key is a field path
// as errors print it: "duration", "nodes[0].count" (or "nodes.0.count"),
// "workload.diurnal.amplitude", "nodes[1].prices.hosting". The value is
// YAML ("1000", "2h", "[a, b]", "{dist: exponential, mean: 1h}"). Missing
// mapping fields are created; list entries must exist.
func (w *walker) override(root *yaml.Node, o string) error {
	key, val, ok := strings.Cut(o, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return &FieldError{File: w.file, Set: o, Msg: "expected key=value, e.g. nodes[0].count=1000"}
	}
	segs, err := splitPath(key)
	if err != nil {
		return &FieldError{File: w.file, Set: o, Msg: err.Error()}
	}
	var vdoc yaml.Node
	if err := yaml.Unmarshal([]byte(val), &vdoc); err != nil {
		return &FieldError{File: w.file, Set: o, Msg: "value is not valid YAML: " + cleanYAMLError(err)}
	}
	value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	if len(vdoc.Content) > 0 {
		value = vdoc.Content[0]
	}
	w.mark(value, o)
	cur := root
	for i := 0; i < len(segs); i++ {
		seg, last := segs[i], i == len(segs)-1
		switch cur.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for j := 0; j+1 < len(cur.Content); j += 2 {
				if cur.Content[j].Value == seg {
					if last {
						cur.Content[j+1] = value
					}
					next = cur.Content[j+1]
				}
			}
			if next == nil {
				k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}
				w.mark(k, o)
				next = value
				if !last {
					next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
					w.mark(next, o)
				}
				cur.Content = append(cur.Content, k, next)
			}
			cur = next
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= len(cur.Content) {
				return &FieldError{File: w.file, Set: o, Path: strings.Join(segs[:i], "."),
					Msg: fmt.Sprintf("index %q: the list has %d entries (0 to %d)", seg, len(cur.Content), len(cur.Content)-1)}
			}
			if last {
				cur.Content[idx] = value
			}
			cur = cur.Content[idx]
		default:
			if cur.Tag == "!!null" {
				// An empty field ("storms:") becomes a mapping to fill.
				cur.Kind, cur.Tag, cur.Value = yaml.MappingNode, "!!map", ""
				i-- // visit this segment again, on the mapping
				continue
			}
			return &FieldError{File: w.file, Set: o, Path: strings.Join(segs[:i], "."),
				Msg: fmt.Sprintf("%q is a single value: it has no field %q", strings.Join(segs[:i], "."), seg)}
		}
	}
	return nil
}

func (w *walker) mark(n *yaml.Node, o string) {
	w.origin[n] = o
	for _, c := range n.Content {
		w.mark(c, o)
	}
}

// splitPath turns "nodes[0].count" or "nodes.0.count" into its segments.
func splitPath(key string) ([]string, error) {
	var segs []string
	for part := range strings.SplitSeq(key, ".") {
		for part != "" {
			name, rest, hasIdx := strings.Cut(part, "[")
			if name != "" {
				segs = append(segs, name)
			}
			if !hasIdx {
				break
			}
			idx, after, ok := strings.Cut(rest, "]")
			if !ok || idx == "" {
				return nil, fmt.Errorf("key %q: unbalanced [ ]", key)
			}
			segs = append(segs, idx)
			part = after
		}
	}
	if len(segs) == 0 || slices.Contains(segs, "") {
		return nil, fmt.Errorf("key %q is empty", key)
	}
	return segs, nil
}

// takeVariants removes the top-level "variants" mapping from root and
// returns it (nil when absent). A variant is a named set of overrides,
// "field path: value", applied by the override variant=NAME in the order
// written, where it stands among the other overrides: a sweep compares
// named regimes with --param variant=a,b.
func takeVariants(root *yaml.Node) *yaml.Node {
	for j := 0; j+1 < len(root.Content); j += 2 {
		if root.Content[j].Value == "variants" {
			v := root.Content[j+1]
			root.Content = append(root.Content[:j], root.Content[j+2:]...)
			return v
		}
	}
	return nil
}

// variant applies the overrides of the named variant.
func (w *walker) variant(root, variants *yaml.Node, name, o string) error {
	var names []string
	if variants != nil && variants.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(variants.Content); j += 2 {
			names = append(names, variants.Content[j].Value)
			if variants.Content[j].Value != name {
				continue
			}
			body := variants.Content[j+1]
			if body.Kind != yaml.MappingNode {
				return &FieldError{File: w.file, Line: body.Line, Path: "variants." + name,
					Msg: "expected a mapping of field paths to values, e.g. master.provisioning_delay: 15m"}
			}
			for k := 0; k+1 < len(body.Content); k += 2 {
				text, err := yaml.Marshal(body.Content[k+1])
				if err != nil {
					return &FieldError{File: w.file, Line: body.Content[k].Line, Path: "variants." + name, Msg: err.Error()}
				}
				if err := w.override(root, body.Content[k].Value+"="+string(text)); err != nil {
					var fe *FieldError
					if errors.As(err, &fe) {
						fe.Set = o + " (" + fe.Set + ")"
					}
					return err
				}
			}
			return nil
		}
	}
	if len(names) == 0 {
		return &FieldError{File: w.file, Set: o, Msg: "the scenario has no variants"}
	}
	return &FieldError{File: w.file, Set: o, Msg: fmt.Sprintf("variant %q is unknown: expected one of %s", name, strings.Join(names, ", "))}
}
