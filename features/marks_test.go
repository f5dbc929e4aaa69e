package features_test

import (
	"context"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/features"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/simbackend"
)

// goingOn is the simulated grid seen as the live and cluster backends see
// theirs: the grid goes on between steps. Each read of a node's activity
// comes after lag more of the grid's time.
type goingOn struct {
	backend.Backend
	lag time.Duration
}

func (g goingOn) Activity(ctx context.Context, id string) (backend.Activity, error) {
	if err := g.Backend.Advance(ctx, g.lag); err != nil {
		return backend.Activity{}, err
	}
	return g.Backend.Activity(ctx, id)
}

// "configured" steps count what the nodes did within the last time step
// (since the end of the one before), on the backend's clock: what a node
// does while the later steps run counts in the next time step, not in the
// last one.
func TestConfiguredCountsTheLastTimeStep(t *testing.T) {
	const feature = `Feature: marks
  Scenario: A node that goes on after a time step
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 2 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests "web" of "hello"
    And the nodes converge within 15 minutes
    When "alice" changes parameter "color" of "web" to "blue"
    Then node "COMP-1" configured "web" 1 time
    And node "COMP-1" configured 1 partition because "new"
    When 1 second passes
    Then node "COMP-1" configured "web" 1 time
    And node "COMP-1" configured 1 partition because "changed"
`
	suite := godog.TestSuite{
		Name: "slapgo-marks",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			features.Register(sc, features.Options{Backend: "sim", Factory: func(_ context.Context, info features.ScenarioInfo) (backend.Backend, error) {
				be, err := simbackend.New(simbackend.Config{Seed: info.Seed})
				return goingOn{Backend: be, lag: 5 * time.Minute}, err
			}})
		},
		Options: &godog.Options{
			Format:          "progress",
			FeatureContents: []godog.Feature{{Name: "marks.feature", Contents: []byte(feature)}},
			Strict:          true,
			Concurrency:     1,
			TestingT:        t,
		},
	}
	if code := suite.Run(); code != 0 {
		t.Fatalf("the suite failed (status %d)", code)
	}
}
