package features

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/features/backend"
)

// Several masters on one PostgreSQL database: the leader killed, a
// follower taking over, the killed one coming back as a follower.
func registerMasterSteps(sc *godog.ScenarioContext) {
	sc.Step(`^two masters on PostgreSQL$`, twoMastersOnPostgres)
	sc.Step(`^the leader master is killed$`, theLeaderIsKilled)
	sc.Step(`^a follower becomes leader within `+durationPattern+`$`, aFollowerLeadsWithin)
	sc.Step(`^the killed master comes back$`, theKilledMasterComesBack)
	sc.Step(`^the killed master follows$`, theKilledMasterFollows)
	sc.Step(`^every instance of "([^"]+)" runs in exactly one partition$`, everyInstanceRunsOnce)
}

// takeOverPatience is how long aFollowerLeadsWithin waits at least, to
// tell a slow take-over (and how slow) from none.
const takeOverPatience = 30 * time.Second

// masters is the scenario's backend as a grid of several masters.
func masters(s *Scenario) (backend.Masters, error) {
	m, ok := s.be.(backend.Masters)
	if !ok || m.MastersOnPostgres() == 0 {
		return nil, fmt.Errorf("the %s backend runs no masters on PostgreSQL (tag the scenario @live-only @postgres): %w", s.be.Kind(), backend.ErrUnsupported)
	}
	return m, nil
}

func twoMastersOnPostgres(ctx context.Context) error {
	m, err := masters(scenarioOf(ctx))
	if err != nil {
		return err
	}
	if n := m.MastersOnPostgres(); n != 2 {
		return fmt.Errorf("the backend runs %d masters on PostgreSQL, the scenario expects 2", n)
	}
	roles := m.MasterRoles(ctx)
	if slices.Index(roles, "leader") < 0 || slices.Index(roles, "follower") < 0 {
		return fmt.Errorf("the masters answer as %q: expected one leader and one follower", roles)
	}
	return nil
}

func theLeaderIsKilled(ctx context.Context) error {
	s := scenarioOf(ctx)
	m, err := masters(s)
	if err != nil {
		return err
	}
	i, err := m.KillLeader(ctx)
	if err != nil {
		return err
	}
	s.killedMaster, s.killedAt = i, time.Now()
	return nil
}

// aFollowerLeadsWithin waits until a master other than the killed one
// answers as the leader, and fails if that took longer than n units after
// the kill (saying how long it took, or that none led at all).
func aFollowerLeadsWithin(ctx context.Context, n int, unit string) error {
	s := scenarioOf(ctx)
	limit, err := duration(n, unit)
	if err != nil {
		return err
	}
	m, err := masters(s)
	if err != nil {
		return err
	}
	if s.killedMaster < 0 {
		return fmt.Errorf("no master was killed: a step \"the leader master is killed\" comes first")
	}
	deadline := s.killedAt.Add(max(limit, takeOverPatience))
	for {
		roles := m.MasterRoles(ctx)
		for i, r := range roles {
			if i != s.killedMaster && r == "leader" {
				took := time.Since(s.killedAt)
				godog.Logf(ctx, "master %d leads %s after master %d was killed", i, took.Round(time.Millisecond), s.killedMaster)
				if took > limit {
					return fmt.Errorf("master %d took the lead %s after the leader was killed, expected within %s", i, took.Round(time.Millisecond), limit)
				}
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no master took the lead within %s of the leader's kill (roles %q)", max(limit, takeOverPatience), roles)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func theKilledMasterComesBack(ctx context.Context) error {
	s := scenarioOf(ctx)
	if _, err := masters(s); err != nil {
		return err
	}
	if s.killedMaster < 0 {
		return fmt.Errorf("no master was killed")
	}
	return s.be.RestoreMaster(ctx)
}

func theKilledMasterFollows(ctx context.Context) error {
	s := scenarioOf(ctx)
	m, err := masters(s)
	if err != nil {
		return err
	}
	if s.killedMaster < 0 {
		return fmt.Errorf("no master was killed")
	}
	roles := m.MasterRoles(ctx)
	if r := roles[s.killedMaster]; r != "follower" {
		return fmt.Errorf("the master killed and back answers as %q, expected follower (roles %q)", r, roles)
	}
	return nil
}

// everyInstanceRunsOnce: each live instance of the person runs in exactly
// one partition across the scenario's nodes (none lost, none doubled).
func everyInstanceRunsOnce(ctx context.Context, person string) error {
	s := scenarioOf(ctx)
	list, err := instancesOf(ctx, s, person)
	if err != nil {
		return err
	}
	running := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(s.computers)) {
		st, err := s.be.Node(ctx, id)
		if err != nil {
			return err
		}
		for _, p := range st.Partitions {
			if p.InstanceGUID != "" && p.Running {
				running[p.InstanceGUID] = append(running[p.InstanceGUID], id+"/"+p.ID)
			}
		}
	}
	for _, in := range list {
		if where := running[in.GUID]; len(where) != 1 {
			return fmt.Errorf("%q (%s) runs in %d partitions %v, expected 1", in.Title, in.GUID, len(where), where)
		}
	}
	return nil
}
