package livebackend

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
)

// writeRelease writes the fixture release into dir and returns its URL.
func writeRelease(dir string, spec backend.SoftwareSpec) (string, error) {
	profile, err := stackkit.SoftwareProfile("live", stackkit.FindBusybox, spec)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("livebackend: %w", err)
	}
	files := map[string]string{
		"software.cfg":    profile,
		"instance.cfg.in": stackkit.InstanceProfile,
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
