package agent

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

// randomView draws a view of up to 12 partitions: started, stopped,
// destroyed or free, on two releases.
func randomView(r *rand.Rand, version uint64) *model.ComputerView {
	v := &model.ComputerView{ComputerID: "COMP-1", Version: version, Software: []model.SoftwareView{
		{URL: swA, Requested: model.SoftwareAvailable}, {URL: swB, Requested: model.SoftwareAvailable}}}
	states := []model.RequestedState{model.StateStarted, model.StateStarted, model.StateStopped, model.StateDestroyed}
	for i := range r.IntN(13) {
		p := model.PartitionView{ID: fmt.Sprintf("slappart%d", i), RequestedState: model.StateDestroyed, Version: uint64(r.IntN(4))}
		if r.IntN(5) > 0 {
			p.InstanceGUID = fmt.Sprintf("S-%d", r.IntN(20))
			p.SoftwareRelease = []string{swA, swB}[r.IntN(2)]
			p.RequestedState = states[r.IntN(len(states))]
		}
		v.Partitions = append(v.Partitions, p)
	}
	return v
}

// simExecutor is a small model of a node and its master: builds finish
// after a while, the master is away at random, effects fail at random.
type simExecutor struct {
	r        *rand.Rand
	now      time.Time
	view     *model.ComputerView
	sent     uint64
	away     bool
	failRate float64
	builds   []string
	// delivered: reports the master received, in order; published: the
	// publications it took, in order.
	delivered []Report
	published []Publication
	configs   int // configurations done
	inFlight  int
	maxFlight int
}

func (x *simExecutor) step(t *testing.T, a *Agent) (Effect, bool) {
	t.Helper()
	e := a.Next(x.now)
	if e.Kind == Sleep {
		if e.Until.Before(x.now) && !e.Until.IsZero() {
			// Allowed only when woken: the next Next starts the pass.
			if a.Next(x.now).Kind == Sleep {
				t.Fatalf("sleep until %v, in the past of %v", e.Until, x.now)
			}
		}
		return e, false
	}
	if e.Kind == RunAction {
		x.inFlight++
		x.maxFlight = max(x.maxFlight, x.inFlight)
	}
	x.now = x.now.Add(time.Duration(1+x.r.IntN(20)) * time.Second)
	var o Outcome
	fail := x.r.Float64() < x.failRate
	switch e.Kind {
	case FetchView:
		switch {
		case x.away:
			o = Unreachable(nil)
		case a.View() != nil && x.sent == x.view.Version:
			o = NotModified()
		default:
			x.sent = x.view.Version
			o = ViewFetched(x.view)
		}
	case SendReport:
		switch {
		case x.away:
			o = Unreachable(nil)
		default:
			x.delivered = append(x.delivered, e.Report)
		}
	case Build:
		x.builds = append(x.builds, e.Action.URL)
	case RunAction:
		x.inFlight--
		if fail {
			o = Failed(errors.New("random failure"))
		} else if e.Action.Kind == converge.ConfigurePartition {
			x.configs++
			o = Configured(map[string]string{"url": fmt.Sprintf("http://%s/%s/v%d", e.Action.PartitionID, e.Action.InstanceGUID, e.Action.Version),
				"n": strconv.Itoa(x.configs)}, nil)
		}
	case Publish:
		if x.away {
			o = Unreachable(nil)
		}
	case CheckPromises:
		if fail {
			o = Failed(errors.New("promise failed"))
		}
	}
	if e.Kind == Publish && o.Err == nil {
		if fail {
			o = Failed(errors.New("master: 500"))
		} else {
			x.published = append(x.published, Publication{PartitionID: e.PartitionID, InstanceGUID: e.InstanceGUID,
				SharedGUID: e.SharedGUID, Parameters: e.Parameters})
		}
	}
	if err := a.Done(x.now, o); err != nil {
		t.Fatalf("Done(%s): %v", e, err)
	}
	return e, true
}

// runFor drives the agent for d of virtual time, finishing builds as it
// goes, and returns the effects run.
func (x *simExecutor) runFor(t *testing.T, a *Agent, d time.Duration) []Effect {
	t.Helper()
	end := x.now.Add(d)
	var out []Effect
	for x.now.Before(end) || a.Busy() {
		e, ran := x.step(t, a)
		if ran {
			out = append(out, e)
			continue
		}
		next := e.Until
		if len(x.builds) > 0 {
			next = x.now.Add(time.Minute)
		}
		if next.After(end) {
			x.now = end
			break
		}
		x.now = next
		if len(x.builds) > 0 {
			url := x.builds[0]
			x.builds = x.builds[1:]
			var err error
			if x.r.Float64() < x.failRate {
				err = errors.New("build failed")
			}
			a.BuildDone(x.now, url, err)
		}
	}
	return out
}

