package features

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/features/backend"
)

// Node agents: convergence, time, faults, what nodes run and what they did.
func registerNodeSteps(sc *godog.ScenarioContext) {
	sc.Step(`^the nodes converge within `+durationPattern+`$`, theNodesConverge)
	sc.Step(`^`+durationPattern+` pass(?:es)?$`, timePasses)

	sc.Step(`^node "([^"]+)" crashes$`, nodeCrashes)
	sc.Step(`^node "([^"]+)" reboots$`, nodeReboots)
	sc.Step(`^node "([^"]+)" is rebuilt with an empty disk$`, nodeIsRebuilt)
	sc.Step(`^the master goes down$`, masterGoesDown)
	sc.Step(`^the master comes back$`, masterComesBack)
	sc.Step(`^node "([^"]+)" is cut from the master$`, nodeIsCut)
	sc.Step(`^node "([^"]+)" is reconnected$`, nodeIsReconnected)
	sc.Step(`^the promise of "([^"]+)" (starts failing|passes again)$`, thePromise)

	sc.Step(`^node "([^"]+)" runs "([^"]+)"$`, nodeRuns)
	sc.Step(`^node "([^"]+)" does not run "([^"]+)"$`, nodeDoesNotRun)
	sc.Step(`^node "([^"]+)" has "([^"]+)" installed$`, nodeHasInstalled)
	sc.Step(`^node "([^"]+)" does not have "([^"]+)" installed$`, nodeDoesNotHaveInstalled)
	sc.Step(`^node "([^"]+)" holds nothing$`, nodeHoldsNothing)

	sc.Step(`^node "([^"]+)" configured nothing$`, configuredNothing)
	sc.Step(`^node "([^"]+)" configured (\d+) partitions?$`, configuredPartitions)
	sc.Step(`^node "([^"]+)" configured (\d+) partitions? because "([^"]+)"$`, configuredPartitionsBecause)
	sc.Step(`^node "([^"]+)" configured "([^"]+)" (\d+) times?$`, configuredInstanceTimes)
	sc.Step(`^node "([^"]+)" configured "([^"]+)" at least (\d+) times?$`, configuredInstanceAtLeast)
	sc.Step(`^node "([^"]+)" configured "([^"]+)" at most (\d+) times?$`, configuredInstanceAtMost)
	sc.Step(`^node "([^"]+)" configured at most (\d+) partitions? at a time$`, configuredAtATime)
	sc.Step(`^node "([^"]+)" took at least `+durationPattern+` to configure them$`, tookAtLeast)
	sc.Step(`^every node in region "([^"]+)" configured (\d+) partitions? because "([^"]+)"$`, everyNodeInRegion)
	sc.Step(`^no node configured more than (\d+) partitions? at a time$`, noNodeMoreThan)
}

// markTimeStep ends a time step: its end on the backend's clock becomes
// the mark "configured" steps count up to, the previous one the mark they
// count from.
func (s *Scenario) markTimeStep() {
	s.markFrom, s.markTo = s.markTo, s.be.Now()
}

// since returns a node's configurations within the marks: those that
// ended after the time step before the last ended, and up to the end of
// the last (all of them before the first time step).
func (s *Scenario) since(ctx context.Context, computerID string) (backend.Activity, []backend.Configuration, error) {
	if _, ok := s.computers[computerID]; !ok {
		return backend.Activity{}, nil, fmt.Errorf("no computer %q was registered in this scenario", computerID)
	}
	a, err := s.be.Activity(ctx, computerID)
	if err != nil {
		return backend.Activity{}, nil, err
	}
	if s.markTo.IsZero() {
		return a, a.Configurations, nil
	}
	var cs []backend.Configuration
	for _, c := range a.Configurations {
		if c.At.After(s.markFrom) && !c.At.After(s.markTo) {
			cs = append(cs, c)
		}
	}
	return a, cs, nil
}

func theNodesConverge(ctx context.Context, n int, unit string) error {
	s := scenarioOf(ctx)
	d, err := duration(n, unit)
	if err != nil {
		return err
	}
	err = s.be.Converge(ctx, d)
	s.markTimeStep()
	return err
}

func timePasses(ctx context.Context, n int, unit string) error {
	s := scenarioOf(ctx)
	d, err := duration(n, unit)
	if err != nil {
		return err
	}
	err = s.be.Advance(ctx, d)
	s.markTimeStep()
	return err
}

func nodeCrashes(ctx context.Context, id string) error {
	return scenarioOf(ctx).be.CrashNode(ctx, id)
}

func nodeReboots(ctx context.Context, id string) error {
	return scenarioOf(ctx).be.RebootNode(ctx, id)
}

