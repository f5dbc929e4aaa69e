package clusterbackend

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
	"github.com/slapgo/slapgo/nodeagent/agent"
)

// Roots of the node agents in the containers (cluster's configuration).
const (
	instanceRoot = "/srv/slapgrid"
	softwareRoot = "/opt/slapgrid"
)

func partitionIndex(n *cluster.Node, id string) (int, bool) {
	s, ok := strings.CutPrefix(id, "slappart")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < n.Spec.Partitions
}

// nodeConfig is the node agent's configuration in its container
// (cluster's layout).
const nodeConfig = "/etc/slapgo/node.cfg"

// status runs `slapgo node status --json` in a node's container.
func status(ctx context.Context, n *cluster.Node) (agent.NodeStatus, error) {
	code, out, err := n.Container.Exec(ctx, append([]string{"slapgo"}, stackkit.StatusArgs(nodeConfig)...)...)
	if err != nil {
		return agent.NodeStatus{}, err
	}
	if code != 0 {
		return agent.NodeStatus{}, fmt.Errorf("clusterbackend: slapgo node status in %s: exit %d: %s", n.ID, code, out)
	}
	return stackkit.ParseStatus([]byte(out))
}

// Node is what a node holds and runs, from its own point of view. A node
// down cannot be asked: it holds what it held when CrashNode killed it,
// and runs nothing.
func (b *Backend) Node(ctx context.Context, id string) (backend.NodeState, error) {
	n, err := b.node(id)
	if err != nil {
		return backend.NodeState{}, err
	}
	software := slices.Sorted(maps.Keys(b.software))
	if !nodeUp(ctx, n) {
		last, ok := b.lastStatus[id]
		if !ok {
			last = agent.NodeStatus{ComputerID: id}
			for i := range n.Spec.Partitions {
				last.Partitions = append(last.Partitions, agent.PartitionStatus{ID: "slappart" + strconv.Itoa(i)})
			}
		}
		return stackkit.NodeState(last, false, software), nil
	}
	st, err := status(ctx, n)
	if err != nil {
		return backend.NodeState{ComputerID: id, Up: true}, err
	}
	return stackkit.NodeState(st, true, software), nil
}

// Activity is what a node's agent did: its configurations (each credited
// to the instance its event names) and the most partitions it worked on
// at once, from its action start and end events.
func (b *Backend) Activity(ctx context.Context, id string) (backend.Activity, error) {
	n, err := b.node(id)
	if err != nil {
		return backend.Activity{}, err
	}
	st, err := status(ctx, n)
	if err != nil {
		return backend.Activity{}, err
	}
	return stackkit.Activity(st), nil
}

// Converge waits until every node that is up is quiet and matches the
// view it can get, or fails after within: no partition action logged for
// a promise timeout and two polls, every software supplied built (or
// failing), every partition holding the version the view asks in the
// state it asks (or failing and backing off), every report delivered.
// A node cut off, or any node while the master is down, only has to be
// quiet.
func (b *Backend) Converge(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	g := b.c.Config.Grid
	quiet := g.PromiseTimeout + 2*g.PollInterval
	var why []string
	for {
		why = why[:0]
		masterUp := b.masterUp(ctx)
		for _, n := range b.c.Nodes() {
			if w := b.waitingFor(ctx, n, quiet, masterUp); w != "" {
				why = append(why, n.ID+": "+w)
			}
		}
		if len(why) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the nodes did not converge within %s: %s", within, strings.Join(why, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(g.PollInterval / 2):
		}
	}
}

// waitingFor says why a node has not converged ("" when it has): see
// stackkit.Waiting.
func (b *Backend) waitingFor(ctx context.Context, n *cluster.Node, quiet time.Duration, masterUp bool) string {
	if !nodeUp(ctx, n) {
		return ""
	}
	st, err := status(ctx, n)
	if err != nil {
		return err.Error()
	}
	if !masterUp || n.IsCut() {
		return stackkit.Acting(st, time.Now(), quiet) // offline: quiet is all it can be
	}
	view, _, _, err := b.Computer(n.ID).ComputerView(ctx, n.ID, "")
	if err != nil || view == nil {
		return fmt.Sprintf("its view cannot be read: %v", err)
	}
	return stackkit.Waiting(st, view.Version, time.Now(), quiet, b.promiseSet[n.ID])
}
