package profile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/model"
)

// softwareDir makes a software directory holding instance.cfg and the
// given other files, as a build would leave it.
func softwareDir(t *testing.T, instanceCfg string, files map[string]string) string {
	t.Helper()
	all := map[string]string{InstanceProfileFile: instanceCfg, CompletedFile: ""}
	maps.Copy(all, files)
	return writeProfile(t, all)
}

func baseContext(t *testing.T, sw string) InstanceContext {
	return InstanceContext{
		SoftwareDir: sw, PartitionDir: t.TempDir(),
		ComputerID: "COMP-7", PartitionID: "slappart4", InstanceGUID: "SOFTINST-9",
		Title: "my db", RootTitle: "my app", SoftwareRelease: "https://sr.example/app.cfg", SoftwareType: "default",
		Parameters: map[string]string{"port": "9000", "name": "it's me"},
		Addresses: []model.Address{
			{Iface: "slaptap4", Addr: "2001:db8::4/64"}, {Iface: "lo", Addr: "10.0.0.4/32"},
			{Iface: "lo", Addr: "10.0.0.5"},
		},
		SharedInstances: []model.SharedView{{GUID: "SOFTINST-S", Title: "shared one", SoftwareType: "default", State: model.StateStarted, Parameters: map[string]string{"k": "v"}}},
		RequestedState:  model.StateStarted,
		MasterURL:       "https://master:8443", KeyFile: "/k", CertFile: "/c",
		SlapgoBinary: "/usr/bin/slapgo",
	}
}

func TestDeploySlapConfiguration(t *testing.T) {
	sw := softwareDir(t, `[buildout]
parts = publish

[params]
recipe = slapconfiguration
configuration.port = 8080
configuration.color = blue
computer = $${slap-connection:computer-id}

[publish]
recipe = publish
`+strings.Join([]string{
		"computer-id", "partition-id", "instance-guid", "instance-title", "root-instance-title",
		"slap-software-type", "software-release-url", "requested-state", "ip-list", "ipv4", "ipv6",
		"ipv4-random", "ipv6-random", "configuration.port", "configuration.color", "configuration.name",
		"slave-instance-list"}, " = x\n")+` = x
`, nil)
	// Build the publish section's values from [params] (the list above is
	// only a template of the names).
	cfg, _ := os.ReadFile(filepath.Join(sw, InstanceProfileFile))
	var lines []string
	for _, l := range strings.Split(string(cfg), "\n") {
		if k, ok := strings.CutSuffix(l, " = x"); ok {
			l = k + " = ${params:" + k + "}"
		}
		lines = append(lines, l)
	}
	os.WriteFile(filepath.Join(sw, InstanceProfileFile), []byte(strings.Join(lines, "\n")), 0o644)

	dep, err := Deploy(t.Context(), baseContext(t, sw))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"computer-id": "COMP-7", "partition-id": "slappart4", "instance-guid": "SOFTINST-9",
		"instance-title": "my db", "root-instance-title": "my app", "slap-software-type": "default",
		"software-release-url": "https://sr.example/app.cfg", "requested-state": "started",
		"ip-list": "slaptap4 2001:db8::4\nlo 10.0.0.4\nlo 10.0.0.5", "ipv4": "10.0.0.4\n10.0.0.5", "ipv6": "2001:db8::4",
		"ipv4-random": "10.0.0.4", "ipv6-random": "2001:db8::4",
		"configuration.port": "9000", "configuration.color": "blue", "configuration.name": "it's me",
		"slave-instance-list": `[{"k":"v","slap_software_type":"default","slave_reference":"SOFTINST-S","slave_title":"shared one"}]`,
	}
	if !maps.Equal(dep.Publish, want) {
		for k := range want {
			if dep.Publish[k] != want[k] {
				t.Errorf("%s = %q, want %q", k, dep.Publish[k], want[k])
			}
		}
	}
}

