package master

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// ComputerSummary is a computer with its partition counts, as its owner or
// the admin sees it in a list.
type ComputerSummary struct {
	Computer model.Computer
	Free     int
	Total    int
}

// ComputerSummaries lists the computers a caller may see (as Computers)
// with their free and total partitions, sorted by id. It costs no copy of
// the partitions.
func (s *State) ComputerSummaries(a model.Actor) []ComputerSummary {
	var out []ComputerSummary
	for _, cd := range s.cands {
		cs := s.computers[cd.ID]
		if s.canSeeComputer(a, cs) {
			out = append(out, ComputerSummary{Computer: *cs.c, Free: cd.Free, Total: cd.Total})
		}
	}
	return out
}

// ComputerQuery selects computers for a list.
type ComputerQuery struct {
	// Search is a case-insensitive part of the id or title ("": all).
	Search string
	// Region, when set, must equal the computer's.
	Region string
	// Offset and Limit select a page (Limit 0: all).
	Offset, Limit int
}

// ComputerPage returns the page of the computers a caller may see (as
// Computers) that q selects, sorted by id, and how many match. Only the
// page's computers are copied.
func (s *State) ComputerPage(a model.Actor, q ComputerQuery) ([]ComputerSummary, int) {
	search := strings.ToLower(strings.TrimSpace(q.Search))
	var match []*alloc.Candidate
	for _, cd := range s.cands {
		c := s.computers[cd.ID].c
		if !s.canSeeComputer(a, s.computers[cd.ID]) || (q.Region != "" && c.Region != q.Region) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(c.ID), search) && !strings.Contains(strings.ToLower(c.Title), search) {
			continue
		}
		match = append(match, cd)
	}
	lo := min(max(q.Offset, 0), len(match))
	hi := len(match)
	if q.Limit > 0 {
		hi = min(lo+q.Limit, hi)
	}
	out := make([]ComputerSummary, 0, hi-lo)
	for _, cd := range match[lo:hi] {
		out = append(out, ComputerSummary{Computer: *s.computers[cd.ID].c, Free: cd.Free, Total: cd.Total})
	}
	return out, len(match)
}

// UsagePoint is what a computer's partitions used in one period: the
// quantity of each resource (hosting in hours, reported usage in its unit),
// counted in the period where a movement starts.
type UsagePoint struct {
	Start      time.Time
	Quantities map[string]float64
}

// ComputerUsage returns the usage of a computer in steps of step from
// start to end (hosting still running is counted up to now). Only the
// computer's owner and the admin may read it.
func (s *State) ComputerUsage(a model.Actor, computerID string, start, end, now time.Time, step time.Duration) ([]UsagePoint, error) {
	cs := s.computers[computerID]
	if cs == nil || !s.canSeeComputer(a, cs) || a.Kind == model.KindComputer {
		return nil, notFoundf("computer %s is not registered", computerID)
	}
	if step <= 0 || !end.After(start) {
		return nil, invalidf("usage period %s..%s in steps of %s is empty", start.Format(time.RFC3339), end.Format(time.RFC3339), step)
	}
	n := int((end.Sub(start) + step - 1) / step)
	if n > 1000 {
		return nil, invalidf("usage period %s..%s in steps of %s makes %d points, more than 1000", start.Format(time.RFC3339), end.Format(time.RFC3339), step, n)
	}
	out := make([]UsagePoint, n)
	for i := range out {
		out[i] = UsagePoint{Start: start.Add(time.Duration(i) * step), Quantities: map[string]float64{}}
	}
	add := func(m account.Movement) {
		if m.ComputerID != computerID || m.Start.Before(start) || !m.Start.Before(end) {
			return
		}
		out[int(m.Start.Sub(start)/step)].Quantities[m.Resource] += m.Quantity
	}
	for _, m := range s.movements {
		add(*m)
	}
	for _, p := range cs.parts {
		if p.InstanceGUID == "" {
			continue
		}
		if i := s.instances[p.InstanceGUID]; i != nil && !i.StartedAt.IsZero() && now.After(i.StartedAt) {
			add(account.HostingMovement(i, i.StartedAt, now))
		}
	}
	return out, nil
}

// InstanceQuery selects instance trees for a list: a tree is shown when
// its root or one of its members matches.
type InstanceQuery struct {
	// Search is a case-insensitive part of the title ("" matches all).
	Search string
	// Status is an allocation status (StatusAllocated…) or a reported
	// state ("started"…); "" matches all.
	Status string
	// Offset and Limit select a page of trees (Limit 0: all).
	Offset, Limit int
}

// InstanceTree is a root instance and the members of its tree (sorted by
// guid), as a caller may see them.
type InstanceTree struct {
	Root     InstanceInfo
	Children []InstanceInfo
}

func (q InstanceQuery) matches(i *model.Instance, lowerSearch string) bool {
	if q.Status != "" && status(i) != q.Status && string(i.ReportedState) != q.Status {
		return false
	}
	return lowerSearch == "" || strings.Contains(strings.ToLower(i.Title), lowerSearch)
}

