package core_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modulePath is the module of this repository; project import paths start
// with it.
const modulePath = "github.com/slapgo/slapgo"

// Rules of the purity contract (see doc.go), as reported.
const (
	ruleForbiddenImport = "forbidden-import" // a standard package with side effects
	ruleOutsideImport   = "outside-import"   // neither the standard library nor core/...
	ruleDotImport       = "dot-import"       // hides the calls checked below
	ruleGoroutine       = "goroutine"        // go statement
	ruleWallClock       = "wall-clock"       // time.Now, timers, sleeping
	ruleGlobalRand      = "global-rand"      // math/rand/v2 package-level generator
	ruleFilesystem      = "filesystem"       // path/filepath functions that read the disk
	ruleStdout          = "stdout"           // printing
	ruleUnparsable      = "unparsable"       // a file the checker cannot read
)

// allRules lists every rule the checker can report; the testdata proves each.
var allRules = []string{
	ruleForbiddenImport, ruleOutsideImport, ruleDotImport, ruleGoroutine,
	ruleWallClock, ruleGlobalRand, ruleFilesystem, ruleStdout,
}

// forbiddenImports are the standard packages core must not import; a
// subtree entry also forbids the packages below it ("os" forbids "os/exec").
var forbiddenImports = []struct {
	path    string
	subtree bool
	why     string
}{
	{"C", false, "cgo escapes the Go memory and scheduling model"},
	{"crypto/rand", false, "it draws non-reproducible randomness; take a *rand.Rand from math/rand/v2"},
	{"database/sql", true, "storage belongs to master/"},
	{"expvar", false, "it publishes process-global state over HTTP"},
	{"io/fs", false, "file systems belong to the shells"},
	{"io/ioutil", false, "it reads and writes files"},
	{"log", true, "core returns what happened; the shells log it"},
	{"math/rand", false, "its generator is global; take a *rand.Rand from math/rand/v2"},
	{"net", true, "network I/O belongs to master/ and nodeagent/"},
	{"os", true, "files, environment and processes belong to the shells"},
	{"plugin", false, "it loads code at run time"},
	{"runtime", true, "core must not depend on the scheduler or the process"},
	{"sync", true, "core is single-threaded: no locks, no atomics"},
	{"syscall", true, "system calls belong to the shells"},
	{"unsafe", false, "core stays memory-safe"},
}

// pureNetPackages are value types under net/ that do no I/O.
var pureNetPackages = []string{"net/netip", "net/url"}

// forbiddenRefs are package-level functions core must not call nor take as a
// value, by import path.
var forbiddenRefs = map[string]map[string]string{
	"time": {
		"Now": ruleWallClock, "Since": ruleWallClock, "Until": ruleWallClock,
		"Sleep": ruleWallClock, "After": ruleWallClock, "AfterFunc": ruleWallClock,
		"Tick": ruleWallClock, "NewTimer": ruleWallClock, "NewTicker": ruleWallClock,
	},
	"path/filepath": {
		"Abs": ruleFilesystem, "EvalSymlinks": ruleFilesystem, "Glob": ruleFilesystem,
		"Walk": ruleFilesystem, "WalkDir": ruleFilesystem,
	},
	"fmt": {"Print": ruleStdout, "Printf": ruleStdout, "Println": ruleStdout},
}

// randV2Allowed are the names of math/rand/v2 core may use: constructors of
// seeded generators and types. Everything else there is the global generator.
var randV2Allowed = []string{"ChaCha8", "New", "NewChaCha8", "NewPCG", "NewZipf", "PCG", "Rand", "Source", "Zipf"}

// why explains each reference rule to the reader of a failure.
var why = map[string]string{
	ruleWallClock:  "core takes the time as a value (now time.Time) and arms no timer",
	ruleFilesystem: "it reads the file system",
	ruleStdout:     "core returns results; the shells print them",
	ruleGlobalRand: "the global generator is not reproducible; draw from the *rand.Rand passed in",
}

// violation is one breach of the contract at a position "file:line".
type violation struct {
	pos    string
	rule   string
	detail string
}

