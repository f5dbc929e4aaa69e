package server

import (
	"slices"
	"testing"
)

func TestReasonLabels(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   []string
	}{
		{"12 computers: 3 no free partition, 9 region!=jp", []string{"free_partition", "region"}},
		{"1 computer: 1 offline", []string{"online"}},
		{"2 computers: 1 attr.gpu!=yes, 1 attr.ssd!=true", []string{"attr."}},
		{"3 computers: 3 something new", []string{"other"}},
		{"no computer registered", []string{"no_computer"}},
		{"computer_guid=COMP-9: no such computer", []string{"computer_guid"}},
		{"instance_guid=SOFTINST-3: not allocated yet", []string{"instance_guid"}},
		{"no started instance of https://x type default to host it", []string{"no_host"}},
		{"its host SOFTINST-1 is being destroyed", []string{"host_destroyed"}},
		{"", []string{"none"}},
		{"whatever", []string{"other"}},
	} {
		got := reasonLabels(tc.reason)
		if tc.want[0] == "attr." {
			// The attribute filter's stable name, whatever alloc calls it.
			if len(got) != 1 || got[0] == "other" {
				t.Errorf("reasonLabels(%q) = %v, want the one attribute filter", tc.reason, got)
			}
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("reasonLabels(%q) = %v, want %v", tc.reason, got, tc.want)
		}
	}
}
