package profile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/slapgo/slapgo/core/model"
)

// Directories of a partition that the supervisor and the promise runner
// read, relative to the partition directory.
const (
	ServiceDir = "etc/service" // long-running services; a dying one bangs its instance
	RunDir     = "etc/run"     // long-running programs
	PromiseDir = "etc/promise" // executables: exit 0 = promise kept
	// DestroyHookFile is the executable run (as the partition user) before a
	// partition is wiped.
	DestroyHookFile = "sbin/destroy"
)

// InstanceContext is everything a partition's deployment depends on.
type InstanceContext struct {
	SoftwareDir  string // built software: SoftwareDir/instance.cfg is read
	PartitionDir string // where the instance's files are written

	ComputerID      string
	PartitionID     string
	InstanceGUID    string
	Title           string
	RootTitle       string
	SoftwareRelease string
	SoftwareType    string // "" means "default"
	Parameters      map[string]string
	Addresses       []model.Address
	SharedInstances []model.SharedView
	RequestedState  model.RequestedState

	MasterURL string
	KeyFile   string
	CertFile  string

	// Cred, when non-nil and the agent is root, owns what is written.
	Cred *syscall.Credential
	// Requester requests a child instance (recipe request) and returns its
	// connection parameters so far. Returning an error fails the deployment;
	// returning no parameters (child not ready) leaves the keys of the
	// request's "return" option empty.
	Requester func(ctx context.Context, r ChildRequest) (connection map[string]string, err error)

	// SlapgoBinary is the slapgo executable that promise scripts call
	// ("slapgo promise port|http …"); "" means os.Executable().
	SlapgoBinary string
	// Log receives one line per part; nil discards.
	Log io.Writer
	// Fetch reads http(s) profiles and templates; nil means DefaultFetch.
	// Local files are read only inside SoftwareDir and PartitionDir, without
	// following links out of them.
	Fetch Fetcher
}

// ChildRequest is an instance requested by a deployment (recipe request).
type ChildRequest struct {
	Section         string // profile section that asked
	Title           string
	SoftwareRelease string
	SoftwareType    string
	Parameters      map[string]string
	SLA             map[string]string
	Shared          bool
	State           model.RequestedState // "" lets the master decide
}

// Deployment is what a deployment produced, for the node agent to act on.
type Deployment struct {
	// Publish are the instance's connection parameters.
	Publish map[string]string
	// PublishShared are the connection parameters of hosted shared
	// instances, by shared instance GUID (slave_reference).
	PublishShared map[string]map[string]string
	// Children are the instances requested, in part order.
	Children []ChildRequest
	// Services are the absolute paths of the executables written in
	// etc/service and etc/run, in part order.
	Services []string
	// Promises are the absolute paths of the executables written in
	// etc/promise, in part order.
	Promises []string
	// DestroyHook is the absolute path of sbin/destroy when it exists
	// after the deployment, "" otherwise.
	DestroyHook string
	// Files are the absolute paths of every file the deployment wrote (or
	// found already up to date), sorted.
	Files []string
}

// instanceRun is the state shared by the runners of one Deploy (the
// instance profile's, and those of profiles chosen by switch-softwaretype).
type instanceRun struct {
	ic     *InstanceContext
	tree   *tree
	dep    *Deployment
	fetch  Fetcher
	slapgo string
	depth  int
}

