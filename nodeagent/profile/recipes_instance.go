package profile

import (
	"context"
	"encoding/json"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

var wrapperRecipe = &recipe{
	name:    "wrapper",
	phases:  instanceTime,
	options: []string{"command-line", "name", "wrapper-path", "environment"},
	raw:     []string{"command-line"},
	install: func(ctx context.Context, r *runner, pt *part) error { return installWrapper(r, pt, RunDir) },
}

var serviceRecipe = &recipe{
	name:    "service",
	phases:  instanceTime,
	options: []string{"command-line", "name", "wrapper-path", "environment"},
	raw:     []string{"command-line"},
	install: func(ctx context.Context, r *runner, pt *part) error { return installWrapper(r, pt, ServiceDir) },
}

var promiseRecipe = &recipe{
	name:   "promise",
	phases: instanceTime,
	options: []string{"kind", "name", "host", "hostname", "port", "url", "expect-status", "timeout",
		"command-line"},
	raw:     []string{"command-line"},
	install: installPromise,
}

var publishRecipe = &recipe{
	name:      "publish",
	phases:    instanceTime,
	anyOption: true,
	install:   installPublish,
}

var publishSharedRecipe = &recipe{
	name:      "publish-shared",
	phases:    instanceTime,
	anyOption: true,
	rawAll:    true,
	install:   installPublishShared,
}

var requestRecipe = &recipe{
	name:   "request",
	phases: instanceTime,
	options: []string{"name", "software-url", "software-type", "config-*", "sla-*", "shared", "state", "return",
		// accepted for SlapOS profiles; the node agent's own identity is used
		"server-url", "key-file", "cert-file", "computer-id", "partition-id"},
	install: installRequest,
}

var slapconfigurationRecipe = &recipe{
	name:   "slapconfiguration",
	phases: instanceTime,
	options: []string{"configuration.*",
		// accepted for SlapOS profiles; the values come from the node
		"computer", "partition", "url", "key", "cert", "storage-home"},
	install: installSlapconfiguration,
}

var switchSoftwareTypeRecipe = &recipe{
	name:      "switch-softwaretype",
	phases:    instanceTime,
	anyOption: true,
	rawAll:    true,
	install:   installSwitch,
}

// commandWords splits a raw command-line option into words, then
// substitutes each word on its own: a substituted value is always one
// argument, whatever blanks or quotes it holds.
func (r *runner) commandWords(pt *part, option string) ([]string, error) {
	o := pt.sec.opts[option]
	if o == nil {
		return nil, nil
	}
	if o.literal {
		return strings.Fields(o.Value), nil
	}
	words, err := splitWords(o.Value)
	if err != nil {
		return nil, pt.errf(option, ErrSyntax, "%v", err)
	}
	at := optionSite(pt.name, option, o)
	out := make([]string, 0, len(words))
	for _, w := range words {
		ws := at
		ws.line += strings.Count(o.Value[:w.offset], "\n")
		v, err := r.ev.expand(w.text, pt.name, ws)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func scriptHeader(section string) string {
	return "#!/bin/sh\n# Written by slapgo from [" + section + "] at each deployment: change the profile, not this file.\n"
}

func joinQuoted(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// scriptName checks a name used as a file name in etc/….
func scriptName(pt *part) (string, error) {
	name := strings.TrimSpace(pt.opts["name"])
	if name == "" {
		name = pt.name
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", pt.errf("name", ErrBadValue, "%q cannot be a file name", name)
	}
	return name, nil
}

// scriptPath is wrapper-path, or PartitionDir/<dir>/<name>.
func (r *runner) scriptPath(pt *part, dir string) (string, error) {
	if p := strings.TrimSpace(pt.opts["wrapper-path"]); p != "" {
		return r.outputRel(pt, "wrapper-path", p)
	}
	name, err := scriptName(pt)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

func installWrapper(r *runner, pt *part, dir string) error {
	words, err := r.commandWords(pt, "command-line")
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return pt.errf("command-line", ErrMissingOption, "recipe needs command-line = <program> <arguments…>")
	}
	env, err := environment(pt)
	if err != nil {
		return err
	}
	rel, err := r.scriptPath(pt, dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(scriptHeader(pt.name))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		b.WriteString("export " + strings.TrimSpace(k) + "=" + shellQuote(v) + "\n")
	}
	b.WriteString("exec " + joinQuoted(words) + "\n")
	t := r.in.tree
	if err := t.writeFile(rel, []byte(b.String()), 0o755); err != nil {
		return pt.wrap("wrapper-path", err)
	}
	r.set(pt, "wrapper-path", t.abs(rel))
	if d := filepath.Dir(rel); d == ServiceDir || d == RunDir {
		r.in.dep.Services = append(r.in.dep.Services, t.abs(rel))
	}
	return nil
}

// Promise kinds.
const (
	PromisePort    = "check-port-listening"
	PromiseHTTP    = "check-url-available"
	PromiseCommand = "command"
)

func installPromise(ctx context.Context, r *runner, pt *part) error {
	kind := strings.TrimSpace(pt.opts["kind"])
	switch {
	case kind == "port":
		kind = PromisePort
	case kind == "http":
		kind = PromiseHTTP
	case kind != "":
	case pt.has("port"):
		kind = PromisePort
	case pt.has("url"):
		kind = PromiseHTTP
	case pt.sec.opts["command-line"] != nil:
		kind = PromiseCommand
	}
	timeout := strings.TrimSpace(pt.opts["timeout"])
	if timeout == "" {
		timeout = "5s"
	}
	if d, err := time.ParseDuration(timeout); err != nil || d <= 0 {
		return pt.errf("timeout", ErrBadValue, "%q: expected a duration such as 5s", timeout)
	}
	var argv []string
	switch kind {
	case PromisePort:
		host := strings.TrimSpace(pt.opts["host"])
		if host == "" {
			host = strings.TrimSpace(pt.opts["hostname"])
		}
		if host == "" {
			return pt.errf("host", ErrMissingOption, "a %s promise needs host = <address>", kind)
		}
		port := strings.TrimSpace(pt.opts["port"])
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return pt.errf("port", ErrBadValue, "%q: expected a TCP port number (1-65535)", port)
		}
		argv = []string{r.in.slapgo, "promise", "port", host, port, "--timeout", timeout}
	case PromiseHTTP:
		u := strings.TrimSpace(pt.opts["url"])
		if !isHTTP(u) {
			return pt.errf("url", ErrBadValue, "%q: a %s promise needs an http:// or https:// URL", u, kind)
		}
		status := strings.TrimSpace(pt.opts["expect-status"])
		if status == "" {
			status = "200"
		}
		if n, err := strconv.Atoi(status); err != nil || n < 100 || n > 599 {
			return pt.errf("expect-status", ErrBadValue, "%q: expected an HTTP status code", status)
		}
		argv = []string{r.in.slapgo, "promise", "http", u, "--expect-status", status, "--timeout", timeout}
	case PromiseCommand:
		words, err := r.commandWords(pt, "command-line")
		if err != nil {
			return err
		}
		if len(words) == 0 {
			return pt.errf("command-line", ErrMissingOption, "a command promise needs command-line = <program> <arguments…>")
		}
		argv = words
	default:
		return pt.errf("kind", ErrBadValue, "%q: expected %s (host, port), %s (url, expect-status) or %s (command-line)",
			kind, PromisePort, PromiseHTTP, PromiseCommand)
	}
	name, err := scriptName(pt)
	if err != nil {
		return err
	}
	rel := filepath.Join(PromiseDir, name)
	t := r.in.tree
	script := scriptHeader(pt.name) + "exec " + joinQuoted(argv) + "\n"
	if err := t.writeFile(rel, []byte(script), 0o755); err != nil {
		return pt.wrap("name", err)
	}
	r.set(pt, "path", t.abs(rel))
	r.in.dep.Promises = append(r.in.dep.Promises, t.abs(rel))
	return nil
}

// published lists the options of pt that are connection parameters.
func published(pt *part) []string {
	var keys []string
	for _, k := range mapKeys(pt.sec.opts) {
		if k == "recipe" || strings.HasPrefix(k, "_") || pt.sec.opts[k].literal {
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

func installPublish(ctx context.Context, r *runner, pt *part) error {
	for _, k := range published(pt) {
		r.in.dep.Publish[k] = pt.opts[k]
	}
	return nil
}

// installPublishShared publishes connection parameters for shared
// instances. With "-slave-reference" (or "shared-guid") it publishes for
// that one; without, for every hosted shared instance, substituting the
// options once per shared instance with a section [shared] holding guid,
// slave-reference, title, software-type, state and configuration.<k>.
func installPublishShared(ctx context.Context, r *runner, pt *part) error {
	var ref string
	refOption := ""
	for _, k := range []string{"-slave-reference", "shared-guid"} {
		if pt.sec.opts[k] != nil {
			v, err := r.expandRaw(pt, k)
			if err != nil {
				return err
			}
			ref, refOption = strings.TrimSpace(v), k
		}
	}
	keys := slices.DeleteFunc(published(pt), func(k string) bool { return k == "-slave-reference" || k == "shared-guid" })
	publish := func(guid string) error {
		m := r.in.dep.PublishShared[guid]
		if m == nil {
			m = map[string]string{}
			r.in.dep.PublishShared[guid] = m
		}
		for _, k := range keys {
			v, err := r.expandRaw(pt, k)
			if err != nil {
				return err
			}
			m[k] = v
		}
		return nil
	}
	if refOption != "" {
		if ref == "" {
			return pt.errf(refOption, ErrBadValue, "empty shared instance reference")
		}
		return publish(ref)
	}
	shared := slices.Clone(r.in.ic.SharedInstances)
	slices.SortFunc(shared, func(a, b model.SharedView) int { return strings.Compare(a.GUID, b.GUID) })
	defer func() { r.ev.overlay = nil }()
	for _, s := range shared {
		if s.State == model.StateDestroyed {
			continue
		}
		ov := map[string]string{
			"guid": s.GUID, "slave-reference": s.GUID, "title": s.Title,
			"software-type": s.SoftwareType, "state": string(s.State),
		}
		for k, v := range s.Parameters {
			ov["configuration."+k] = v
		}
		r.ev.overlay = map[string]map[string]string{"shared": ov}
		if err := publish(s.GUID); err != nil {
			return err
		}
	}
	return nil
}

func installRequest(ctx context.Context, r *runner, pt *part) error {
	ic := r.in.ic
	c := ChildRequest{
		Section:         pt.name,
		Title:           strings.TrimSpace(pt.opts["name"]),
		SoftwareRelease: strings.TrimSpace(pt.opts["software-url"]),
		SoftwareType:    strings.TrimSpace(pt.opts["software-type"]),
		Parameters:      map[string]string{},
		SLA:             map[string]string{},
	}
	if err := model.ValidateTitle(c.Title); err != nil {
		return pt.errf("name", ErrBadValue, "%v", err)
	}
	if c.SoftwareRelease == "" {
		c.SoftwareRelease = ic.SoftwareRelease
	}
	if c.SoftwareType == "" {
		c.SoftwareType = model.DefaultSoftwareType
	}
	for _, k := range mapKeys(pt.opts) {
		switch {
		case strings.HasPrefix(k, "config-"):
			c.Parameters[strings.TrimPrefix(k, "config-")] = pt.opts[k]
		case strings.HasPrefix(k, "sla-"):
			c.SLA[strings.TrimPrefix(k, "sla-")] = pt.opts[k]
		}
	}
	if _, err := model.ParseSLA(c.SLA); err != nil {
		return pt.errf("sla-*", ErrBadValue, "%v", err)
	}
	shared, err := parseBool(pt, "shared", false)
	if err != nil {
		return err
	}
	c.Shared = shared
	if c.State, err = model.ParseRequestedState(strings.TrimSpace(pt.opts["state"])); err != nil {
		return pt.errf("state", ErrBadValue, "%v", err)
	}
	if ic.Requester == nil {
		return pt.errf("name", ErrRequest, "cannot request %q: the node agent gave no requester", c.Title)
	}
	conn, err := ic.Requester(ctx, c)
	if err != nil {
		return pt.errf("name", ErrRequest, "%q: %v", c.Title, err)
	}
	r.in.dep.Children = append(r.in.dep.Children, c)
	for _, k := range list(pt.opts["return"]) {
		if _, ok := conn[k]; !ok {
			r.set(pt, "connection-"+k, "")
		}
	}
	for k, v := range conn {
		r.set(pt, "connection-"+k, v)
	}
	r.logf("[%s] requested %q (%s, type %s): %d connection parameters", pt.name, c.Title, c.SoftwareRelease, c.SoftwareType, len(conn))
	return nil
}

// installSlapconfiguration sets the options describing the partition:
// computer-id, partition-id, instance-guid, instance-title,
// root-instance-title, slap-software-type, software-release-url,
// requested-state, ip-list ("iface address" lines), ipv4 and ipv6 (address
// lines), ipv4-random and ipv6-random (the first of each family),
// configuration.<k> for every parameter (options configuration.<k> of the
// section are defaults) and slave-instance-list (JSON).
func installSlapconfiguration(ctx context.Context, r *runner, pt *part) error {
	ic := r.in.ic
	st := ic.SoftwareType
	if st == "" {
		st = model.DefaultSoftwareType
	}
	set := map[string]string{
		"computer-id":          ic.ComputerID,
		"partition-id":         ic.PartitionID,
		"instance-guid":        ic.InstanceGUID,
		"instance-title":       ic.Title,
		"root-instance-title":  ic.RootTitle,
		"slap-software-type":   st,
		"software-release-url": ic.SoftwareRelease,
		"requested-state":      string(ic.RequestedState),
	}
	var ipList, v4, v6 []string
	for _, a := range ic.Addresses {
		addr, _, _ := strings.Cut(a.Addr, "/")
		ip := net.ParseIP(addr)
		if ip == nil {
			return pt.errf("", ErrBadValue, "partition address %q is not an IP address", a.Addr)
		}
		ipList = append(ipList, strings.TrimSpace(a.Iface+" "+addr))
		if ip.To4() != nil {
			v4 = append(v4, addr)
		} else {
			v6 = append(v6, addr)
		}
	}
	set["ip-list"] = strings.Join(ipList, "\n")
	set["ipv4"] = strings.Join(v4, "\n")
	set["ipv6"] = strings.Join(v6, "\n")
	set["ipv4-random"], set["ipv6-random"] = "", ""
	if len(v4) > 0 {
		set["ipv4-random"] = v4[0]
	}
	if len(v6) > 0 {
		set["ipv6-random"] = v6[0]
	}
	for k, v := range ic.Parameters {
		set["configuration."+k] = v
	}
	shared := slices.Clone(ic.SharedInstances)
	slices.SortFunc(shared, func(a, b model.SharedView) int { return strings.Compare(a.GUID, b.GUID) })
	list := make([]map[string]string, 0, len(shared))
	for _, s := range shared {
		m := maps.Clone(s.Parameters)
		if m == nil {
			m = map[string]string{}
		}
		m["slave_reference"] = s.GUID
		m["slave_title"] = s.Title
		m["slap_software_type"] = s.SoftwareType
		list = append(list, m)
	}
	js, err := json.Marshal(list)
	if err != nil {
		return err
	}
	set["slave-instance-list"] = string(js)
	for _, k := range mapKeys(set) {
		r.set(pt, k, set[k])
	}
	return nil
}

var sectionOptionRef = regexp.MustCompile(`^[^\s/:]+:[^\s/:]+$`)

// installSwitch runs what the option named by the software type points
// at: a section (its parts option lists the parts to install, or it is a
// part itself), "section:option" naming a profile file, or a profile file
// (path or URL, relative to the file that set the option) layered over the
// current profile, whose [buildout] parts are then installed.
func installSwitch(ctx context.Context, r *runner, pt *part) error {
	st := r.in.ic.SoftwareType
	if st == "" {
		st = model.DefaultSoftwareType
	}
	o := pt.sec.opts[st]
	if o == nil || st == "recipe" || strings.HasPrefix(st, "_") {
		return pt.errf("", ErrSoftwareType, "software type %q is not offered: [%s] offers %s", st, pt.name, listNames(published(pt)))
	}
	v, err := r.expandRaw(pt, st)
	if err != nil {
		return err
	}
	target := strings.TrimSpace(v)
	from := optionSite(pt.name, st, o)
	if s := r.p.sections[target]; s != nil {
		if s.opts["recipe"] != nil {
			return r.install(target, from)
		}
		po := s.opts["parts"]
		if po == nil {
			return pt.errf(st, ErrMissingOption, "section [%s] chosen for software type %q has neither recipe nor parts", target, st)
		}
		parts, err := r.ev.value(target, "parts", optionSite(target, "parts", po))
		if err != nil {
			return err
		}
		return r.installAll(list(parts), optionSite(target, "parts", po))
	}
	if sectionOptionRef.MatchString(target) {
		sec, opt, _ := strings.Cut(target, ":")
		if r.p.sections[sec] != nil {
			if target, err = r.ev.value(sec, opt, from); err != nil {
				return err
			}
			target = strings.TrimSpace(target)
		}
	}
	if !hasScheme(target) && !filepath.IsAbs(target) {
		if o.File == "" {
			return pt.errf(st, ErrBadValue, "%q is neither a section nor an absolute profile location", target)
		}
		if target, err = resolve(o.File, target); err != nil {
			return pt.errf(st, ErrFetch, "%v", err)
		}
	}
	if r.in.depth >= 4 {
		return pt.errf(st, ErrSubstitutionCycle, "switch-softwaretype nested more than 4 times (last: %s)", target)
	}
	q, err := r.p.layer(ctx, target, r.in.fetch)
	if err != nil {
		return err
	}
	if po := q.sections["buildout"].opts["parts"]; po == nil || slices.Contains(r.p.Files, po.File) {
		return pt.errf(st, ErrMissingOption, "profile %s chosen for software type %q must set [buildout] parts itself", target, st)
	}
	r.logf("[%s] software type %q: %s", pt.name, st, target)
	sub := newRunner(ctx, instanceTime, q, r.log)
	sub.in = r.in
	r.in.depth++
	defer func() { r.in.depth-- }()
	if err := sub.runParts(); err != nil {
		return err
	}
	r.order = append(r.order, sub.order...)
	return sub.destroyHook()
}
