package agent

import (
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// What the tests of package agent_test read of an Agent.

// Config returns the agent's configuration.
func (a *Agent) Config() config.Config { return a.cfg }

// Supervisor returns the supervisor running the partitions' programs.
func (a *Agent) Supervisor() *supervisor.Supervisor { return a.sup }
