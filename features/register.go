package features

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/features/backend"
)

// Tags that keep a scenario off some backends. Each comes with a reason
// tag whose text is in SkipReasons (for @sim-only and @not-yet-live) or
// RealStackReasons (for @real-stack-only).
const (
	// SimOnlyTag: only a backend with virtual time and modelled scale can
	// run the scenario.
	SimOnlyTag = "@sim-only"
	// NotYetLiveTag: the real stack cannot pass the scenario yet; the
	// reason tag names what it lacks. The simulator runs it.
	NotYetLiveTag = "@not-yet-live"
	// RealStackOnlyTag: the scenario checks a layer the simulator does not
	// model; only the live and cluster backends run it.
	RealStackOnlyTag = "@real-stack-only"
	// LiveOnlyTag: the scenario needs what only the live backend runs
	// (real binaries on this machine); the reason tag says what.
	LiveOnlyTag = "@live-only"
)

// SkipReasons says, for each reason tag that accompanies @sim-only or
// @not-yet-live, why such a scenario does not run on a real grid.
var SkipReasons = map[string]string{
	"@scale":         "needs hundreds of partitions per node or several nodes of 300 partitions: modelled on the simulator, measured by bench/",
	"@virtual-time":  "lets hours of time pass: only the simulator's virtual clock can, a real grid would take that long",
	"@modelled-time": "asserts modelled durations (build or configuration times) that only the simulator controls",
}

// RealStackReasons says, for each reason tag that accompanies
// @real-stack-only, what the simulator does not model.
var RealStackReasons = map[string]string{
	"@tls": "checks the master's TLS handshake (a certificate another authority issued): the simulator models no TLS layer",
}

// LiveOnlyReasons says, for each reason tag that accompanies @live-only,
// what the other backends lack.
var LiveOnlyReasons = map[string]string{
	"@postgres": "runs two masters on a PostgreSQL database: only the live backend does (the simulator models one master and no database, the cluster backend runs one master on SQLite)",
}

// SkipReason is why a scenario with these tags does not run on a backend
// of this kind, or "" when it runs. A scenario that no backend would run
// (tagged for the simulator only and for real stacks only) is skipped
// everywhere, and says so.
func SkipReason(kind string, tags []string) string {
	has := func(t string) bool { return slices.Contains(tags, t) }
	simOnly := has(SimOnlyTag) || has(NotYetLiveTag)
	realOnly := has(RealStackOnlyTag) || has(LiveOnlyTag)
	switch {
	case simOnly && realOnly:
		return "tagged both for the simulator only (" + SimOnlyTag + " or " + NotYetLiveTag + ") and for real stacks only (" +
			RealStackOnlyTag + " or " + LiveOnlyTag + "): no backend runs it"
	case kind != "live" && has(LiveOnlyTag):
		return reasons(tags, LiveOnlyTag, LiveOnlyReasons)
	case kind == "sim" && realOnly:
		return reasons(tags, RealStackOnlyTag, RealStackReasons)
	case kind != "sim" && simOnly:
		return reasons(tags, SimOnlyTag+" or "+NotYetLiveTag, SkipReasons)
	}
	return ""
}

// reasons joins the texts of the reason tags among tags, or says that the
// skipping tag came without one.
func reasons(tags []string, tag string, known map[string]string) string {
	var why []string
	for _, t := range tags {
		if r, ok := known[t]; ok {
			why = append(why, r)
		}
	}
	if len(why) == 0 {
		return "tagged " + tag + " without a reason tag (one of " +
			strings.Join(slices.Sorted(maps.Keys(known)), ", ") + ")"
	}
	return strings.Join(why, "; ")
}

