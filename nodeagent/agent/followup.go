package agent

import (
	"cmp"
	"time"

	"github.com/slapgo/slapgo/nodeagent/promise"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// promiseOptions runs a partition's promises as its user.
func (a *Agent) promiseOptions(g supervisor.Group, timeout time.Duration) promise.Options {
	opts := promise.Options{Timeout: cmp.Or(timeout, 20*time.Second), Cred: g.Cred}
	if g.User != "" {
		opts.Env = []string{"USER=" + g.User, "LOGNAME=" + g.User}
	}
	return opts
}