func nodeIsRebuilt(ctx context.Context, id string) error {
	return scenarioOf(ctx).be.WipeNode(ctx, id)
}

func masterGoesDown(ctx context.Context) error {
	return scenarioOf(ctx).be.CutMaster(ctx)
}

func masterComesBack(ctx context.Context) error {
	return scenarioOf(ctx).be.RestoreMaster(ctx)
}

func nodeIsCut(ctx context.Context, id string) error {
	return scenarioOf(ctx).be.CutNode(ctx, id)
}

func nodeIsReconnected(ctx context.Context, id string) error {
	return scenarioOf(ctx).be.RestoreNode(ctx, id)
}

func thePromise(ctx context.Context, title, what string) error {
	s := scenarioOf(ctx)
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.PartitionID == "" {
		return fmt.Errorf("%q holds no partition: %s", title, describe(i))
	}
	return s.be.SetPromise(ctx, i.ComputerID, i.PartitionID, what == "starts failing")
}

// partitionOf finds, on a node, the partition that holds an instance.
func partitionOf(ctx context.Context, computerID, title string) (backend.NodeState, backend.PartitionState, bool, error) {
	s := scenarioOf(ctx)
	r, err := s.instance(title)
	if err != nil {
		return backend.NodeState{}, backend.PartitionState{}, false, err
	}
	st, err := s.be.Node(ctx, computerID)
	if err != nil {
		return backend.NodeState{}, backend.PartitionState{}, false, err
	}
	for _, p := range st.Partitions {
		if p.InstanceGUID == r.guid {
			return st, p, true, nil
		}
	}
	return st, backend.PartitionState{}, false, nil
}

func nodeRuns(ctx context.Context, computerID, title string) error {
	st, p, found, err := partitionOf(ctx, computerID, title)
	switch {
	case err != nil:
		return err
	case !st.Up:
		return fmt.Errorf("node %s is down", computerID)
	case !found:
		return fmt.Errorf("no partition of node %s holds %q", computerID, title)
	case !p.Running:
		return fmt.Errorf("node %s holds %q in %s but does not run it (%d failures)", computerID, title, p.ID, p.Failures)
	}
	return nil
}

func nodeDoesNotRun(ctx context.Context, computerID, title string) error {
	st, p, found, err := partitionOf(ctx, computerID, title)
	if err != nil {
		return err
	}
	if st.Up && found && p.Running {
		return fmt.Errorf("node %s runs %q in %s", computerID, title, p.ID)
	}
	return nil
}

func installed(ctx context.Context, computerID, software string) (bool, error) {
	s := scenarioOf(ctx)
	url, err := s.softwareURL(software)
	if err != nil {
		return false, err
	}
	st, err := s.be.Node(ctx, computerID)
	if err != nil {
		return false, err
	}
	return st.Software[url], nil
}

func nodeHasInstalled(ctx context.Context, computerID, software string) error {
	ok, err := installed(ctx, computerID, software)
	if err == nil && !ok {
		err = fmt.Errorf("node %s does not have %q installed", computerID, software)
	}
	return err
}

func nodeDoesNotHaveInstalled(ctx context.Context, computerID, software string) error {
	ok, err := installed(ctx, computerID, software)
	if err == nil && ok {
		err = fmt.Errorf("node %s has %q installed", computerID, software)
	}
	return err
}

func nodeHoldsNothing(ctx context.Context, computerID string) error {
	st, err := scenarioOf(ctx).be.Node(ctx, computerID)
	if err != nil {
		return err
	}
	for _, p := range st.Partitions {
		if p.InstanceGUID != "" || p.Running {
			return fmt.Errorf("node %s still holds %q in %s (running=%v)", computerID, p.InstanceGUID, p.ID, p.Running)
		}
	}
	return nil
}

func summarize(cs []backend.Configuration) string {
	if len(cs) == 0 {
		return "none"
	}
	var parts []string
	for i, c := range cs {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("… %d more", len(cs)-i))
			break
		}
		ok := "ok"
		if !c.OK {
			ok = "failed"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s, %s)", c.PartitionID, c.InstanceGUID, c.Reason, ok))
	}
	return strings.Join(parts, ", ")
}

func configuredNothing(ctx context.Context, computerID string) error {
	return configuredPartitions(ctx, computerID, 0)
}

// configuredPartitions: exactly n configurations within the marks, of n
// different partitions.
func configuredPartitions(ctx context.Context, computerID string, n int) error {
	_, cs, err := scenarioOf(ctx).since(ctx, computerID)
	if err != nil {
		return err
	}
	distinct := map[string]bool{}
	for _, c := range cs {
		distinct[c.PartitionID] = true
	}
	if len(cs) != n || len(distinct) != n {
		return fmt.Errorf("node %s configured %d times %d partitions, expected %d partitions once each: %s",
			computerID, len(cs), len(distinct), n, summarize(cs))
	}
	return nil
}

