package features

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/master/api"
)

// Requests, instance trees, shared instances, allocation.
func registerInstanceSteps(sc *godog.ScenarioContext) {
	sc.Step(`^`+actorPattern+` requests "([^"]*)" of "([^"]+)"$`, requests)
	sc.Step(`^`+actorPattern+` requests "([^"]*)" of "([^"]+)" with:$`, requestsWith)
	sc.Step(`^`+actorPattern+` requests "([^"]*)" of the URL "([^"]*)"$`, requestsTheURL)
	sc.Step(`^`+actorPattern+` requests (\d+) instances of "([^"]+)" titled "([^"]+)"$`, requestsMany)
	sc.Step(`^`+actorPattern+` requests (\d+) instances of "([^"]+)" titled "([^"]+)" with:$`, requestsManyWith)
	sc.Step(`^`+actorPattern+` (stops|starts|destroys) "([^"]+)"$`, changesState)
	sc.Step(`^`+actorPattern+` changes parameter "([^"]+)" of "([^"]+)" to "([^"]*)"$`, changesParameter)
	sc.Step(`^`+actorPattern+` changes parameter "([^"]+)" of all (\d+) instances "([^"]+)" to "([^"]*)"$`, changesParameterOfAll)
	sc.Step(`^`+actorPattern+` reads "([^"]+)"$`, reads)
	sc.Step(`^`+actorPattern+` bangs "([^"]+)"$`, bangs)

	sc.Step(`^"([^"]+)" is allocated on "([^"]+)"$`, isAllocatedOn)
	sc.Step(`^"([^"]+)" is allocated on "([^"]+)" partition "([^"]+)"$`, isAllocatedOnPartition)
	sc.Step(`^instances "([^"]+)" (\d+) to (\d+) are all allocated on "([^"]+)"$`, rangeAllocatedOn)
	sc.Step(`^"([^"]+)" is pending with a reason mentioning "([^"]+)"$`, isPending)
	sc.Step(`^the pending requests include "([^"]+)"$`, pendingInclude)
	sc.Step(`^"([^"]+)" is reported (started|stopped)$`, isReported)
	sc.Step(`^"([^"]+)" is reported in error mentioning "([^"]+)"$`, isReportedInError)
	sc.Step(`^all (\d+) instances "([^"]+)" are reported started$`, allReportedStarted)
	sc.Step(`^"([^"]+)" is requested (started|stopped|destroyed)$`, isRequested)
	sc.Step(`^"([^"]+)" is destroyed$`, isDestroyed)
	sc.Step(`^"([^"]+)" publishes a connection parameter "([^"]+)"$`, publishes)
	sc.Step(`^"([^"]+)" publishes a connection parameter "([^"]+)" containing "([^"]+)"$`, publishesContaining)
	sc.Step(`^"([^"]+)" has software type "([^"]+)"$`, hasSoftwareType)
	sc.Step(`^"([^"]+)" belongs to the tree of "([^"]+)"$`, belongsToTree)
	sc.Step(`^"([^"]+)" is hosted by "([^"]+)"$`, isHostedBy)
	sc.Step(`^"([^"]+)" hosts no shared instance$`, hostsNoShared)
	sc.Step(`^"([^"]+)" kept its guid and version$`, keptGUIDAndVersion)
	sc.Step(`^"([^"]+)" kept its guid with a new version$`, keptGUIDNewVersion)
	sc.Step(`^"([^"]+)" has a new guid$`, hasNewGUID)
	sc.Step(`^"([^"]+)" has (\d+) instances?$`, hasInstances)
}

// requestSpec reads a | key | value | table: type, state, shared,
// param <name>, sla <key>. Values may hold {guid of "title"}.
func (s *Scenario) requestSpec(title, url string, t *godog.Table) (backend.RequestSpec, error) {
	spec := backend.RequestSpec{Title: title, SoftwareRelease: url}
	if t == nil {
		return spec, nil
	}
	rs, err := rows(t)
	if err != nil {
		return spec, err
	}
	for _, r := range rs {
		k := r[0]
		v, err := s.expand(r[1])
		if err != nil {
			return spec, err
		}
		switch {
		case k == "type":
			spec.SoftwareType = v
		case k == "state":
			spec.State = model.RequestedState(v)
		case k == "shared":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return spec, fmt.Errorf("shared %q: expected true or false", v)
			}
			spec.Shared = b
		case strings.HasPrefix(k, "param "):
			if spec.Parameters == nil {
				spec.Parameters = map[string]string{}
			}
			spec.Parameters[strings.TrimPrefix(k, "param ")] = v
		case strings.HasPrefix(k, "sla "):
			if spec.SLA == nil {
				spec.SLA = map[string]string{}
			}
			spec.SLA[strings.TrimPrefix(k, "sla ")] = v
		default:
			return spec, fmt.Errorf("request field %q: expected type, state, shared, param <name> or sla <key>", k)
		}
	}
	return spec, nil
}

