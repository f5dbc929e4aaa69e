package sweep

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/slapgo/slapgo/sim"
	"github.com/slapgo/slapgo/sim/output"
)

// writePoint writes a point's summary.json and timeseries.csv.
func writePoint(dir string, res *sim.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{output.SummaryFile, func(w io.Writer) error { return output.WriteSummaryJSON(w, &res.Summary) }},
		{output.SeriesFile, func(w io.Writer) error { return output.WriteSeries(w, res.Series) }},
	} {
		path := filepath.Join(dir, f.name)
		fh, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		err = f.write(fh)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sweep: %s: %w", path, err)
		}
	}
	return nil
}
