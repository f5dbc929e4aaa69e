package stackkit

import (
	"fmt"

	"github.com/slapgo/slapgo/features/backend"
)

// HealthFile is the file, in a partition, whose presence makes the fixture
// release's health promise fail (SetPromise).
const HealthFile = "promise-fails"

// Busybox lines for SoftwareProfile: how the release's tools part finds
// busybox. FindBusyboxWhich is for hosts whose shell is busybox itself:
// `which`, not `command -v`, since busybox's shell answers "busybox" for
// its own applets rather than a path.
const (
	FindBusybox      = `bb=$(command -v busybox) || { echo "no busybox in PATH" >&2; exit 1; }`
	FindBusyboxWhich = `bb=$(which busybox) && bb=$(readlink -f "$bb") || { echo "no busybox in PATH" >&2; exit 1; }`
)

// The fixture release the scenarios' software names stand for: busybox's
// httpd serving a page on the partition's IPv4 address, a promise that
// fetches it, a health promise that fails while HealthFile exists, a
// promise that refuses parameter fail=configure (the configuration fails),
// the URL published, and one URL per hosted shared instance. It knows the
// software types the scenarios use.
const softwareProfileTemplate = `# Fixture release %[1]q of the %[4]s feature scenarios.
[buildout]
parts =
    tools
    instance-profile
instance-profile = instance-profile

%[2]s
recipe = %[3]s
command =
    %[5]s
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

// InstanceProfile is the fixture release's instance.cfg.in, to be written
// next to the software profile.
const InstanceProfile = `# Instance profile of the fixture release.
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
    ${tools:location}/bin/check-health $${buildout:directory}/` + HealthFile + `

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

// SoftwareProfile is the fixture release's software.cfg for spec, naming
// stack ("live", "cluster") in its first comment and finding busybox with
// findBusybox (FindBusybox or FindBusyboxWhich). spec.Defect, when set,
// breaks the profile as asked; an unknown defect is backend.ErrInvalid.
func SoftwareProfile(stack, findBusybox string, spec backend.SoftwareSpec) (string, error) {
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
	return fmt.Sprintf(softwareProfileTemplate, spec.Name, header, recipe, stack, findBusybox), nil
}
