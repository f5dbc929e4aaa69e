package livebackend

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slapgo/slapgo/features/backend"
)

// healthFile is the file, in a partition, whose presence makes the fixture
// release's health promise fail (SetPromise).
const healthFile = "promise-fails"

// The fixture release the scenarios' software names stand for: busybox's
// httpd serving a page on the partition's IPv4 address, a promise that
// fetches it, a health promise that fails while healthFile exists, a
// promise that refuses parameter fail=configure (the configuration fails),
// the URL published, and one URL per hosted shared instance. It knows the
// software types the scenarios use.
const softwareProfile = `# Fixture release %[1]q of the live feature scenarios.
[buildout]
parts =
    tools
    instance-profile
instance-profile = instance-profile

%[2]s
recipe = %[3]s
command =
    bb=$(command -v busybox) || { echo "no busybox in PATH" >&2; exit 1; }
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

// writeRelease writes the fixture release into dir and returns its URL.
func writeRelease(dir string, spec backend.SoftwareSpec) (string, error) {
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("livebackend: %w", err)
	}
	files := map[string]string{
		"software.cfg":    fmt.Sprintf(softwareProfile, spec.Name, header, recipe),
		"instance.cfg.in": instanceProfile,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("livebackend: %w", err)
		}
	}
	abs, err := filepath.Abs(filepath.Join(dir, "software.cfg"))
	if err != nil {
		return "", fmt.Errorf("livebackend: %w", err)
	}
	return "file://" + strings.ReplaceAll(abs, " ", "%20"), nil
}