func configuredPartitionsBecause(ctx context.Context, computerID string, n int, reason string) error {
	if err := configuredPartitions(ctx, computerID, n); err != nil {
		return err
	}
	_, cs, _ := scenarioOf(ctx).since(ctx, computerID)
	for _, c := range cs {
		if c.Reason != reason {
			return fmt.Errorf("node %s configured %s because %q, expected %q: %s", computerID, c.PartitionID, c.Reason, reason, summarize(cs))
		}
	}
	return nil
}

func countFor(ctx context.Context, computerID, title string) (int, []backend.Configuration, error) {
	s := scenarioOf(ctx)
	r, err := s.instance(title)
	if err != nil {
		return 0, nil, err
	}
	_, cs, err := s.since(ctx, computerID)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for _, c := range cs {
		if c.InstanceGUID == r.guid {
			n++
		}
	}
	return n, cs, nil
}

func configuredInstanceTimes(ctx context.Context, computerID, title string, want int) error {
	n, cs, err := countFor(ctx, computerID, title)
	if err == nil && n != want {
		err = fmt.Errorf("node %s configured %q %d times, expected %d: %s", computerID, title, n, want, summarize(cs))
	}
	return err
}

func configuredInstanceAtLeast(ctx context.Context, computerID, title string, want int) error {
	n, cs, err := countFor(ctx, computerID, title)
	if err == nil && n < want {
		err = fmt.Errorf("node %s configured %q %d times, expected at least %d: %s", computerID, title, n, want, summarize(cs))
	}
	return err
}

func configuredInstanceAtMost(ctx context.Context, computerID, title string, want int) error {
	n, cs, err := countFor(ctx, computerID, title)
	if err == nil && n > want {
		err = fmt.Errorf("node %s configured %q %d times, expected at most %d: %s", computerID, title, n, want, summarize(cs))
	}
	return err
}

// atOnce is how many partitions a node worked on at once, as its backend
// measures it from the node agent's action start and end events, and how
// many configurations it ran within the marks.
func atOnce(ctx context.Context, computerID string) (peak, configured int, err error) {
	s := scenarioOf(ctx)
	a, cs, err := s.since(ctx, computerID)
	switch {
	case err != nil:
		return 0, 0, err
	case len(cs) > 0 && a.MaxConcurrent == 0:
		return 0, 0, fmt.Errorf("the %s backend cannot observe how many partitions a node works on at once: %w", s.be.Kind(), backend.ErrUnsupported)
	}
	return a.MaxConcurrent, len(cs), nil
}

func configuredAtATime(ctx context.Context, computerID string, n int) error {
	peak, configured, err := atOnce(ctx, computerID)
	switch {
	case err != nil:
		return err
	case configured == 0:
		return fmt.Errorf("node %s configured nothing: there is nothing to measure", computerID)
	case peak > n:
		return fmt.Errorf("node %s worked on %d partitions at once (measured from the start and end of its actions), expected at most %d",
			computerID, peak, n)
	}
	return nil
}

func tookAtLeast(ctx context.Context, computerID string, n int, unit string) error {
	d, err := duration(n, unit)
	if err != nil {
		return err
	}
	_, cs, err := scenarioOf(ctx).since(ctx, computerID)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("node %s configured nothing", computerID)
	}
	span := cs[len(cs)-1].At.Sub(cs[0].At)
	if span < d {
		return fmt.Errorf("node %s configured %d partitions in %s, expected at least %s", computerID, len(cs), span, d)
	}
	return nil
}

func everyNodeInRegion(ctx context.Context, region string, n int, reason string) error {
	s := scenarioOf(ctx)
	count := 0
	for _, id := range slices.Sorted(maps.Keys(s.computers)) {
		if s.computers[id].Region != region {
			continue
		}
		count++
		if err := configuredPartitionsBecause(ctx, id, n, reason); err != nil {
			return err
		}
	}
	if count == 0 {
		return fmt.Errorf("no computer of this scenario is in region %q", region)
	}
	return nil
}

func noNodeMoreThan(ctx context.Context, n int) error {
	s := scenarioOf(ctx)
	measured := 0
	for _, id := range slices.Sorted(maps.Keys(s.computers)) {
		peak, configured, err := atOnce(ctx, id)
		switch {
		case err != nil:
			return err
		case peak > n:
			return fmt.Errorf("node %s worked on %d partitions at once (measured from the start and end of its actions), expected at most %d",
				id, peak, n)
		case configured > 0:
			measured++
		}
	}
	if measured == 0 {
		return fmt.Errorf("no node configured anything: there is nothing to measure")
	}
	return nil
}