func (v violation) String() string { return v.pos + ": " + v.rule + ": " + v.detail }

// listedPackage holds the fields of `go list -json` the checks read.
type listedPackage struct {
	ImportPath     string
	Dir            string
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string
	Imports        []string
	Deps           []string
	Error          *struct{ Err string }
}

// moduleRoot returns the repository root: the parent of this directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v (the test must run from core/)", err)
	}
	return root
}

// goList runs `go list -e -json patterns…` in root. Patterns matching no
// package yield no package, not an error.
func goList(t *testing.T, root string, patterns ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-json"}, patterns...)...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(patterns, " "), err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(&stdout)
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("go list %s: decoding its output: %v", strings.Join(patterns, " "), err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// isStandard tells a standard-library import path by its first element having
// no dot, the rule the go command itself applies.
func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// isUnder tells whether path is prefix or a package below it.
func isUnder(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// importViolation returns the rule and reason that forbid core to import
// path, or "" when the import is allowed.
func importViolation(path string) (rule, detail string) {
	if isUnder(path, modulePath+"/core") {
		return "", ""
	}
	if !isStandard(path) {
		return ruleOutsideImport, fmt.Sprintf("import %q: core imports the standard library and core/... only", path)
	}
	if slices.Contains(pureNetPackages, path) {
		return "", ""
	}
	for _, f := range forbiddenImports {
		if path == f.path || f.subtree && isUnder(path, f.path) {
			return ruleForbiddenImport, fmt.Sprintf("import %q: %s", path, f.why)
		}
	}
	return "", ""
}

// packageName is the name an import is referred to by in a file without an
// explicit name: the last path element, skipping a major version suffix
// ("math/rand/v2" is rand).
func packageName(path string) string {
	elems := strings.Split(path, "/")
	name := elems[len(elems)-1]
	if len(elems) > 1 && len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
		name = elems[len(elems)-2]
	}
	return name
}

// checkPackages applies the purity contract to the non-test files of pkgs,
// listed from root. Positions are relative to root.
func checkPackages(root string, pkgs []listedPackage) (violations []violation, filesChecked int) {
	for _, pkg := range pkgs {
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			rel = pkg.Dir
		}
		if pkg.Error != nil && pkg.Dir == "" {
			violations = append(violations, violation{pkg.ImportPath, ruleUnparsable, pkg.Error.Err})
			continue
		}
		var files []string
		files = append(files, pkg.GoFiles...)
		files = append(files, pkg.CgoFiles...)
		for _, f := range pkg.IgnoredGoFiles { // other platforms: still core code
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
		slices.Sort(files)
		seenImports := map[string]bool{}
		fset := token.NewFileSet()
		for _, name := range files {
			path := filepath.Join(pkg.Dir, name)
			file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				violations = append(violations, violation{filepath.Join(rel, name), ruleUnparsable, err.Error()})
				continue
			}
			filesChecked++
			for _, v := range checkFile(fset, file) {
				rp, err := filepath.Rel(root, v.pos)
				if err == nil {
					v.pos = rp
				}
				violations = append(violations, v)
			}
			for _, spec := range file.Imports {
				if p, err := strconv.Unquote(spec.Path.Value); err == nil {
					seenImports[p] = true
				}
			}
		}
		// (a) go list's view of the imports, for any the files did not show.
		for _, imp := range pkg.Imports {
			if seenImports[imp] {
				continue
			}
			if rule, detail := importViolation(imp); rule != "" {
				violations = append(violations, violation{rel, rule, detail})
			}
		}
	}
	return violations, filesChecked
}

// checkFile applies the purity contract to one parsed non-test file. It
// relies on the parser's identifier resolution: a package qualifier is an
// unresolved identifier, while a local variable shadowing a package name is
// resolved to its declaration.
func checkFile(fset *token.FileSet, file *ast.File) []violation {
	var out []violation
	report := func(pos token.Pos, rule, detail string) {
		p := fset.Position(pos)
		out = append(out, violation{fmt.Sprintf("%s:%d", p.Filename, p.Line), rule, detail})
	}
	// (b.1) imports, and the names they bind in this file.
	imported := map[string]string{} // name in file -> import path
	for _, spec := range file.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			report(spec.Pos(), ruleUnparsable, err.Error())
			continue
		}
		if rule, detail := importViolation(path); rule != "" {
			report(spec.Pos(), rule, detail)
		}
		name := packageName(path)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		switch name {
		case "_":
		case ".":
			report(spec.Pos(), ruleDotImport, fmt.Sprintf("dot import of %q hides its calls from the purity check", path))
		default:
			imported[name] = path
		}
	}
	// (b.2) statements and references.
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n.Pos(), ruleGoroutine, "go statement: core is single-threaded; return work for the caller to schedule")
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Obj == nil && (id.Name == "print" || id.Name == "println") {
				report(n.Pos(), ruleStdout, id.Name+": "+why[ruleStdout])
			}
		case *ast.SelectorExpr:
			pkgIdent, ok := n.X.(*ast.Ident)
			if !ok || pkgIdent.Obj != nil { // a value, not a package
				return true
			}
			path, ok := imported[pkgIdent.Name]
			if !ok {
				return true
			}
			name := n.Sel.Name
			if rule := forbiddenRefs[path][name]; rule != "" {
				report(n.Pos(), rule, fmt.Sprintf("%s.%s: %s", path, name, why[rule]))
			}
			if path == "math/rand/v2" && !slices.Contains(randV2Allowed, name) {
				report(n.Pos(), ruleGlobalRand, fmt.Sprintf("rand.%s: %s", name, why[ruleGlobalRand]))
			}
		}
		return true
	})
	return out
}