func TestDeployRequestPublishAndDestroyHook(t *testing.T) {
	sw := softwareDir(t, `[buildout]
parts =
    publish
    host-publish
destroy-hook = ${buildout:directory}/bin/cleanup --all "${slap-connection:partition-id}"

[child]
recipe = request
name = database
software-url = https://sr.example/db.cfg
software-type = mariadb
config-size = 10G
config-owner = ${slap-connection:partition-id}
sla-region = eu
state = stopped
return = url password

[publish]
recipe = publish
db-url = ${child:connection-url}
db-password = ${child:connection-password}
_helper = not published

[host-publish]
recipe = publish-shared
-slave-reference = SOFTINST-S
site = https://site/${slap-connection:partition-id}
`, nil)
	ic := baseContext(t, sw)
	var asked []ChildRequest
	ic.Requester = func(ctx context.Context, r ChildRequest) (map[string]string, error) {
		asked = append(asked, r)
		return map[string]string{"url": "mysql://10.0.0.9/db", "extra": "e"}, nil
	}
	dep, err := Deploy(t.Context(), ic)
	if err != nil {
		t.Fatal(err)
	}
	wantChild := ChildRequest{Section: "child", Title: "database", SoftwareRelease: "https://sr.example/db.cfg", SoftwareType: "mariadb",
		Parameters: map[string]string{"size": "10G", "owner": "slappart4"}, SLA: map[string]string{"region": "eu"}, State: model.StateStopped}
	if len(asked) != 1 || len(dep.Children) != 1 || fmt.Sprint(dep.Children[0]) != fmt.Sprint(wantChild) || fmt.Sprint(asked[0]) != fmt.Sprint(wantChild) {
		t.Errorf("children = %+v (asked %+v), want %+v", dep.Children, asked, wantChild)
	}
	if want := map[string]string{"db-url": "mysql://10.0.0.9/db", "db-password": ""}; !maps.Equal(dep.Publish, want) {
		t.Errorf("Publish = %v, want %v", dep.Publish, want)
	}
	if got := dep.PublishShared["SOFTINST-S"]; len(dep.PublishShared) != 1 || got["site"] != "https://site/slappart4" || len(got) != 1 {
		t.Errorf("PublishShared = %v", dep.PublishShared)
	}
	hook := filepath.Join(ic.PartitionDir, DestroyHookFile)
	if dep.DestroyHook != hook {
		t.Fatalf("DestroyHook = %q, want %q", dep.DestroyHook, hook)
	}
	data, _ := os.ReadFile(hook)
	if want := "exec " + filepath.Join(ic.PartitionDir, "bin/cleanup") + " --all slappart4\n"; !strings.HasSuffix(string(data), want) {
		t.Errorf("destroy hook:\n%s\nwant it to end with %q", data, want)
	}

	ic.Requester = func(ctx context.Context, r ChildRequest) (map[string]string, error) {
		return nil, errors.New("master unreachable")
	}
	if _, err := Deploy(t.Context(), ic); !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "[child] name: ") || !strings.Contains(err.Error(), "master unreachable") {
		t.Errorf("failing requester: err = %v", err)
	}
	ic.Requester = nil
	if _, err := Deploy(t.Context(), ic); !errors.Is(err, ErrRequest) {
		t.Errorf("no requester: err = %v, want ErrRequest", err)
	}
}

func TestDeployWrappersKeepArguments(t *testing.T) {
	sw := softwareDir(t, `[buildout]
parts = server cron

[server]
recipe = service
command-line =
    ${:_profile_base_location_}/bin/server
        --name ${slap-configuration:configuration.name}
        --literal '$${HOME} stays'
        "--port=${slap-configuration:configuration.port}"
environment =
    LANG=C.UTF-8
    GREETING=hello world

[cron]
recipe = wrapper
name = cron-job
command-line = /bin/true
`, nil)
	ic := baseContext(t, sw)
	ic.Parameters["name"] = `x'; rm -rf ~; echo '`
	dep, err := Deploy(t.Context(), ic)
	if err != nil {
		t.Fatal(err)
	}
	server := filepath.Join(ic.PartitionDir, "etc/service/server")
	cron := filepath.Join(ic.PartitionDir, "etc/run/cron-job")
	if !slices.Equal(dep.Services, []string{server, cron}) {
		t.Errorf("Services = %q", dep.Services)
	}
	data, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	want := scriptHeader("server") + "export LANG=C.UTF-8\nexport GREETING='hello world'\n" +
		"exec " + sw + `/bin/server --name 'x'\''; rm -rf ~; echo '\''' --literal '${HOME} stays' --port=9000` + "\n"
	if string(data) != want {
		t.Errorf("service script:\n%s\nwant:\n%s", data, want)
	}
	if fi, _ := os.Stat(server); fi.Mode().Perm() != 0o755 {
		t.Errorf("service mode %v, want 0755", fi.Mode().Perm())
	}
	// The shell must give the parameter back as one argument, unchanged.
	os.MkdirAll(filepath.Join(sw, "bin"), 0o755)
	os.WriteFile(filepath.Join(sw, "bin/server"), []byte("#!/bin/sh\nprintf '%s|' \"$@\"\n"), 0o755)
	out, err := execOutput(server)
	if err != nil {
		t.Fatal(err)
	}
	if want := `--name|x'; rm -rf ~; echo '|--literal|${HOME} stays|--port=9000|`; out != want {
		t.Errorf("arguments seen by the program: %s\nwant %s", out, want)
	}
}

