package clusterbackend

import (
	"context"
	"fmt"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
)

// definedDir is where the node containers hold the releases scenarios
// define (one directory per release name).
const definedDir = "/srv/defined"

// DefineSoftware writes a fixture release into every node container (and
// those started later) under /srv/defined/<name>/ and returns its
// file:// URL.
func (b *Backend) DefineSoftware(ctx context.Context, spec backend.SoftwareSpec) (string, error) {
	if err := model.ValidateID("software name", spec.Name); err != nil {
		return "", fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	profile, err := stackkit.SoftwareProfile("cluster", stackkit.FindBusyboxWhich, spec)
	if err != nil {
		return "", err
	}
	dir := definedDir + "/" + spec.Name
	for _, f := range []cluster.File{
		{Path: dir + "/software.cfg", Content: []byte(profile)},
		{Path: dir + "/instance.cfg.in", Content: []byte(stackkit.InstanceProfile)},
	} {
		if err := b.c.AddFile(ctx, f); err != nil {
			return "", err
		}
	}
	url := "file://" + dir + "/software.cfg"
	b.software[url] = spec.Name
	return url, nil
}
