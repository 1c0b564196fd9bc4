package tolbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	tol "github.com/treeoflife/treeoflife"
)

// OpenRuns is how many times RowOpen opens the log.
const OpenRuns = 5

// tolOpen times Open of a large log, as a service restarting on it does:
// the log RowProve wrote (ProveN entries, Buffered, a signer) when that row
// ran, else one written here the same way (not timed). Each of OpenRuns
// opens is followed by Close (not timed). The row's seconds are the
// median open, p50/p99 its spread; entries is the log's size. The files
// were just written, so they are in the page cache.
func (r *runner) tolOpen(ctx context.Context) (Row, error) {
	row := Row{Name: RowOpen, Writers: 1}
	s, _, err := benchSigner()
	if err != nil {
		return row, err
	}
	opts := tol.Options{Durability: tol.DurabilityBuffered, Signer: s, SegmentSize: r.cfg.SegmentSize}
	dir := r.proveDir
	if dir == "" {
		dir = filepath.Join(r.dir, RowOpen)
		r.cfg.logf("tolbench: writing %d entries with Buffered for %s (not timed)", r.cfg.ProveN, RowOpen)
		lg, err := tol.Open(dir, opts)
		if err != nil {
			return row, err
		}
		if _, err := drive(ctx, r.cfg.ProveN, r.cfg.WritersBuffered, nil, func(i int) error {
			e := r.entry(i)
			_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
			return err
		}); err != nil {
			lg.Close()
			return row, err
		}
		if err := lg.Close(); err != nil {
			return row, err
		}
		defer os.RemoveAll(dir)
	}
	m, err := r.startMeter(RowOpen)
	if err != nil {
		return row, err
	}
	lat := make([]int64, OpenRuns)
	for i := range lat {
		t0 := time.Now()
		lg, err := tol.Open(dir, opts)
		if err != nil {
			return row, err
		}
		lat[i] = int64(time.Since(t0))
		row.Entries = int(lg.Head().Size)
		if err := lg.Close(); err != nil {
			return row, err
		}
	}
	if err := m.stop(&row); err != nil {
		return row, err
	}
	percentiles(&row, lat)
	finish(&row, time.Duration(row.P50ms*1e6), 0)
	if err := diskUsage(&row, dir); err != nil {
		return row, err
	}
	row.Note = fmt.Sprintf("Open of a log of %d records (%d files), %d times; fastest %.1f ms, slowest %.1f ms",
		row.Entries, row.Files, OpenRuns, float64(lat[0])/1e6, row.Maxms)
	return row, nil
}
