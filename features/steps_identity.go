package features

import (
	"context"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
)

// Identities and authorization: persons, impostors, who may read and
// change what.
func registerIdentitySteps(sc *godog.ScenarioContext) {
	sc.Step(`^a person "([^"]+)"$`, aPerson)
	sc.Step(`^`+actorPattern+` adds a person "([^"]+)"$`, addsAPerson)
	sc.Step(`^`+actorPattern+` reads the view of "([^"]+)"$`, readsTheView)
	sc.Step(`^`+actorPattern+` reports partition "([^"]+)" of "([^"]+)" as "([^"]+)"$`, reportsPartition)
}

func aPerson(ctx context.Context, id string) error {
	s := scenarioOf(ctx)
	return s.be.AddPerson(ctx, backend.Admin, id)
}

func addsAPerson(ctx context.Context, who, id string) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	s.record(s.be.AddPerson(ctx, as, id))
	return nil
}

func readsTheView(ctx context.Context, who, computerID string) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	_, err = s.be.ComputerView(ctx, as, computerID)
	s.record(err)
	return nil
}

func reportsPartition(ctx context.Context, who, partitionID, computerID, state string) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	s.record(s.be.ReportPartition(ctx, as, computerID, partitionID, model.ReportedState(state)))
	return nil
}