// TestCoreIsPure enforces the purity contract of doc.go on every package
// under core/.
func TestCoreIsPure(t *testing.T) {
	root := moduleRoot(t)
	pkgs := goList(t, root, "./core/...")
	violations, files := checkPackages(root, pkgs)
	if files == 0 {
		t.Fatalf("no file checked in %d packages of ./core/...: the check would prove nothing", len(pkgs))
	}
	for _, v := range violations {
		t.Error(v)
	}
	t.Logf("%d packages, %d files checked", len(pkgs), files)
}

// TestPurityCheckerReportsViolations runs the checker on core/testdata/impure
// (copied into a module of its own), where a trailing "want: rule, …" comment names each expected violation,
// and demands exactly those: every rule caught, nothing allowed reported.
func TestPurityCheckerReportsViolations(t *testing.T) {
	root := impureModule(t, filepath.Join(moduleRoot(t), "core", "testdata", "impure"))
	pkgs := goList(t, root, ".")
	if len(pkgs) != 1 {
		t.Fatalf("go list core/testdata/impure: %d packages, want 1", len(pkgs))
	}
	got, files := checkPackages(root, pkgs)
	if files < 5 {
		t.Fatalf("%d files checked in core/testdata/impure, want its non-test files (at least 5)", files)
	}

	want, err := wantedViolations(root, pkgs[0])
	if err != nil {
		t.Fatal(err)
	}
	gotKeys := map[string]int{}
	for _, v := range got {
		gotKeys[v.pos+" "+v.rule]++
	}
	for _, key := range sortedKeys(want) {
		if gotKeys[key] < want[key] {
			t.Errorf("%s: reported %d times, want %d", key, gotKeys[key], want[key])
		}
	}
	for _, v := range got {
		key := v.pos + " " + v.rule
		if gotKeys[key] > want[key] {
			t.Errorf("unexpected violation %s", v)
			gotKeys[key] = want[key] // report each key once
		}
	}
	proven := map[string]bool{}
	for key := range want {
		_, rule, _ := strings.Cut(key, " ")
		proven[rule] = true
	}
	for _, rule := range allRules {
		if !proven[rule] {
			t.Errorf("rule %s has no example in core/testdata/impure", rule)
		}
	}
	if strings.Contains(fmt.Sprint(got), "_test.go") {
		t.Errorf("test files are exempt, yet reported: %v", got)
	}
}