// InstanceTrees lists the trees of live (not freed) instances a caller may
// see (as Instances), roots sorted by guid, and returns the page q asks
// with the number of trees that match. It builds the descriptions of the
// page's trees only: a page of a large grid costs a scan, not a copy.
func (s *State) InstanceTrees(a model.Actor, q InstanceQuery) ([]InstanceTree, int) {
	search := strings.ToLower(strings.TrimSpace(q.Search))
	filtered := search != "" || q.Status != ""
	var roots []*model.Instance
	matched := map[instKey]bool{} // trees with a matching member
	for _, i := range s.instances {
		if i.Freed || !s.canActOnInstance(a, i) {
			continue
		}
		if i.RootTitle == "" {
			roots = append(roots, i)
		}
		if filtered && q.matches(i, search) {
			matched[treeOf(i)] = true
		}
	}
	if filtered {
		roots = slices.DeleteFunc(roots, func(i *model.Instance) bool { return !matched[treeOf(i)] })
	}
	s.sortByGUID(roots)
	total := len(roots)
	lo := min(max(q.Offset, 0), total)
	hi := total
	if q.Limit > 0 {
		hi = min(lo+q.Limit, total)
	}
	out := make([]InstanceTree, 0, hi-lo)
	for _, r := range roots[lo:hi] {
		out = append(out, InstanceTree{Root: s.info(r), Children: s.treeChildren(a, r)})
	}
	return out, total
}

// treeChildren describes the live members of root's tree but root.
func (s *State) treeChildren(a model.Actor, root *model.Instance) []InstanceInfo {
	var kids []*model.Instance
	for g := range s.trees[treeOf(root)].all() {
		if i := s.instances[g]; i != nil && i != root && !i.Freed && s.canActOnInstance(a, i) {
			kids = append(kids, i)
		}
	}
	slices.SortFunc(kids, func(x, y *model.Instance) int { return compareGUID(x.GUID, y.GUID) })
	out := make([]InstanceInfo, len(kids))
	for k, i := range kids {
		out[k] = s.info(i)
	}
	return out
}

// InstanceTreeOf returns the tree an instance belongs to, as the caller
// may see it (not found when the caller may not see the instance).
func (s *State) InstanceTreeOf(a model.Actor, guid string) (InstanceTree, error) {
	if _, err := s.Instance(a, guid); err != nil {
		return InstanceTree{}, err
	}
	i := s.instances[guid]
	root := s.root(i)
	if root == nil {
		root = i
	}
	t := InstanceTree{Root: s.info(root), Children: s.treeChildren(a, root)}
	return t, nil
}

// PendingFor lists the first limit pending requests a caller may see,
// oldest first, and how many there are.
func (s *State) PendingFor(a model.Actor, limit int) ([]InstanceInfo, int) {
	var out []InstanceInfo
	n := 0
	for _, g := range s.pending.all() {
		i := s.instances[g]
		if !s.canActOnInstance(a, i) {
			continue
		}
		n++
		if len(out) < limit {
			out = append(out, s.info(i))
		}
	}
	return out, n
}

// guidPrefix is how the state names instances: guidPrefix + counter.
const guidPrefix = "SOFTINST-"

// sortByGUID sorts instances as compareGUID orders their guids. A list
// that holds a good part of the state's guids is placed by their numbers
// (no comparison); otherwise each guid is parsed once.
func (s *State) sortByGUID(list []*model.Instance) {
	if top := s.meta.Instances; len(list) > 64 && uint64(len(list)) > top/8 && top < 1<<24 {
		slots := make([]*model.Instance, top+1)
		ok := true
		for _, i := range list {
			digits, found := strings.CutPrefix(i.GUID, guidPrefix)
			n, err := strconv.ParseUint(digits, 10, 64)
			if !found || err != nil || digits[0] == '0' || n > top || slots[n] != nil {
				ok = false // not a guid of this state's counter: compare
				break
			}
			slots[n] = i
		}
		if ok {
			k := 0
			for _, i := range slots {
				if i != nil {
					list[k] = i
					k++
				}
			}
			return
		}
	}
	sortByParsedGUID(list)
}

// sortByParsedGUID sorts instances as compareGUID orders their guids,
// parsing each guid once.
func sortByParsedGUID(list []*model.Instance) {
	type keyed struct {
		prefix string
		n      uint64
		num    bool
		i      *model.Instance
	}
	ks := make([]keyed, len(list))
	for k, i := range list {
		g := i.GUID
		j := len(g)
		for j > 0 && g[j-1] >= '0' && g[j-1] <= '9' {
			j--
		}
		ks[k] = keyed{prefix: g, i: i}
		if d := len(g) - j; d > 0 && d <= 18 { // as model.ComparePartitionIDs
			n, _ := strconv.ParseUint(g[j:], 10, 64)
			ks[k].prefix, ks[k].n, ks[k].num = g[:j], n, true
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.num && b.num && a.prefix == b.prefix {
			return cmp.Compare(a.n, b.n)
		}
		return strings.Compare(a.i.GUID, b.i.GUID)
	})
	for k := range ks {
		list[k] = ks[k].i
	}
}
