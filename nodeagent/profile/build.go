package profile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Names of the files Build writes in the software directory.
const (
	CompletedFile       = ".completed"     // written last, when the build succeeded
	InstanceProfileFile = "instance.cfg"   // the rendered instance profile
	InstalledFile       = ".installed.cfg" // parts installed, with their options
)

// Scratch directories inside the software directory.
const (
	tmpDir   = ".slapgo-tmp"
	buildDir = ".slapgo-build"
)

// BuildOptions says what to build where.
type BuildOptions struct {
	// URL of the software release profile: http(s)://, file:// or an
	// absolute path.
	URL string
	// Dir is the software directory, <software_root>/<md5(URL)>. It is
	// created if missing.
	Dir string
	// Log receives the build log: every step, every command's output.
	// Nil discards it.
	Log io.Writer
	// Cred, when non-nil, is the user commands run as; when the agent is
	// root, what it creates in Dir is handed to that user too.
	Cred *syscall.Credential
	// Env is the environment of build commands; nil means the agent's.
	Env []string
	// Fetch reads profiles, sources and patches; nil means DefaultFetch.
	// With Cred (and the agent root), local files are read only when every
	// user may read them, and Fetch serves the URLs only.
	Fetch Fetcher
	// Force rebuilds even when Dir holds a completed build.
	Force bool
}

// softwareRun is the state of one Build.
type softwareRun struct {
	o    BuildOptions
	dir  string
	tree *tree
	env  []string
}

// Completed reports whether dir holds a completed build.
func Completed(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, CompletedFile))
	return err == nil
}

// Build builds the software release o.URL into o.Dir: it loads the
// profile, installs the parts of [buildout] parts in order (sections with a
// recipe that a part references are installed first), writes the instance
// profile to Dir/instance.cfg, the record of installed parts to
// Dir/.installed.cfg, and finally Dir/.completed. When Dir/.completed
// exists and o.Force is false it does nothing.
//
// The instance profile is the "output" of the section named by [buildout]
// instance-profile, or of the section [instance-profile].
//
// Software-time recipes: download, cmmi, shell, template, mkdirectory.
func Build(ctx context.Context, o BuildOptions) (err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Fetch == nil {
		o.Fetch = DefaultFetch
	}
	if !filepath.IsAbs(o.Dir) {
		return fmt.Errorf("profile: software directory %q is not an absolute path", o.Dir)
	}
	dir := filepath.Clean(o.Dir)
	if !o.Force && Completed(dir) {
		fmt.Fprintf(o.Log, "slapgo: %s is already built in %s\n", o.URL, dir)
		return nil
	}
	if o.Cred != nil && os.Geteuid() != 0 && int(o.Cred.Uid) != os.Geteuid() {
		return fmt.Errorf("profile: cannot build as uid %d while running as uid %d: run the agent as root, or pass no credential", o.Cred.Uid, os.Geteuid())
	}
	if o.Cred != nil && os.Geteuid() != 0 {
		o.Cred = nil // already that user
	}
	if o.Cred != nil {
		o.Fetch = worldReadableFetch(o.Fetch)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profile: software directory: %w", err)
	}
	t, err := openTree(dir, o.Cred)
	if err != nil {
		return fmt.Errorf("profile: software directory: %w", err)
	}
	defer t.close()
	if err := t.chown("."); err != nil {
		return fmt.Errorf("profile: software directory: %w", err)
	}
	if err := t.root.Remove(CompletedFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("profile: %w", err)
	}
	start := time.Now()
	fmt.Fprintf(o.Log, "slapgo: building %s in %s\n", o.URL, dir)
	defer func() {
		if err != nil {
			fmt.Fprintf(o.Log, "slapgo: build of %s failed after %s: %v\n", o.URL, time.Since(start).Round(time.Millisecond), err)
		}
	}()

	p, err := Load(ctx, o.URL, o.Fetch)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "slapgo: profile files: %s\n", strings.Join(p.Files, " "))
	p.setLiteral("buildout", "directory", dir)
	p.setLiteral("buildout", "parts-directory", filepath.Join(dir, "parts"))

	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	r := newRunner(ctx, softwareTime, p, o.Log)
	r.sw = &softwareRun{o: o, dir: dir, tree: t, env: env}
	if err := r.runParts(); err != nil {
		return err
	}
	if err := r.instanceProfile(); err != nil {
		return err
	}
	if err := t.writeFile(InstalledFile, r.installedCfg(map[string]string{"software-url": p.Location}), 0o644); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	t.root.RemoveAll(tmpDir)
	t.root.RemoveAll(buildDir)
	if err := t.chownTree("."); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	stamp := fmt.Sprintf("%s\n%s\n", p.Location, time.Now().UTC().Format(time.RFC3339))
	if err := t.writeFile(CompletedFile, []byte(stamp), 0o644); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	fmt.Fprintf(o.Log, "slapgo: built %s in %s\n", o.URL, time.Since(start).Round(time.Millisecond))
	return nil
}

// instanceProfile copies the rendered instance profile to Dir/instance.cfg.
func (r *runner) instanceProfile() error {
	name, from := "instance-profile", site{file: r.p.Location, section: "buildout"}
	if o := r.p.sections["buildout"].opts["instance-profile"]; o != nil {
		v, err := r.ev.value("buildout", "instance-profile", optionSite("buildout", "instance-profile", o))
		if err != nil {
			return err
		}
		name, from = strings.TrimSpace(v), optionSite("buildout", "instance-profile", o)
	}
	if r.p.sections[name] == nil {
		return from.err(ErrNoInstanceProfile, "no section [%s]: render the instance profile with a template part named [instance-profile], or name it with [buildout] instance-profile = <section>", name)
	}
	if err := r.install(name, from); err != nil {
		return err
	}
	out, err := r.ev.value(name, "output", from)
	if err != nil {
		return err
	}
	src, err := r.sw.tree.rel(out)
	if err != nil {
		return from.err(ErrNoInstanceProfile, "[%s] output %s: %v", name, out, err)
	}
	if src == InstanceProfileFile {
		return nil
	}
	data, err := r.sw.tree.root.ReadFile(src)
	if err != nil {
		return from.err(ErrNoInstanceProfile, "[%s] output: %v", name, err)
	}
	return r.sw.tree.writeFile(InstanceProfileFile, data, 0o644)
}

// run runs a shell script in dir (inside the software directory) as the
// build user, its output going to the build log.
func (r *runner) run(ctx context.Context, pt *part, option, dir, script string, extraEnv []string) error {
	sw := r.sw
	rel, err := sw.tree.rel(dir)
	if err != nil {
		return pt.errf(option, ErrOutsideDirectory, "%v", err)
	}
	if err := sw.tree.chownTree(rel); err != nil {
		return pt.wrap(option, err)
	}
	r.logf("[%s] %s$ %s", pt.name, dir, script)
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, sw.env...), extraEnv...)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: sw.o.Cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err = cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return pt.errf(option, ErrCommand, "%s: %v after %s (output in the build log)", clip(script), err, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// environment parses an "environment" option: K=V per line.
func environment(pt *part) ([]string, error) {
	var env []string
	for _, line := range strings.Split(pt.opts["environment"], "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
			return nil, pt.errf("environment", ErrBadValue, "%q: expected one NAME=value per line", line)
		}
		env = append(env, line)
	}
	return env, nil
}
