package sim

import (
	"errors"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// errMasterDown is what a client sees when the master cannot be reached, or
// went down before it handled the command.
var errMasterDown = errors.New("sim: master unreachable")

// pendingCmd is a command sent to the master and not applied yet.
type pendingCmd struct {
	cmd   master.Command
	done  func(master.Result, error)
	epoch uint32 // master epoch when sent: an outage in between loses it
	bind  int32  // instance record a new instance binds to, or -1
}

// submit sends a command to the master. It arrives after latency and waits
// its turn: the master applies commands one at a time (one writer), each
// taking master.command_cost. done (may be nil) runs when the command is
// applied, or at once with errMasterDown when the master is down.
//
// NB commands are served in the order they were sent, whatever their
// latency: the queue is first come, first served at the sender.
func (s *engine) submit(latency time.Duration, cmd master.Command, done func(master.Result, error)) {
	s.submitBind(latency, cmd, -1, done)
}

// submitBind is submit for the request of a new instance: the instance
// core/master creates binds to record bind.
func (s *engine) submitBind(latency time.Duration, cmd master.Command, bind int32, done func(master.Result, error)) {
	if !s.masterUp {
		if done != nil {
			done(master.Result{}, errMasterDown)
		}
		return
	}
	arrive := s.now + int64(latency)
	start := max(arrive, s.masterFreeAt)
	at := start + int64(s.sc.Master.CommandCost.Sample(s.rMaster))
	s.masterFreeAt = at
	var ref int32
	if n := len(s.freeCmds); n > 0 {
		ref = s.freeCmds[n-1]
		s.freeCmds = s.freeCmds[:n-1]
		s.cmds[ref] = pendingCmd{cmd: cmd, done: done, epoch: s.masterEpoch, bind: bind}
	} else {
		s.cmds = append(s.cmds, pendingCmd{cmd: cmd, done: done, epoch: s.masterEpoch, bind: bind})
		ref = int32(len(s.cmds) - 1)
	}
	s.masterQueue++
	s.peakMQueue = max(s.peakMQueue, s.masterQueue)
	s.schedule(evMasterApply, at, -1, ref)
}

func (s *engine) masterApply(ref int32) {
	p := s.cmds[ref]
	s.cmds[ref] = pendingCmd{}
	s.freeCmds = append(s.freeCmds, ref)
	s.masterQueue--
	if p.epoch != s.masterEpoch || !s.masterUp {
		s.stats.CommandsLost++
		if p.done != nil {
			p.done(master.Result{}, errMasterDown)
		}
		return
	}
	s.binding = p.bind
	res, err := s.apply(p.cmd)
	s.binding = -1
	if p.done != nil {
		p.done(res, err)
	}
}

// applyNow applies a command at once, without queue or cost (setup).
func (s *engine) applyNow(cmd master.Command) (master.Result, error) {
	return s.apply(cmd)
}

// apply hands one command to core/master, hashes it into the trace and
// checks the invariants on the mutations it made.
func (s *engine) apply(cmd master.Command) (master.Result, error) {
	res, muts, err := s.m.Apply(s.time(), cmd)
	s.stats.Commands++
	s.traceCommand(cmd, res, err)
	if err != nil {
		s.stats.CommandErrors++
		return res, err
	}
	s.observe(muts)
	return res, nil
}

func (s *engine) traceCommand(cmd master.Command, res master.Result, err error) {
	t := s.trace
	t.begin(s.now, cmd.CommandName())
	switch c := cmd.(type) {
	case master.Request:
		t.str("by", c.By.ID)
		t.str("title", c.Title)
		t.str("state", string(c.State))
		t.str("rev", c.Parameters["rev"])
	case master.ReportPartition:
		t.str("part", c.ComputerID+"/"+c.PartitionID)
		t.str("state", string(c.State))
	case master.PartitionDestroyed:
		t.str("part", c.ComputerID+"/"+c.PartitionID)
	case master.ReportSoftware:
		t.str("computer", c.ComputerID)
		t.str("url", c.URL)
		t.str("state", string(c.State))
	case master.SetCapacity:
		t.str("computer", c.ComputerID)
	case master.Supply:
		t.str("computer", c.ComputerID)
		t.str("url", c.URL)
	case master.Bang:
		t.str("guid", c.InstanceGUID)
	case master.PostUsage:
		t.str("computer", c.ComputerID)
	case master.RegisterComputer:
		t.str("computer", c.ID)
	case master.AddPerson:
		t.str("person", c.ID)
	}
	if err != nil {
		t.str("err", errorClass(err))
	} else {
		if i := res.Instance; i != nil {
			t.str("guid", i.GUID)
			t.str("status", i.Status)
			t.str("at", i.ComputerID+"/"+i.PartitionID)
			t.num("v", i.Version)
		}
		if res.Placed > 0 {
			t.num("placed", uint64(res.Placed))
		}
	}
	t.end()
}

// errorClass names the sentinel an error of core/master wraps.
func errorClass(err error) string {
	switch {
	case errors.Is(err, master.ErrNotFound):
		return "not-found"
	case errors.Is(err, master.ErrForbidden):
		return "forbidden"
	case errors.Is(err, master.ErrConflict):
		return "conflict"
	case errors.Is(err, model.ErrInvalid):
		return "invalid"
	case errors.Is(err, errMasterDown):
		return "unreachable"
	}
	return "other"
}