func TestDeploySwitchAndPrune(t *testing.T) {
	sw := softwareDir(t, `[buildout]
parts = switch

[switch]
recipe = switch-softwaretype
default = type-default
other = profiles/other.cfg
same-file = ${:_profile_base_location_}/profiles/other.cfg
lazy = ${nothing:here}

[type-default]
parts = alpha

[alpha]
recipe = service
command-line = /bin/alpha
`, map[string]string{
		"profiles/other.cfg": "[buildout]\nparts = beta promise\n\n[beta]\nrecipe = service\ncommand-line = /bin/beta ${slap-configuration:configuration.port}\n\n" +
			"[promise]\nrecipe = promise\nurl = http://${slap-configuration:ipv4-random}:8080/\nexpect-status = 204\n",
	})
	ic := baseContext(t, sw)
	dep, err := Deploy(t.Context(), ic)
	if err != nil {
		t.Fatal(err)
	}
	alpha := filepath.Join(ic.PartitionDir, "etc/service/alpha")
	if !slices.Equal(dep.Services, []string{alpha}) {
		t.Fatalf("default type: Services = %q", dep.Services)
	}
	ic.SoftwareType = "other"
	dep, err = Deploy(t.Context(), ic)
	if err != nil {
		t.Fatal(err)
	}
	beta := filepath.Join(ic.PartitionDir, "etc/service/beta")
	if !slices.Equal(dep.Services, []string{beta}) {
		t.Errorf("other type: Services = %q", dep.Services)
	}
	if _, err := os.Stat(alpha); !os.IsNotExist(err) {
		t.Errorf("the service of the previous software type was not removed: %v", err)
	}
	promise, _ := os.ReadFile(filepath.Join(ic.PartitionDir, "etc/promise/promise"))
	if !strings.HasSuffix(string(promise), "exec /usr/bin/slapgo promise http http://10.0.0.4:8080/ --expect-status 204 --timeout 5s\n") {
		t.Errorf("http promise script:\n%s", promise)
	}
	beta1, _ := os.ReadFile(beta)
	ic.SoftwareType = "same-file"
	if _, err := Deploy(t.Context(), ic); err != nil {
		t.Fatal(err)
	}
	if beta2, _ := os.ReadFile(beta); string(beta1) != string(beta2) || !strings.Contains(string(beta1), "exec /bin/beta 9000\n") {
		t.Errorf("beta differs between the relative and the absolute profile location:\n%s\n%s", beta1, beta2)
	}

	for _, tt := range []struct{ st, want string }{
		{"mariadb", `software type "mariadb" is not offered: [switch] offers default, lazy, other, same-file`},
		{"lazy", "no section [nothing]"},
	} {
		ic.SoftwareType = tt.st
		if _, err := Deploy(t.Context(), ic); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("type %s: err = %v, want %q", tt.st, err, tt.want)
		}
	}
	// A failed deployment removes nothing.
	if _, err := os.Stat(beta); err != nil {
		t.Errorf("a failed deployment removed %s: %v", beta, err)
	}
}