// TestPropertyConverges: whatever the view, the outages and the random
// failures, once failures stop and the master stays, the node converges;
// then a pass runs no action, publishes nothing and reports nothing; one
// action at a time; and the last state each partition reported is what
// the view asks.
func TestPropertyConverges(t *testing.T) {
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			cfg := Config{PollInterval: time.Minute, Converge: converge.Config{RetryBase: time.Minute, RetryMax: 10 * time.Minute}}
			act := installed()
			if r.IntN(2) == 0 {
				act = installed(swA)
			}
			a := New(cfg, act)
			x := &simExecutor{r: r, now: t0, view: randomView(r, 1), failRate: 0.3}
			for round := range 4 {
				x.away = r.IntN(3) == 0
				x.runFor(t, a, time.Duration(r.IntN(30))*time.Minute)
				if r.IntN(2) == 0 {
					x.view = randomView(r, uint64(round+2))
				}
			}
			x.away, x.failRate = false, 0
			x.runFor(t, a, 3*time.Hour)
			if x.maxFlight != 1 && x.maxFlight != 0 {
				t.Fatalf("%d actions in flight at once", x.maxFlight)
			}
			if !a.Converged() {
				t.Fatalf("not converged after 3 healthy hours: outbox %q, offline %d, building %v, dirty %v, unsettled %v, stage %d, plan %+v, software %+v",
					reportLines(a.Outbox()), a.Offline(), a.building, a.dirty, a.unsettled, a.stage, a.Plan(), a.actual.Software)
			}
			a.Wake()
			for _, e := range x.runFor(t, a, 30*time.Second) {
				switch {
				case e.Kind == SendReport && e.Report.Kind == ReportDestroyed:
					// Told again while the view shows it busy: this
					// master never frees partitions.
				case e.Kind == RunAction, e.Kind == Publish, e.Kind == SendReport, e.Kind == Build:
					t.Errorf("a converged node's pass ran %s", e)
				}
			}
			last := map[string]Report{}
			for _, rep := range x.delivered {
				if rep.Kind == ReportState {
					last[rep.PartitionID] = rep
				}
			}
			for _, p := range x.view.Partitions {
				rep, ok := last[p.ID]
				if p.InstanceGUID == "" || p.RequestedState == model.StateDestroyed || !ok {
					continue
				}
				if string(rep.State) != string(p.RequestedState) || rep.InstanceGUID != p.InstanceGUID {
					t.Errorf("%s: last report %+v, view asks %s %s", p.ID, rep, p.InstanceGUID, p.RequestedState)
				}
			}
			evs := a.Events(nil, 0)
			for i := 1; i < len(evs); i++ {
				if evs[i].Kind == evs[i-1].Kind {
					t.Fatalf("events %+v then %+v: starts and ends do not alternate", evs[i-1], evs[i])
				}
				if evs[i].At.Before(evs[i-1].At) {
					t.Fatalf("events go back in time: %+v then %+v", evs[i-1], evs[i])
				}
			}
		})
	}
}

// TestPropertyOutboxOrder: reports kept while the master is away reach it
// in the order they were kept, each subject's latest only.
func TestPropertyOutboxOrder(t *testing.T) {
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 11))
		a := New(Config{}, installed(swA))
		x := &simExecutor{r: r, now: t0, view: view(1)}
		x.runFor(t, a, time.Minute)
		x.away = true
		var want []Report
		for range 1 + r.IntN(20) {
			rep := Report{Kind: ReportState, PartitionID: fmt.Sprintf("slappart%d", r.IntN(5)),
				State: []model.ReportedState{model.ReportedStarted, model.ReportedError}[r.IntN(2)], Error: fmt.Sprint(r.IntN(1000))}
			a.Keep(rep)
			if i := slices.IndexFunc(want, func(w Report) bool { return w.PartitionID == rep.PartitionID }); i >= 0 {
				want[i] = rep
			} else {
				want = append(want, rep)
			}
			x.runFor(t, a, time.Duration(r.IntN(5))*time.Minute)
		}
		if !slices.Equal(a.Outbox(), want) {
			t.Fatalf("seed %d: outbox while away = %q, want %q", seed, reportLines(a.Outbox()), reportLines(want))
		}
		x.away = false
		x.delivered = nil
		x.runFor(t, a, 2*time.Hour) // the offline back-off reaches RetryMax (1h)
		if !slices.Equal(x.delivered, want) {
			t.Fatalf("seed %d: delivered %q, want %q", seed, reportLines(x.delivered), reportLines(want))
		}
	}
}