// send requests spec as someone, records the outcome and remembers the
// instance.
func (s *Scenario) send(ctx context.Context, as backend.Actor, spec backend.RequestSpec) error {
	inst, err := s.be.Request(ctx, as, spec)
	if err == nil && inst.GUID != "" {
		s.remember(as, spec, inst)
	}
	return err
}

func (s *Scenario) remember(as backend.Actor, spec backend.RequestSpec, inst api.Instance) {
	r := s.instances[spec.Title]
	if r == nil || r.guid != inst.GUID {
		nr := &instanceRecord{guid: inst.GUID, first: inst}
		if r != nil {
			nr.earlier = append(r.earlier, r.guid)
		}
		r = nr
		s.instances[spec.Title] = r
	}
	r.owner, r.requester = inst.Owner, as
	r.spec = spec
	r.spec.Parameters = maps.Clone(spec.Parameters)
	r.spec.SLA = maps.Clone(spec.SLA)
}

func request(ctx context.Context, who, title, url string, t *godog.Table) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	spec, err := s.requestSpec(title, url, t)
	if err != nil {
		return err
	}
	s.record(s.send(ctx, as, spec))
	return nil
}

func requests(ctx context.Context, who, title, software string) error {
	return requestsWith(ctx, who, title, software, nil)
}

func requestsWith(ctx context.Context, who, title, software string, t *godog.Table) error {
	url, err := scenarioOf(ctx).softwareURL(software)
	if err != nil {
		return err
	}
	return request(ctx, who, title, url, t)
}

func requestsTheURL(ctx context.Context, who, title, url string) error {
	return request(ctx, who, title, url, nil)
}

func requestsMany(ctx context.Context, who string, n int, software, prefix string) error {
	return requestsManyWith(ctx, who, n, software, prefix, nil)
}

func requestsManyWith(ctx context.Context, who string, n int, software, prefix string, t *godog.Table) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	url, err := s.softwareURL(software)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		spec, err := s.requestSpec(prefix+"-"+strconv.Itoa(i), url, t)
		if err != nil {
			return err
		}
		if err := s.send(ctx, as, spec); err != nil {
			s.record(fmt.Errorf("request %d of %d (%s): %w", i, n, spec.Title, err))
			return nil
		}
	}
	s.record(nil)
	return nil
}

// again requests an instance again as someone, with a change.
func again(ctx context.Context, who, title string, change func(*backend.RequestSpec)) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	r, err := s.instance(title)
	if err != nil {
		return err
	}
	spec := r.spec
	spec.Parameters = maps.Clone(r.spec.Parameters)
	spec.State = ""
	change(&spec)
	return s.send(ctx, as, spec)
}

func changesState(ctx context.Context, who, verb, title string) error {
	state := map[string]model.RequestedState{"stops": model.StateStopped, "starts": model.StateStarted, "destroys": model.StateDestroyed}[verb]
	scenarioOf(ctx).record(again(ctx, who, title, func(spec *backend.RequestSpec) { spec.State = state }))
	return nil
}

func changesParameter(ctx context.Context, who, key, title, value string) error {
	err := again(ctx, who, title, func(spec *backend.RequestSpec) {
		if spec.Parameters == nil {
			spec.Parameters = map[string]string{}
		}
		spec.Parameters[key] = value
	})
	scenarioOf(ctx).record(err)
	return nil
}

func changesParameterOfAll(ctx context.Context, who, key string, n int, prefix, value string) error {
	for i := 1; i <= n; i++ {
		if err := changesParameter(ctx, who, key, prefix+"-"+strconv.Itoa(i), value); err != nil {
			return err
		}
		if err := scenarioOf(ctx).unchecked(); err != nil {
			return nil // recorded: the next step reports it
		}
	}
	return nil
}

func reads(ctx context.Context, who, title string) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	guid := "SOFTINST-unknown"
	if r := s.instances[title]; r != nil {
		guid = r.guid
	}
	_, err = s.be.Instance(ctx, as, guid)
	s.record(err)
	return nil
}