func TestDeployErrors(t *testing.T) {
	tests := []struct {
		name, cfg string
		kind      error
		want      string
	}{
		{"unknown option", "[buildout]\nparts = p\n[p]\nrecipe = promise\nhost = 127.0.0.1\nprot = 80\n",
			ErrRecipeOption, `instance.cfg:6: [p] prot: profile: option not understood by the recipe: recipe "promise" does not understand option "prot"`},
		{"bad port", "[buildout]\nparts = p\n[p]\nrecipe = promise\nhost = 127.0.0.1\nport = http\n",
			ErrBadValue, `instance.cfg:6: [p] port: profile: bad option value: "http": expected a TCP port number`},
		{"software-time recipe", "[buildout]\nparts = p\n[p]\nrecipe = cmmi\npath = /x\n",
			ErrUnknownRecipe, `"cmmi" runs at software time, not in a instance profile`},
		{"output outside the partition", "[buildout]\nparts = p\n[p]\nrecipe = template\ninline = x\noutput = ../escape\n",
			ErrOutsideDirectory, "instance.cfg:6: [p] output: "},
		{"wrapper path outside", "[buildout]\nparts = p\n[p]\nrecipe = wrapper\ncommand-line = /bin/true\nwrapper-path = /usr/local/bin/x\n",
			ErrOutsideDirectory, "[p] wrapper-path: "},
		{"unterminated quote", "[buildout]\nparts = p\n[p]\nrecipe = service\ncommand-line = /bin/echo 'oops\n",
			ErrSyntax, "instance.cfg:5: [p] command-line: profile: syntax error: unterminated ' quote"},
		{"sub profile without parts", "[buildout]\nparts = s\n[s]\nrecipe = switch-softwaretype\ndefault = sub.cfg\n",
			ErrMissingOption, "must set [buildout] parts itself"},
		{"template outside the software", "[buildout]\nparts = p\n[p]\nrecipe = template\nurl = /etc/hostname\noutput = x\n",
			ErrFetch, "instance.cfg:5: [p] url: profile: cannot fetch: /etc/hostname: /etc/hostname is outside"},
		{"bad sla", "[buildout]\nparts = r\n[r]\nrecipe = request\nname = x\nsla-colour = red\n",
			ErrBadValue, `sla key "colour" is unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw := softwareDir(t, tt.cfg, map[string]string{"sub.cfg": "[x]\ny = 1\n"})
			_, err := Deploy(t.Context(), baseContext(t, sw))
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant %v containing %q", err, tt.kind, tt.want)
			}
		})
	}
}

// A partition's user owns its directory: a link planted there must not
// make the agent write elsewhere.
func TestDeployRefusesPlantedLinks(t *testing.T) {
	sw := softwareDir(t, "[buildout]\nparts = s\n[s]\nrecipe = service\ncommand-line = /bin/true\n", nil)
	ic := baseContext(t, sw)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(ic.PartitionDir, "etc")); err != nil {
		t.Fatal(err)
	}
	if _, err := Deploy(t.Context(), ic); err == nil {
		t.Errorf("Deploy wrote through a link leaving the partition")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("files written outside the partition: %v", entries)
	}

	// Nor read, as root, a file a link of the software points to.
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("secret"), 0o600)
	sw = softwareDir(t, "[buildout]\nparts = t\n[t]\nrecipe = template\nurl = link\noutput = leak\n", nil)
	if err := os.Symlink(secret, filepath.Join(sw, "link")); err != nil {
		t.Fatal(err)
	}
	ic = baseContext(t, sw)
	if _, err := Deploy(t.Context(), ic); !errors.Is(err, ErrFetch) {
		t.Errorf("template through a link out of the software: err = %v, want ErrFetch", err)
	}
	if _, err := os.Stat(filepath.Join(ic.PartitionDir, "leak")); err == nil {
		t.Errorf("the secret was copied into the partition")
	}
}

func TestDeployInstanceTemplate(t *testing.T) {
	sw := softwareDir(t, `[buildout]
parts = conf

[conf]
recipe = template
url = templates/app.conf.in
output = ${buildout:directory}/etc/app.conf
mode = 0600
_port = ${slap-configuration:configuration.port}
`, map[string]string{"templates/app.conf.in": "listen ${slap-configuration:ipv4-random}:${:_port}\nshell ${HOME}\n"})
	_, err := Deploy(t.Context(), baseContext(t, sw))
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), sw+"/templates/app.conf.in:2: [conf] url: ") {
		t.Fatalf("err = %v, want a syntax error located in the template", err)
	}
	os.WriteFile(filepath.Join(sw, "templates/app.conf.in"), []byte("listen ${slap-configuration:ipv4-random}:${:_port}\nshell $${HOME}\n"), 0o644)
	ic := baseContext(t, sw)
	dep, err := Deploy(t.Context(), ic)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(ic.PartitionDir, "etc/app.conf")
	data, _ := os.ReadFile(out)
	if string(data) != "listen 10.0.0.4:9000\nshell ${HOME}\n" {
		t.Errorf("app.conf = %q", data)
	}
	if !slices.Contains(dep.Files, out) {
		t.Errorf("Files %q lacks %s", dep.Files, out)
	}
}