// Register installs the scenario hooks and every step definition.
func Register(sc *godog.ScenarioContext, opts Options) {
	sc.Before(func(ctx context.Context, p *godog.Scenario) (context.Context, error) {
		tags := make([]string, len(p.Tags))
		for i, t := range p.Tags {
			tags[i] = t.Name
		}
		why := SkipReason(opts.Backend, tags)
		for _, t := range tags {
			if lack, ok := opts.Lacks[t]; ok && why == "" {
				why = lack
			}
		}
		if why != "" {
			godog.Logf(ctx, "skipped on the %s backend: %s", opts.Backend, why)
			if opts.Skipped != nil {
				opts.Skipped(p.Name, why)
			}
			return ctx, godog.ErrSkip
		}
		s := &Scenario{Name: p.Name, Seed: SeedOf(p.Name), software: map[string]string{}, killedMaster: -1,
			instances: map[string]*instanceRecord{}, computers: map[string]backend.ComputerSpec{}}
		be, err := opts.Factory(ctx, ScenarioInfo{Name: p.Name, Seed: s.Seed, Tags: tags})
		if err != nil {
			return ctx, fmt.Errorf("starting the %s backend (seed %d): %w", opts.Backend, s.Seed, err)
		}
		s.be = be
		return context.WithValue(ctx, scenarioKey{}, s), nil
	})
	sc.StepContext().Before(func(ctx context.Context, st *godog.Step) (context.Context, error) {
		s := scenarioOf(ctx)
		if s == nil || isOutcomeStep(st.Text) {
			return ctx, nil
		}
		err := s.unchecked()
		s.outcomeSet = false
		if err != nil {
			return ctx, fmt.Errorf("the previous step failed and no step said it should: %w", err)
		}
		return ctx, nil
	})
	sc.After(func(ctx context.Context, p *godog.Scenario, err error) (context.Context, error) {
		s := scenarioOf(ctx)
		if s == nil {
			return ctx, nil
		}
		var late error
		if err == nil {
			if u := s.unchecked(); u != nil {
				late = fmt.Errorf("the last step failed and no step said it should: %w", u)
			}
		}
		hash := ""
		if tr, ok := s.be.(backend.Tracer); ok {
			hash = tr.TraceHash()
		}
		if err != nil || late != nil {
			godog.Logf(ctx, "scenario %q failed on the %s backend with seed %d (trace %s); run it alone with: go test ./features/ -run 'TestFeatures/%s'",
				p.Name, opts.Backend, s.Seed, hash, runPattern(p.Name))
			if tt, ok := s.be.(interface{ TraceTail(int) []string }); ok {
				godog.Logf(ctx, "last events:\n  %s", strings.Join(tt.TraceTail(40), "\n  "))
			}
		}
		if opts.Outcome != nil {
			opts.Outcome(p.Name, hash, errors.Join(err, late))
		}
		if cerr := s.be.Close(); cerr != nil {
			late = errors.Join(late, fmt.Errorf("closing the %s backend: %w", opts.Backend, cerr))
		}
		return ctx, late
	})
	sc.Step(`^it succeeds$`, itSucceeds)
	sc.Step(`^it fails as (invalid input|refused|not found|a conflict|unavailable)$`, itFailsAs)
	sc.Step(`^it fails as (invalid input|refused|not found|a conflict|unavailable) mentioning "([^"]+)"$`, itFailsAsMentioning)
	registerIdentitySteps(sc)
	registerComputerSteps(sc)
	registerInstanceSteps(sc)
	registerNodeSteps(sc)
	registerAccountingSteps(sc)
	registerMasterSteps(sc)
}

// runPattern is the -run pattern of a scenario's subtest: go test turns
// spaces into underscores and each pattern element is a regular
// expression.
func runPattern(name string) string {
	r := strings.NewReplacer(" ", "_", "(", `\(`, ")", `\)`, ".", `\.`, "+", `\+`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`, "/", `\/`, "'", ".")
	return "^" + r.Replace(name) + "$"
}

func isOutcomeStep(text string) bool {
	return strings.HasPrefix(text, "it succeeds") || strings.HasPrefix(text, "it fails as ")
}

func itSucceeds(ctx context.Context) error {
	s := scenarioOf(ctx)
	if !s.outcomeSet {
		return errors.New("no action to judge: `it succeeds` must follow an action step")
	}
	s.outcomeSet = false
	if s.outcome != nil {
		return fmt.Errorf("expected success, got %s: %w", className(s.outcome), s.outcome)
	}
	return nil
}

func itFailsAs(ctx context.Context, class string) error {
	return itFailsAsMentioning(ctx, class, "")
}

func itFailsAsMentioning(ctx context.Context, class, words string) error {
	s := scenarioOf(ctx)
	if !s.outcomeSet {
		return errors.New("no action to judge: `it fails as …` must follow an action step")
	}
	s.outcomeSet = false
	want := classNames[class]
	switch {
	case s.outcome == nil:
		return fmt.Errorf("expected it to fail as %s, but it succeeded", class)
	case !errors.Is(s.outcome, want):
		return fmt.Errorf("expected it to fail as %s, it failed as %s: %w", class, className(s.outcome), s.outcome)
	case words != "" && !strings.Contains(strings.ToLower(s.outcome.Error()), strings.ToLower(words)):
		return fmt.Errorf("the error does not mention %q: %v", words, s.outcome)
	}
	return nil
}