func bangs(ctx context.Context, who, title string) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	guid := "SOFTINST-unknown"
	if r := s.instances[title]; r != nil {
		guid = r.guid
	}
	s.record(s.be.Bang(ctx, as, guid))
	return nil
}

// current reads an instance as its owner.
func current(ctx context.Context, title string) (api.Instance, error) {
	s := scenarioOf(ctx)
	r, err := s.instance(title)
	if err != nil {
		return api.Instance{}, err
	}
	inst, err := s.be.Instance(ctx, backend.Person(r.owner), r.guid)
	if err != nil {
		return api.Instance{}, fmt.Errorf("reading %q (%s) as %s: %w", title, r.guid, r.owner, err)
	}
	return inst, nil
}

func describe(i api.Instance) string {
	where := i.Status
	switch {
	case i.PartitionID != "":
		where += " on " + i.ComputerID + "/" + i.PartitionID
	case i.HostGUID != "":
		where += " hosted by " + i.HostGUID
	case i.PendingReason != "":
		where += " (" + i.PendingReason + ")"
	}
	return fmt.Sprintf("%q %s v%d requested %s reported %q %s", i.Title, i.GUID, i.Version, i.RequestedState, i.ReportedState, where)
}

func isAllocatedOn(ctx context.Context, title, computerID string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.Status != api.StatusAllocated || i.ComputerID != computerID {
		return fmt.Errorf("expected allocated on %s: %s", computerID, describe(i))
	}
	return nil
}

