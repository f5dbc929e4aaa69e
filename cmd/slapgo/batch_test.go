package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The batch manifests under fixtures/batch run one sweep's shards: the
// Kubernetes Indexed Job's shard count is its completions, the merge Job
// lists every shard, the Nomad job runs the same sweep, and a shard's
// command line runs as written (here shortened to 20 virtual minutes).
func TestBatchManifests(t *testing.T) {
	data, err := os.ReadFile("../../fixtures/batch/sweep-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		Kind     string
		Metadata struct{ Name string }
		Spec     struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Template       struct {
				Spec struct {
					Containers []struct{ Command []string }
				}
			}
		}
	}
	var shardCmd, mergeCmd []string
	completions := 0
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var j job
		if err := dec.Decode(&j); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if j.Kind != "Job" {
			continue
		}
		cmd := j.Spec.Template.Spec.Containers[0].Command
		if j.Spec.CompletionMode == "Indexed" {
			shardCmd, completions = cmd, j.Spec.Completions
		} else {
			mergeCmd = cmd
		}
	}
	if completions < 2 || len(shardCmd) < 4 || shardCmd[0] != "/slapgo" {
		t.Fatalf("no indexed sweep job: completions %d, command %v", completions, shardCmd)
	}
	k := slices.Index(shardCmd, "--shard")
	if k < 0 || shardCmd[k+1] != "$(JOB_COMPLETION_INDEX)/"+strconv.Itoa(completions) {
		t.Errorf("--shard %v does not match completions %d", shardCmd, completions)
	}
	shards := 0
	for _, a := range mergeCmd {
		if strings.HasPrefix(a, "/out/shard-") {
			shards++
		}
	}
	if !slices.Equal(mergeCmd[:4], []string{"/slapgo", "sim", "sweep", "merge"}) || shards != completions {
		t.Errorf("merge job %v: %d shards, want %d", mergeCmd, shards, completions)
	}

	// The Nomad job runs the same sweep.
	hcl, err := os.ReadFile("../../fixtures/batch/sweep.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)args = \[(.*?)\]`).FindSubmatch(hcl)
	if m == nil {
		t.Fatal("sweep.nomad.hcl: no args")
	}
	var nomadArgs []string
	for _, q := range regexp.MustCompile(`"([^"]*)"`).FindAllSubmatch(m[1], -1) {
		nomadArgs = append(nomadArgs, string(q[1]))
	}
	norm := func(args []string, scenarioDir, shard, out string) []string {
		var r []string
		for _, a := range args {
			a = strings.Replace(a, scenarioDir, "SCENARIOS/", 1)
			a = strings.NewReplacer(shard, "I/N", out, "OUT").Replace(a)
			r = append(r, a)
		}
		return r
	}
	kube := norm(shardCmd[1:], "/scenarios/", "$(JOB_COMPLETION_INDEX)/"+strconv.Itoa(completions), "/out/shard-$(JOB_COMPLETION_INDEX)")
	nomad := norm(nomadArgs, "/opt/slapgo/scenarios/", "${NOMAD_META_shard}/${NOMAD_META_shards}", "/srv/slapgo-sweep/shard-${NOMAD_META_shard}")
	if !slices.Equal(kube, nomad) {
		t.Errorf("the Kubernetes and Nomad jobs run different sweeps:\n%v\n%v", kube, nomad)
	}

	// Shard 0 as the pod would run it, on the repository's scenario.
	out := t.TempDir()
	args := slices.Clone(shardCmd[1:])
	for i, a := range args {
		a = strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", "0")
		a = strings.Replace(a, "/scenarios/", "../../fixtures/scenarios/", 1)
		if strings.HasPrefix(a, "/out/") {
			a = filepath.Join(out, strings.TrimPrefix(a, "/out/"))
		}
		args[i] = a
	}
	stdout, stderr, run := simRoot()
	if code := run(append(args, "--set", "duration=20m", "--workers", "2")...); code != 0 {
		t.Fatalf("shard 0: exit %d: %s %s", code, stdout, stderr)
	}
	runs, err := os.ReadFile(filepath.Join(out, "shard-0", "runs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(runs), "\n") - 1; n < 2 {
		t.Errorf("shard 0 ran %d runs", n)
	}
}
