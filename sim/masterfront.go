package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// errMasterDown is what a client sees when the master cannot be reached, or
// went down before it handled the command.
var errMasterDown = errors.New("sim: master unreachable")

// pendingCmd is a command sent to the master and not applied yet, and
// what to do with its result (settle).
type pendingCmd struct {
	cmd   master.Command
	done  func(master.Result, error)
	epoch uint32 // master epoch when it arrived: an outage in between loses it
	bind  int32  // instance record a new instance binds to, or -1
	// The commands sent most are settled from these, not by a closure
	// (one allocation less each): a node's report or publication, the
	// request of a new instance (bind).
	settle settleKind
	node   int32 // the node that sent the report or publication
	rep    agent.Report
	pub    agent.Publication
}

// settleKind says how a pendingCmd without done is settled.
type settleKind uint8

const (
	settleNothing     settleKind = iota
	settleReport                 // reportSettled(node, rep)
	settlePublication            // publicationSettled(node, pub)
	settleNewInstance            // newRequestDone(bind)
)

// submit sends a command to the master. It arrives after latency and
// queues in arrival order behind the commands that arrived before it: the
// master applies commands one at a time (one writer), each taking
// master.command_cost. done (may be nil) runs when the command is applied,
// or with errMasterDown when the master is down when it is sent or when it
// arrives, or goes down before applying it.
func (s *engine) submit(latency time.Duration, cmd master.Command, done func(master.Result, error)) {
	s.send(latency, pendingCmd{cmd: cmd, done: done, bind: -1})
}

// submitNew is submit for the request of a new instance: the instance
// core/master creates binds to record ii, and newRequestDone settles it.
func (s *engine) submitNew(latency time.Duration, cmd master.Command, ii int32) {
	s.send(latency, pendingCmd{cmd: cmd, bind: ii, settle: settleNewInstance})
}

// send is submit of p, whose result settle hands on.
func (s *engine) send(latency time.Duration, p pendingCmd) {
	if !s.masterUp {
		s.settle(&p, master.Result{}, errMasterDown)
		return
	}
	var ref int32
	p.epoch = s.masterEpoch
	if n := len(s.freeCmds); n > 0 {
		ref = s.freeCmds[n-1]
		s.freeCmds = s.freeCmds[:n-1]
		s.cmds[ref] = p
	} else {
		s.cmds = append(s.cmds, p)
		ref = int32(len(s.cmds) - 1)
	}
	s.inTransit++
	s.schedule(evMasterArrive, s.now+int64(latency), -1, ref)
}

// settle hands the result of p on: to its done, or as its settle says.
func (s *engine) settle(p *pendingCmd, res master.Result, err error) {
	if p.done != nil {
		p.done(res, err)
		return
	}
	switch p.settle {
	case settleReport:
		s.reportSettled(s.nodes[p.node], p.rep, err)
	case settlePublication:
		s.publicationSettled(s.nodes[p.node], p.pub, err)
	case settleNewInstance:
		s.newRequestDone(p.bind, res, err)
	}
}

// masterArrive: a command reaches the master and takes its place in the
// queue (arrival order); an idle master starts on it at once.
func (s *engine) masterArrive(ref int32) {
	s.inTransit--
	if !s.masterUp || s.cmds[ref].epoch != s.masterEpoch {
		s.loseCmd(ref)
		return
	}
	s.mqueue = append(s.mqueue, ref)
	s.peakMQueue = max(s.peakMQueue, len(s.mqueue)-s.mhead)
	if !s.masterBusy {
		s.serveNext()
	}
}

// serveNext starts applying the command at the head of the queue.
func (s *engine) serveNext() {
	if s.mhead == len(s.mqueue) {
		s.mqueue, s.mhead = s.mqueue[:0], 0
		s.masterBusy = false
		return
	}
	s.masterBusy = true
	ref := s.mqueue[s.mhead]
	s.mhead++
	s.schedule(evMasterApply, s.now+int64(s.sc.Master.CommandCost.Sample(s.rMaster)), -1, ref)
}

func (s *engine) loseCmd(ref int32) {
	p := s.cmds[ref]
	s.cmds[ref] = pendingCmd{}
	s.freeCmds = append(s.freeCmds, ref)
	s.stats.CommandsLost++
	s.settle(&p, master.Result{}, errMasterDown)
}