// rangeAllocatedOn checks where the instances titled prefix-from to
// prefix-to are: all on one computer.
func rangeAllocatedOn(ctx context.Context, prefix string, from, to int, computerID string) error {
	if from < 1 || to < from {
		return fmt.Errorf("instances %q %d to %d: expected 1 <= from <= to", prefix, from, to)
	}
	var elsewhere []string
	for i := from; i <= to; i++ {
		inst, err := current(ctx, prefix+"-"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		if inst.Status != api.StatusAllocated || inst.ComputerID != computerID {
			elsewhere = append(elsewhere, describe(inst))
		}
	}
	if len(elsewhere) > 0 {
		return fmt.Errorf("%d of instances %q %d to %d are not allocated on %s, e.g. %s", len(elsewhere), prefix, from, to, computerID, elsewhere[0])
	}
	return nil
}

func isAllocatedOnPartition(ctx context.Context, title, computerID, partitionID string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.Status != api.StatusAllocated || i.ComputerID != computerID || i.PartitionID != partitionID {
		return fmt.Errorf("expected allocated on %s/%s: %s", computerID, partitionID, describe(i))
	}
	return nil
}

func isPending(ctx context.Context, title, words string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.Status != api.StatusPending || !strings.Contains(i.PendingReason, words) {
		return fmt.Errorf("expected pending with a reason mentioning %q: %s", words, describe(i))
	}
	return nil
}

func pendingInclude(ctx context.Context, title string) error {
	s := scenarioOf(ctx)
	r, err := s.instance(title)
	if err != nil {
		return err
	}
	list, err := s.be.Pending(ctx)
	if err != nil {
		return err
	}
	for _, p := range list {
		if p.GUID == r.guid {
			if p.Reason == "" {
				return fmt.Errorf("%q is pending without a reason", title)
			}
			return nil
		}
	}
	return fmt.Errorf("%q (%s) is not among the %d pending requests", title, r.guid, len(list))
}

func isReported(ctx context.Context, title, state string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if string(i.ReportedState) != state {
		return fmt.Errorf("expected reported %s: %s (error %q)", state, describe(i), i.ReportedError)
	}
	return nil
}

func isReportedInError(ctx context.Context, title, words string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.ReportedState != model.ReportedError || !strings.Contains(strings.ToLower(i.ReportedError), strings.ToLower(words)) {
		return fmt.Errorf("expected reported in error mentioning %q: %s (error %q)", words, describe(i), i.ReportedError)
	}
	return nil
}

func allReportedStarted(ctx context.Context, n int, prefix string) error {
	var bad []string
	for i := 1; i <= n; i++ {
		inst, err := current(ctx, prefix+"-"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		if inst.ReportedState != model.ReportedStarted {
			bad = append(bad, describe(inst))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d instances are not reported started, e.g. %s", len(bad), n, bad[0])
	}
	return nil
}

func isRequested(ctx context.Context, title, state string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if string(i.RequestedState) != state {
		return fmt.Errorf("expected requested %s: %s", state, describe(i))
	}
	return nil
}

func isDestroyed(ctx context.Context, title string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.Status != api.StatusDestroyed {
		return fmt.Errorf("expected destroyed: %s", describe(i))
	}
	return nil
}

func publishes(ctx context.Context, title, key string) error {
	return publishesContaining(ctx, title, key, "")
}

func publishesContaining(ctx context.Context, title, key, part string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	v, ok := i.Connection[key]
	if !ok || v == "" {
		return fmt.Errorf("%q publishes no %q (connection parameters: %s)", title, key, keyValues(i.Connection))
	}
	if !strings.Contains(v, part) {
		return fmt.Errorf("%q publishes %s=%q, which does not contain %q", title, key, v, part)
	}
	return nil
}

func hasSoftwareType(ctx context.Context, title, stype string) error {
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.SoftwareType != stype {
		return fmt.Errorf("%q has software type %q, expected %q", title, i.SoftwareType, stype)
	}
	return nil
}

func belongsToTree(ctx context.Context, title, root string) error {
	s := scenarioOf(ctx)
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	rr, err := s.instance(root)
	if err != nil {
		return err
	}
	if i.RootTitle != root || i.Owner != rr.owner {
		return fmt.Errorf("%q has root %q and owner %q, expected root %q of %q", title, i.RootTitle, i.Owner, root, rr.owner)
	}
	return nil
}

func isHostedBy(ctx context.Context, title, host string) error {
	s := scenarioOf(ctx)
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	h, err := s.instance(host)
	if err != nil {
		return err
	}
	if !i.Shared || i.HostGUID != h.guid || i.Status != api.StatusAllocated {
		return fmt.Errorf("expected hosted by %q (%s): %s", host, h.guid, describe(i))
	}
	return nil
}

func hostsNoShared(ctx context.Context, title string) error {
	s := scenarioOf(ctx)
	h, err := current(ctx, title)
	if err != nil {
		return err
	}
	v, err := s.be.ComputerView(ctx, backend.Computer(h.ComputerID), h.ComputerID)
	if err != nil {
		return err
	}
	for _, p := range v.Partitions {
		if p.InstanceGUID == h.GUID && len(p.SharedInstances) > 0 {
			return fmt.Errorf("%q still hosts %d shared instances, e.g. %s", title, len(p.SharedInstances), p.SharedInstances[0].GUID)
		}
	}
	return nil
}

func keptGUIDAndVersion(ctx context.Context, title string) error {
	r, err := scenarioOf(ctx).instance(title)
	if err != nil {
		return err
	}
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.GUID != r.first.GUID || i.Version != r.first.Version {
		return fmt.Errorf("%q was %s v%d, it is now %s v%d", title, r.first.GUID, r.first.Version, i.GUID, i.Version)
	}
	return nil
}

func keptGUIDNewVersion(ctx context.Context, title string) error {
	r, err := scenarioOf(ctx).instance(title)
	if err != nil {
		return err
	}
	i, err := current(ctx, title)
	if err != nil {
		return err
	}
	if i.GUID != r.first.GUID || i.Version <= r.first.Version {
		return fmt.Errorf("%q was %s v%d, it is now %s v%d: expected the same guid with a newer version", title, r.first.GUID, r.first.Version, i.GUID, i.Version)
	}
	return nil
}

func hasNewGUID(ctx context.Context, title string) error {
	r, err := scenarioOf(ctx).instance(title)
	if err != nil {
		return err
	}
	if len(r.earlier) == 0 {
		return fmt.Errorf("%q has had one guid only: %s", title, r.guid)
	}
	for _, g := range r.earlier {
		if g == r.guid {
			return fmt.Errorf("%q got back an earlier guid %s", title, g)
		}
	}
	return nil
}

func hasInstances(ctx context.Context, person string, n int) error {
	s := scenarioOf(ctx)
	list, err := instancesOf(ctx, s, person)
	if err != nil {
		return err
	}
	if len(list) != n {
		var titles []string
		for _, i := range list {
			titles = append(titles, i.Title)
		}
		return fmt.Errorf("%s has %d live instances %v, expected %d", person, len(list), titles, n)
	}
	return nil
}

// instancesOf lists a person's live instances.
func instancesOf(ctx context.Context, s *Scenario, person string) ([]api.Instance, error) {
	all, err := s.be.Instances(ctx, backend.Person(person))
	if err != nil {
		return nil, err
	}
	var out []api.Instance
	for _, i := range all {
		if i.Status != api.StatusDestroyed {
			out = append(out, i)
		}
	}
	return out, nil
}

// keyValues renders m as "k=v k=v", keys sorted.
func keyValues(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, m[k])
	}
	return b.String()
}
