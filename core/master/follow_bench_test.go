package master_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// followGrid builds a grid of n instances (100 partitions per computer,
// all allocated) and returns its state with the commits of 64 bangs, as a
// store reads them back.
func followGrid(b *testing.B, n int) (*master.State, [][]master.Mutation) {
	b.Helper()
	s := master.New(master.DefaultConfig())
	now := t0
	must := func(cmd master.Command) master.Result {
		res, _, err := s.Apply(now, cmd)
		if err != nil {
			b.Fatalf("%s: %v", cmd.CommandName(), err)
		}
		return res
	}
	must(master.AddPerson{By: model.Admin, ID: "alice"})
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	const perComputer = 100
	for c := range (n + perComputer - 1) / perComputer {
		id := fmt.Sprintf("COMP-%d", c)
		must(master.RegisterComputer{By: alice, ID: id, Region: "eu"})
		var specs []master.PartitionSpec
		for p := range perComputer {
			specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p),
				Addresses: []model.Address{{Iface: "lo", Addr: fmt.Sprintf("10.%d.%d.%d", c/256, c%256, p)}}})
		}
		must(master.SetCapacity{By: model.Actor{Kind: model.KindComputer, ID: id}, ComputerID: id, Partitions: specs})
		must(master.Supply{By: alice, ComputerID: id, URL: sr, State: model.SoftwareAvailable})
	}
	var guids []string
	for i := range n {
		res := must(master.Request{By: alice, Title: fmt.Sprintf("i%d", i), SoftwareRelease: sr})
		guids = append(guids, res.Instance.GUID)
	}
	var commits [][]master.Mutation
	for i := range 64 {
		now = now.Add(time.Second)
		_, muts, err := s.Apply(now, master.Bang{By: alice, InstanceGUID: guids[i*(n/64)], Message: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		commits = append(commits, storedForBench(b, muts))
	}
	return s, commits
}

func storedForBench(b *testing.B, muts []master.Mutation) []master.Mutation {
	b.Helper()
	var out []master.Mutation
	for _, m := range muts {
		data, err := m.Encode()
		if err != nil {
			b.Fatal(err)
		}
		d, err := master.DecodeEntity(m.Kind, m.Key, data)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// BenchmarkFollowerRound: what a follower spends on one round of log reads
// holding one commit (a bang), by grid size. "restore" is the whole state
// rebuilt from every entity (what a follower did before it applied commits
// in place), "in-place" is core/master.ApplyPersisted of that commit.
func BenchmarkFollowerRound(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		s, commits := followGrid(b, n)
		entities := storedForBench(b, s.Snapshot())
		b.Run(fmt.Sprintf("instances=%d/restore", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := master.Restore(s.Config(), entities); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("instances=%d/in-place", n), func(b *testing.B) {
			follower, err := master.Restore(s.Config(), entities)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := follower.ApplyPersisted(commits[i%len(commits)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
