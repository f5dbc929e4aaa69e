package features

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/master/api"
)

// ScenarioInfo is what a Factory knows of the scenario it builds a backend
// for.
type ScenarioInfo struct {
	Name string
	Seed uint64
	Tags []string
}

// Factory builds a fresh backend for one scenario.
type Factory func(ctx context.Context, info ScenarioInfo) (backend.Backend, error)

// Options configure Register.
type Options struct {
	// Backend is the kind of backend the Factory builds: "sim", "live" or
	// "cluster". Scenarios tagged @sim-only or @not-yet-live run on sim
	// only (see SkipReason).
	Backend string
	Factory Factory
	// Outcome, when set, is told how each scenario that ran ended: its
	// name, the backend's trace hash (when it has one), and its error.
	Outcome func(name, traceHash string, err error)
	// Skipped, when set, is told each scenario this backend skips and why
	// (see SkipReason), for the reports (see MarkSkipped).
	Skipped func(name, why string)
	// Lacks maps a tag to a prerequisite this machine lacks for the
	// scenarios so tagged ("@postgres": PostgreSQL is not installed):
	// they are skipped with that reason (a factory fails instead under
	// CI=true, see internal/testenv).
	Lacks map[string]string
}

// SeedOf is a scenario's seed: the FNV-64a hash of its name.
func SeedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// Scenario is the state of one running scenario. It lives in the
// context.Context godog passes from step to step.
type Scenario struct {
	Name string
	Seed uint64
	be   backend.Backend

	software  map[string]string          // scenario name -> URL
	instances map[string]*instanceRecord // title -> latest instance of that title
	computers map[string]backend.ComputerSpec

	// The outcome of the last action step, waiting for a "Then it …".
	outcome    error
	outcomeSet bool
	usage      api.UsageResult

	// Marks on the backend's clock, taken at the end of each time step:
	// "configured" steps count what the nodes did after markFrom (the end
	// of the time step before the last) up to markTo (the end of the
	// last), what they do while later steps run is not (on live and
	// cluster the nodes go on). Both zero before the first time step.
	markFrom, markTo time.Time

	// The master "the leader master is killed" killed, and when (-1:
	// none yet).
	killedMaster int
	killedAt     time.Time
}

// instanceRecord remembers how an instance was requested, to request it
// again (state changes, parameter changes) and to compare with it.
type instanceRecord struct {
	guid      string
	owner     string        // person whose tree it belongs to
	requester backend.Actor // who requested it
	spec      backend.RequestSpec
	first     api.Instance // as first answered
	earlier   []string     // guids this title had before
}

type scenarioKey struct{}

func scenarioOf(ctx context.Context) *Scenario {
	s, _ := ctx.Value(scenarioKey{}).(*Scenario)
	return s
}

// record keeps the outcome of an action step for the next "Then it …".
func (s *Scenario) record(err error) {
	s.outcome, s.outcomeSet = err, true
}

// unchecked returns the outcome of an action no step looked at.
func (s *Scenario) unchecked() error {
	if s.outcomeSet && s.outcome != nil {
		return s.outcome
	}
	return nil
}

// --- parsing scenario words ---

// actorPattern matches who acts, in one capture group.
const actorPattern = `((?:instance |computer |an impostor of )?"[^"]+"|the admin)`

var actorRe = regexp.MustCompile(`^(instance |computer |an impostor of )?"([^"]+)"$`)

// actor turns "alice", instance "web", computer "COMP-1", an impostor of
// "alice" or the admin into a backend.Actor.
func (s *Scenario) actor(words string) (backend.Actor, error) {
	if words == "the admin" {
		return backend.Admin, nil
	}
	m := actorRe.FindStringSubmatch(words)
	if m == nil {
		return backend.Actor{}, fmt.Errorf("cannot read %q as someone who acts", words)
	}
	switch m[1] {
	case "":
		return backend.Person(m[2]), nil
	case "computer ":
		return backend.Computer(m[2]), nil
	case "an impostor of ":
		a := backend.Person(m[2])
		a.Impostor = true
		return a, nil
	}
	r, err := s.instance(m[2])
	if err != nil {
		return backend.Actor{}, err
	}
	return backend.Instance(r.guid), nil
}

func (s *Scenario) instance(title string) (*instanceRecord, error) {
	r := s.instances[title]
	if r == nil {
		return nil, fmt.Errorf("no instance titled %q was requested in this scenario", title)
	}
	return r, nil
}

func (s *Scenario) softwareURL(name string) (string, error) {
	u, ok := s.software[name]
	if !ok {
		return "", fmt.Errorf("software release %q is not defined in this scenario: add `Given a software release %q`", name, name)
	}
	return u, nil
}

// duration reads "90", "seconds" style pairs.
func duration(n int, unit string) (time.Duration, error) {
	switch strings.TrimSuffix(unit, "s") {
	case "second":
		return time.Duration(n) * time.Second, nil
	case "minute":
		return time.Duration(n) * time.Minute, nil
	case "hour":
		return time.Duration(n) * time.Hour, nil
	case "day":
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("unit %q: expected seconds, minutes, hours or days", unit)
}

const durationPattern = `(\d+) (seconds?|minutes?|hours?|days?)`

// placeholderRe matches {guid of "web"} in table values.
var placeholderRe = regexp.MustCompile(`\{guid of "([^"]+)"\}`)

func (s *Scenario) expand(v string) (string, error) {
	var err error
	out := placeholderRe.ReplaceAllStringFunc(v, func(m string) string {
		title := placeholderRe.FindStringSubmatch(m)[1]
		r, e := s.instance(title)
		if e != nil {
			err = e
			return m
		}
		return r.guid
	})
	return out, err
}

// rows reads a two-column table (key | value) in order.
func rows(t *godog.Table) ([][2]string, error) {
	var out [][2]string
	for i, r := range t.Rows {
		if len(r.Cells) != 2 {
			return nil, fmt.Errorf("table row %d has %d cells: expected two, | key | value |", i+1, len(r.Cells))
		}
		out = append(out, [2]string{strings.TrimSpace(r.Cells[0].Value), r.Cells[1].Value})
	}
	return out, nil
}

// classNames are the scenario words for the backend's failure classes.
var classNames = map[string]error{
	"invalid input": backend.ErrInvalid,
	"refused":       backend.ErrRefused,
	"not found":     backend.ErrNotFound,
	"a conflict":    backend.ErrConflict,
	"unavailable":   backend.ErrUnavailable,
}

func className(err error) string {
	c := backend.ClassOf(err)
	for _, k := range slices.Sorted(maps.Keys(classNames)) {
		if classNames[k] == c {
			return k
		}
	}
	if errors.Is(err, backend.ErrUnsupported) {
		return "unsupported"
	}
	return "an unexpected error"
}
