package clusterbackend

import (
	"context"
	"fmt"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
)

// definedDir is where the node containers hold the releases scenarios
// define (one directory per release name).
const definedDir = "/srv/defined"

// healthFile is the file, in a partition, whose presence makes the fixture
// release's health promise fail (SetPromise).
const healthFile = "promise-fails"

// The fixture release the scenarios' software names stand for, written
// for busybox hosts (the containers have nothing else): busybox httpd
// serving a page on the partition's IPv4 address, a promise that fetches
// it, a health promise that fails while healthFile exists, a promise
// that refuses parameter fail=configure (the configuration fails), the
// URL published, and one URL per hosted shared instance. It knows the
// software types the scenarios use.
//
// NB: `which`, not `command -v`: busybox's shell answers "busybox" for its
// own applets rather than a path.
const softwareProfile = `# Fixture release %[1]q of the cluster feature scenarios.
[buildout]
parts =
    tools
    instance-profile
instance-profile = instance-profile

%[2]s
recipe = %[3]s
command =
    bb=$(which busybox) && bb=$(readlink -f "$bb") || { echo "no busybox in PATH" >&2; exit 1; }
    mkdir -p bin
    ln -sf "$bb" bin/busybox
    printf '#!/bin/sh\nif [ "$1" = configure ]; then echo "parameter fail=configure: the configuration of this instance fails" >&2; exit 1; fi\n' > bin/check-parameter
    printf '#!/bin/sh\nif [ -e "$1" ]; then echo "promise health: the service is unhealthy ($1 exists)" >&2; exit 1; fi\n' > bin/check-health
    chmod +x bin/check-parameter bin/check-health

[instance-profile]
recipe = template
url = ${:_profile_base_location_}/instance.cfg.in
output = ${buildout:directory}/instance.cfg
`

const instanceProfile = `# Instance profile of the fixture release.
[buildout]
parts = switch-softwaretype

[switch-softwaretype]
recipe = switch-softwaretype
default = instance-default
mariadb = instance-default
postgresql = instance-default

[instance-default]
parts =
    directory
    index
    httpd-service
    httpd-promise
    health-promise
    parameter-promise
    publish-connection
    publish-shared

[instance-parameter]
recipe = slapconfiguration
configuration.port = 8080
configuration.fail = no

[directory]
recipe = mkdirectory
etc = $${buildout:directory}/etc
www = $${buildout:directory}/srv/www

[index]
recipe = template
inline =
    $${instance-parameter:instance-title} in $${instance-parameter:partition-id} of $${instance-parameter:computer-id}
output = $${directory:www}/index.html

[httpd-service]
recipe = service
name = httpd
command-line =
    ${tools:location}/bin/busybox httpd -f
        -p $${instance-parameter:ipv4-random}:$${instance-parameter:configuration.port}
        -h $${directory:www}

[httpd-promise]
recipe = promise
kind = check-url-available
url = http://$${instance-parameter:ipv4-random}:$${instance-parameter:configuration.port}/index.html

[health-promise]
recipe = promise
kind = command
command-line =
    ${tools:location}/bin/check-health $${buildout:directory}/` + healthFile + `

[parameter-promise]
recipe = promise
kind = command
command-line =
    ${tools:location}/bin/check-parameter $${instance-parameter:configuration.fail}

[publish-connection]
recipe = publish
url = http://$${instance-parameter:ipv4-random}:$${instance-parameter:configuration.port}/

[publish-shared]
recipe = publish-shared
url = http://$${instance-parameter:ipv4-random}:$${instance-parameter:configuration.port}/$${shared:guid}/
`

// DefineSoftware writes a fixture release into every node container (and
// those started later) under /srv/defined/<name>/ and returns its
// file:// URL.
func (b *Backend) DefineSoftware(ctx context.Context, spec backend.SoftwareSpec) (string, error) {
	if err := model.ValidateID("software name", spec.Name); err != nil {
		return "", fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	header, recipe := "[tools]", "shell"
	switch spec.Defect {
	case "":
	case backend.DefectUnknownRecipe:
		recipe = "shel" // a typo
	case backend.DefectSyntax:
		header = "[tools" // the closing bracket is missing
	default:
		return "", backend.Errorf(backend.ErrInvalid, "software %s: defect %q: expected %q or %q",
			spec.Name, spec.Defect, backend.DefectUnknownRecipe, backend.DefectSyntax)
	}
	dir := definedDir + "/" + spec.Name
	for _, f := range []cluster.File{
		{Path: dir + "/software.cfg", Content: fmt.Appendf(nil, softwareProfile, spec.Name, header, recipe)},
		{Path: dir + "/instance.cfg.in", Content: []byte(instanceProfile)},
	} {
		if err := b.c.AddFile(ctx, f); err != nil {
			return "", err
		}
	}
	url := "file://" + dir + "/software.cfg"
	b.software[url] = spec.Name
	return url, nil
}
