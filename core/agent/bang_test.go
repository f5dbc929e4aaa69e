package agent

import "testing"

func TestBangs(t *testing.T) {
	type step struct {
		op   string // deployed, stopped, forget, died
		part string
		d    Deployment
		want bool // died: banged
	}
	v1, v2 := Deployment{"S-1", 1}, Deployment{"S-1", 2}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"nothing deployed", []step{{op: "died", part: "p0"}}},
		{"once per deployment", []step{
			{op: "deployed", part: "p0", d: v1},
			{op: "died", part: "p0", want: true},
			{op: "died", part: "p0"},
			{op: "deployed", part: "p0", d: v1}, // restarted, same version
			{op: "died", part: "p0"},
		}},
		{"a new version bangs again", []step{
			{op: "deployed", part: "p0", d: v1},
			{op: "died", part: "p0", want: true},
			{op: "deployed", part: "p0", d: v2},
			{op: "died", part: "p0", want: true},
		}},
		{"version 0 bangs once too", []step{
			{op: "deployed", part: "p0", d: Deployment{"S-1", 0}},
			{op: "died", part: "p0", want: true},
			{op: "died", part: "p0"},
		}},
		{"stopped programs bang nothing", []step{
			{op: "deployed", part: "p0", d: v1},
			{op: "stopped", part: "p0"},
			{op: "died", part: "p0"},
		}},
		{"a destroyed partition's next instance bangs", []step{
			{op: "deployed", part: "p0", d: v1},
			{op: "died", part: "p0", want: true},
			{op: "forget", part: "p0"},
			{op: "deployed", part: "p0", d: Deployment{"S-2", 1}},
			{op: "died", part: "p0", want: true},
		}},
		{"partitions are independent", []step{
			{op: "deployed", part: "p0", d: v1},
			{op: "deployed", part: "p1", d: Deployment{"S-9", 1}},
			{op: "died", part: "p0", want: true},
			{op: "died", part: "p1", want: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBangs()
			deployed := map[string]Deployment{}
			for i, s := range tc.steps {
				switch s.op {
				case "deployed":
					b.Deployed(s.part, s.d)
					deployed[s.part] = s.d
				case "stopped":
					b.Stopped(s.part)
				case "forget":
					b.Forget(s.part)
				case "died":
					d, ok := b.ServiceDied(s.part)
					if ok != s.want || (ok && d != deployed[s.part]) {
						t.Errorf("step %d: death in %s banged %v (%+v), want %v", i, s.part, ok, d, s.want)
					}
				}
			}
		})
	}
}