func (s *engine) masterApply(ref int32) {
	p := s.cmds[ref]
	if p.epoch != s.masterEpoch || !s.masterUp {
		s.loseCmd(ref)
		return
	}
	s.cmds[ref] = pendingCmd{}
	s.freeCmds = append(s.freeCmds, ref)
	s.binding = p.bind
	res, err := s.apply(p.cmd)
	s.binding = -1
	s.settle(&p, res, err)
	s.serveNext()
}

// masterQueue is the number of commands sent and not applied yet: in
// transit, queued at the master and in service.
func (s *engine) masterQueue() int {
	q := s.inTransit + len(s.mqueue) - s.mhead
	if s.masterBusy {
		q++
	}
	return q
}

// masterCrash stops the master: the commands queued or in service are
// lost (their senders see errMasterDown), those in transit are lost on
// arrival. What the master wrote stays in its durable store: the entities
// of its state, every command having been written before it was answered
// (master.State.Snapshot).
func (s *engine) masterCrash() {
	s.masterUp = false
	s.masterEpoch++
	for _, ref := range s.mqueue[s.mhead:] {
		s.loseCmd(ref)
	}
	s.mqueue, s.mhead, s.masterBusy = s.mqueue[:0], 0, false
	s.store = s.m.Snapshot()
}

// masterRestart starts the master again from its durable store: the
// entities it wrote, encoded and decoded as a database would, rebuilt by
// master.Restore.
func (s *engine) masterRestart() error {
	entities := make([]master.Mutation, 0, len(s.store))
	for _, m := range s.store {
		data, err := m.Encode()
		if err != nil {
			return fmt.Errorf("sim: master restart: encoding %s %s: %w", m.Kind, m.Key, err)
		}
		d, err := master.DecodeEntity(m.Kind, m.Key, data)
		if err != nil {
			return fmt.Errorf("sim: master restart: decoding %s %s: %w", m.Kind, m.Key, err)
		}
		entities = append(entities, d)
	}
	st, err := master.Restore(s.m.Config(), entities)
	if err != nil {
		return fmt.Errorf("sim: master restart: %w", err)
	}
	s.m, s.store = st, nil
	s.masterUp = true
	s.stats.MasterRestarts++
	t := s.trace
	t.begin(s.now, "master-restart")
	t.num("entities", uint64(len(entities)))
	t.end()
	return nil
}

// applyNow applies a command at once, without queue or cost (setup).
func (s *engine) applyNow(cmd master.Command) (master.Result, error) {
	return s.apply(cmd)
}

// apply hands one command to core/master, hashes it into the trace and
// checks the invariants on the mutations it made.
func (s *engine) apply(cmd master.Command) (master.Result, error) {
	res, muts, err := s.m.Apply(s.time(), cmd)
	s.applied(cmd, res, muts, err)
	return res, err
}

// applied follows one command core/master applied: counted, traced, its
// mutations observed.
func (s *engine) applied(cmd master.Command, res master.Result, muts []master.Mutation, err error) {
	s.stats.Commands++
	s.traceCommand(cmd, res, err)
	if err != nil {
		s.stats.CommandErrors++
		return
	}
	s.observe(muts)
}

// seed applies commands at once, as applyNow one after the other, in one
// batch of core/master (State.Seed: setup only, the store is a snapshot):
// after command k it calls after (may be nil) as applyNow's caller would
// have with its answer.
func (s *engine) seed(cmds []master.Command, after func(k int, res master.Result, err error)) {
	s.m.Seed(s.time(), cmds, func(k int, res master.Result, changed []master.Mutation, err error) {
		s.applied(cmds[k], res, changed, err)
		if after != nil {
			after(k, res, err)
		}
	})
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
		t.pair("part", c.ComputerID, c.PartitionID)
		t.str("state", string(c.State))
	case master.PartitionDestroyed:
		t.pair("part", c.ComputerID, c.PartitionID)
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
	case master.SetConnection:
		t.pair("part", c.ComputerID, c.PartitionID)
		if c.SharedGUID != "" {
			t.str("shared", c.SharedGUID)
		}
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
			t.pair("at", i.ComputerID, i.PartitionID)
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
