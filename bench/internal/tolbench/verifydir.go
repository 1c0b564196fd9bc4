package tolbench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	tol "github.com/treeoflife/treeoflife"
)

// RowVerifyDir verifies RowBuffered's log as an auditor does, with
// VerifyDir on the directory (no logger open), after RowVerify or in its
// place.
const RowVerifyDir = "treeoflife-verify-dir"

// tolVerifyDir times VerifyDir over the log RowBuffered wrote.
func (r *runner) tolVerifyDir(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowBuffered)
	row := Row{Name: RowVerifyDir, Writers: 1}
	m, err := r.startMeter(RowVerifyDir)
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	rep, verr := tol.VerifyDir(ctx, dir)
	elapsed := time.Since(t0)
	row.Entries = int(rep.Head.Size) // before stop, which divides by it
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if verr != nil {
		return row, fmt.Errorf("VerifyDir: %w", verr)
	}
	if row.Entries != r.cfg.N {
		return row, fmt.Errorf("VerifyDir verified %d records, want %d", row.Entries, r.cfg.N)
	}
	finish(&row, elapsed, 0)
	return row, diskUsage(&row, dir)
}
