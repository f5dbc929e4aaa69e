package cluster

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
)

// nodeUsageDir is the node agent's usage spool in a node container.
const nodeUsageDir = "/srv/slapgrid/.slapgo/usage"

// SpooledJournal is one usage journal a node agent spooled.
type SpooledJournal struct {
	Name      string // file name: the period
	Sent      bool   // in sent/ (the master accepted it), else pending/
	Start     time.Time
	Stop      time.Time
	Movements []account.Movement
}

// NodeUsage is every journal a node agent spooled, oldest first.
type NodeUsage struct {
	ComputerID string
	Journals   []SpooledJournal
}

// Usage reads the usage spool (sent and pending journals) of the node's
// current container, running or stopped.
func (n *Node) Usage(ctx context.Context) (NodeUsage, error) {
	return readUsage(ctx, n.ID, n.Container)
}

func readUsage(ctx context.Context, id string, ct *Container) (NodeUsage, error) {
	u := NodeUsage{ComputerID: id}
	files, err := ct.ReadDir(ctx, nodeUsageDir)
	if err != nil {
		return u, err
	}
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		sub, name, ok := strings.Cut(rel, "/")
		if !ok || (sub != "sent" && sub != "pending") || strings.Contains(name, "/") || !strings.HasSuffix(name, ".xml") || name[0] == '.' {
			continue
		}
		j, err := account.DecodeJournal(files[rel])
		if err != nil {
			return u, fmt.Errorf("cluster: %s: journal %s: %w", id, rel, err)
		}
		ms, err := account.UsageMovements(j)
		if err != nil {
			return u, fmt.Errorf("cluster: %s: journal %s: %w", id, rel, err)
		}
		sj := SpooledJournal{Name: name, Sent: sub == "sent", Movements: ms}
		for i, t := range j.Transactions {
			start, stop, err := t.Period()
			if err != nil {
				return u, fmt.Errorf("cluster: %s: journal %s: %w", id, rel, err)
			}
			if i == 0 || start.Before(sj.Start) {
				sj.Start = start
			}
			if i == 0 || stop.After(sj.Stop) {
				sj.Stop = stop
			}
		}
		u.Journals = append(u.Journals, sj)
	}
	slices.SortFunc(u.Journals, func(a, b SpooledJournal) int { return a.Start.Compare(b.Start) })
	return u, nil
}

// Pending counts the journals not accepted yet.
func (u NodeUsage) Pending() int {
	n := 0
	for _, j := range u.Journals {
		if !j.Sent {
			n++
		}
	}
	return n
}

// CheckContiguous fails when two journals overlap (usage counted twice
// by the node) or leave a gap (usage lost) between the first period and
// the last. The periods of one agent's life are contiguous; a new agent
// with an empty disk starts a new series.
func (u NodeUsage) CheckContiguous() error {
	for i := 1; i < len(u.Journals); i++ {
		prev, cur := u.Journals[i-1], u.Journals[i]
		switch {
		case cur.Start.Before(prev.Stop):
			return fmt.Errorf("%s: journals %s and %s overlap", u.ComputerID, prev.Name, cur.Name)
		case cur.Start.After(prev.Stop):
			return fmt.Errorf("%s: %v of usage lost between journals %s and %s", u.ComputerID, cur.Start.Sub(prev.Stop), prev.Name, cur.Name)
		}
	}
	return nil
}

// SentTotals sums the quantities of the accepted journals by resource.
func (u NodeUsage) SentTotals() map[string]float64 {
	out := map[string]float64{}
	for _, j := range u.Journals {
		if !j.Sent {
			continue
		}
		for _, m := range j.Movements {
			out[m.Resource] += m.Quantity
		}
	}
	return out
}

// CompareTotals fails unless the master's quantities (from invoices)
// equal the nodes' accepted journals', resource by resource: a journal
// counted twice, or one the master lost, shows as a difference.
func CompareTotals(master, nodes map[string]float64) error {
	var diffs []string
	for _, r := range slices.Sorted(maps.Keys(mergeKeys(master, nodes))) {
		m, n := master[r], nodes[r]
		if math.Abs(m-n) > 1e-6*math.Max(1, math.Abs(n)) {
			diffs = append(diffs, fmt.Sprintf("%s: master %.6g, nodes %.6g", r, m, n))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("usage differs: %s", strings.Join(diffs, "; "))
	}
	return nil
}

func mergeKeys(a, b map[string]float64) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