// impureModule copies the deliberate violations of dir (kept as *.go.txt
// so that no tool mistakes them for core code) into a module of their own
// in a temporary directory, under their .go names, and returns it.
func impureModule(t *testing.T, dir string) string {
	t.Helper()
	tmp := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".go.txt")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name+".go"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gomod := "module example.com/impure\n\ngo 1.26\n"
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// wantedViolations reads the "want: rule, …" comments of pkg's non-test
// files, keyed "file:line rule" with their count.
func wantedViolations(root string, pkg listedPackage) (map[string]int, error) {
	want := map[string]int{}
	entries, err := os.ReadDir(pkg.Dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, filepath.Join(pkg.Dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, group := range file.Comments {
			for _, c := range group.List {
				rules, ok := strings.CutPrefix(c.Text, "// want: ")
				if !ok {
					continue
				}
				p := fset.Position(c.Pos())
				rel, err := filepath.Rel(root, p.Filename)
				if err != nil {
					return nil, err
				}
				for _, rule := range strings.Split(rules, ",") {
					want[fmt.Sprintf("%s:%d %s", rel, p.Line, strings.TrimSpace(rule))]++
				}
			}
		}
	}
	return want, nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestImportRules enforces DESIGN.md's rules between the top-level
// directories, on non-test code and its transitive dependencies. A rule whose
// packages do not exist yet is skipped.
func TestImportRules(t *testing.T) {
	root := moduleRoot(t)
	pkgs := goList(t, root, "./...")
	var (
		master     = modulePath + "/master"
		masterAPI  = modulePath + "/master/api"
		masterSLAP = modulePath + "/master/slap"
		nodeagent  = modulePath + "/nodeagent"
		sim        = modulePath + "/sim"
		cmd        = modulePath + "/cmd"
		coreModel  = modulePath + "/core/model"
	)
	rules := []struct {
		name    string
		applies func(pkg string) bool
		check   func(p listedPackage) []string // offending imports
	}{
		{
			name:    "sim never imports master/ or nodeagent/",
			applies: func(pkg string) bool { return isUnder(pkg, sim) },
			check: func(p listedPackage) []string {
				return filterPaths(p.Deps, func(d string) bool { return isUnder(d, master) || isUnder(d, nodeagent) })
			},
		},
		{
			name: "outside master/, only the wire packages master/api and master/slap are imported (cmd/ assembles the binary)",
			applies: func(pkg string) bool {
				return !isUnder(pkg, master) && !isUnder(pkg, cmd)
			},
			check: func(p listedPackage) []string {
				return filterPaths(p.Deps, func(d string) bool {
					return isUnder(d, master) && !isUnder(d, masterAPI) && !isUnder(d, masterSLAP)
				})
			},
		},
		{
			name:    "master/slap imports core/model, master/api and its own codec alone from the project",
			applies: func(pkg string) bool { return isUnder(pkg, masterSLAP) },
			check: func(p listedPackage) []string {
				return filterPaths(p.Imports, func(d string) bool {
					return isUnder(d, modulePath) && d != coreModel && d != masterAPI && !isUnder(d, masterSLAP)
				})
			},
		},
		{
			name:    "master/api imports core/model alone from the project",
			applies: func(pkg string) bool { return pkg == masterAPI },
			check: func(p listedPackage) []string {
				return filterPaths(p.Imports, func(d string) bool { return isUnder(d, modulePath) && d != coreModel })
			},
		},
	}
	for _, rule := range rules {
		t.Run(rule.name, func(t *testing.T) {
			checked := 0
			for _, p := range pkgs {
				if !rule.applies(p.ImportPath) {
					continue
				}
				checked++
				for _, bad := range rule.check(p) {
					t.Errorf("%s imports %s", p.ImportPath, bad)
				}
			}
			if checked == 0 {
				t.Fatal("the rule applies to no package: a rule that checks nothing cannot fail (fix its applies function)")
			}
		})
	}
}

// filterPaths returns the paths for which keep is true.
func filterPaths(paths []string, keep func(string) bool) []string {
	var out []string
	for _, p := range paths {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}