// Deploy applies the software's instance profile to one partition. It reads
// SoftwareDir/instance.cfg, adds the node's sections — [slap-connection]
// (computer-id, partition-id, server-url, software-release-url, key-file,
// cert-file, requested-state) and, unless the profile defines it,
// [slap-configuration] (recipe slapconfiguration) — sets [buildout]
// directory to the partition directory, and installs [buildout] parts.
//
// Instance-time recipes: switch-softwaretype, slapconfiguration,
// mkdirectory, template, wrapper, service, promise, publish,
// publish-shared, request, bridge.
//
// Every file is written inside PartitionDir (through an os.Root: a link
// planted by the partition's user cannot redirect a write), only when its
// content or mode changes; files a previous deployment wrote and this one
// did not are removed. Deploying twice with the same context leaves the
// same files. On error nothing is removed, so what ran keeps running.
func Deploy(ctx context.Context, ic InstanceContext) (Deployment, error) {
	for _, d := range []struct{ name, dir string }{{"software", ic.SoftwareDir}, {"partition", ic.PartitionDir}} {
		if !filepath.IsAbs(d.dir) {
			return Deployment{}, fmt.Errorf("profile: %s directory %q is not an absolute path", d.name, d.dir)
		}
	}
	if ic.Log == nil {
		ic.Log = io.Discard
	}
	fetch := ic.Fetch
	if fetch == nil {
		fetch = DefaultFetch
	}
	fetch = confinedFetch(fetch, filepath.Clean(ic.SoftwareDir), filepath.Clean(ic.PartitionDir))
	slapgo := ic.SlapgoBinary
	if slapgo == "" {
		exe, err := os.Executable()
		if err != nil {
			return Deployment{}, fmt.Errorf("profile: path of the slapgo binary for promises: %w", err)
		}
		slapgo = exe
	}
	t, err := openTree(ic.PartitionDir, ic.Cred)
	if err != nil {
		return Deployment{}, fmt.Errorf("profile: partition directory: %w", err)
	}
	defer t.close()

	p, err := Load(ctx, filepath.Join(ic.SoftwareDir, InstanceProfileFile), fetch)
	if err != nil {
		return Deployment{}, err
	}
	p.setLiteral("buildout", "directory", filepath.Clean(ic.PartitionDir))
	for k, v := range map[string]string{
		"computer-id":          ic.ComputerID,
		"partition-id":         ic.PartitionID,
		"server-url":           strings.TrimSpace(strings.Split(ic.MasterURL, ",")[0]), // one URL, as SlapOS software expects
		"software-release-url": ic.SoftwareRelease,
		"key-file":             ic.KeyFile,
		"cert-file":            ic.CertFile,
		"requested-state":      string(ic.RequestedState),
	} {
		p.setLiteral("slap-connection", k, v)
	}
	if p.sections["slap-configuration"] == nil {
		p.setLiteral("slap-configuration", "recipe", "slapconfiguration")
	}

	dep := &Deployment{Publish: map[string]string{}, PublishShared: map[string]map[string]string{}}
	r := newRunner(ctx, instanceTime, p, ic.Log)
	r.in = &instanceRun{ic: &ic, tree: t, dep: dep, fetch: fetch, slapgo: slapgo}
	if err := r.runParts(); err != nil {
		return Deployment{}, err
	}
	if err := r.destroyHook(); err != nil {
		return Deployment{}, err
	}
	if err := r.prune(); err != nil {
		return Deployment{}, err
	}
	if fi, err := t.root.Stat(DestroyHookFile); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o100 != 0 {
		dep.DestroyHook = t.abs(DestroyHookFile)
	}
	return *dep, nil
}

// prune removes the files the previous deployment wrote and this one did
// not, then records this deployment's files in .installed.cfg.
func (r *runner) prune() error {
	t := r.in.tree
	current := slices.Compact(slices.Sorted(slices.Values(t.written)))
	keep := map[string]bool{InstalledFile: true}
	for _, f := range current {
		keep[f] = true
	}
	if data, err := t.root.ReadFile(InstalledFile); err == nil {
		if old, err := Parse(t.abs(InstalledFile), data); err == nil {
			for _, s := range old.Sections {
				if s.Name != "buildout" {
					continue
				}
				for _, o := range s.Options {
					if o.Name != "installed-files" {
						continue
					}
					for _, f := range strings.Split(o.Value, "\n") {
						f = filepath.Clean(strings.TrimSpace(f))
						if f == "." || keep[f] || filepath.IsAbs(f) || strings.HasPrefix(f, "..") {
							continue
						}
						fi, err := t.root.Lstat(f)
						if err != nil || fi.IsDir() {
							continue
						}
						if err := t.root.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
							return fmt.Errorf("profile: remove %s left by the previous deployment: %w", t.abs(f), err)
						}
						fmt.Fprintf(r.log, "removed %s (no part writes it any more)\n", t.abs(f))
					}
				}
			}
		}
	}
	var parts []string
	for _, pt := range r.order {
		parts = append(parts, pt.name)
	}
	manifest := (&File{Sections: []*FileSection{{Name: "buildout", Options: []FileOption{
		{Name: "parts", Value: strings.Join(parts, "\n")},
		{Name: "installed-files", Value: strings.Join(current, "\n")},
	}}}}).Format()
	if err := t.writeFile(InstalledFile, manifest, 0o644); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	r.in.dep.Files = make([]string, 0, len(current))
	for _, f := range current {
		r.in.dep.Files = append(r.in.dep.Files, t.abs(f))
	}
	return nil
}

// destroyHook writes sbin/destroy from [buildout] destroy-hook (a command
// line, split into words like wrapper's command-line).
func (r *runner) destroyHook() error {
	b := r.p.sections["buildout"]
	if b == nil || b.opts["destroy-hook"] == nil {
		return nil
	}
	pt := &part{name: "buildout", sec: b}
	words, err := r.commandWords(pt, "destroy-hook")
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return nil
	}
	script := scriptHeader("buildout") + "exec " + joinQuoted(words) + "\n"
	if err := r.in.tree.writeFile(DestroyHookFile, []byte(script), 0o755); err != nil {
		return pt.wrap("destroy-hook", err)
	}
	return nil
}
