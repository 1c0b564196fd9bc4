package tolbench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tol "github.com/treeoflife/treeoflife"
)

// tolWrite writes n entries to a new treeoflife log in dir, opened with opts
// (plus the configured SegmentSize), from writers goroutines, closing it in
// the timed section, and checks the head.
func (r *runner) tolWrite(ctx context.Context, name, dir string, opts tol.Options, n, writers int, measureLatency bool) (Row, error) {
	return r.tolWriteWith(ctx, name, dir, opts, n, writers, measureLatency, func(lg *tol.ImmutableLogger) (func(i int) error, func() error) {
		write := func(i int) error {
			e := r.entry(i)
			_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
			return err
		}
		return write, nil
	})
}

// tolWriteWith is tolWrite with the write of entry i made by calls(lg); its
// check, when not nil, runs after the writes and fails the row.
func (r *runner) tolWriteWith(ctx context.Context, name, dir string, opts tol.Options, n, writers int, measureLatency bool,
	calls func(lg *tol.ImmutableLogger) (write func(i int) error, check func() error)) (Row, error) {
	row := Row{Name: name, Writers: writers, Entries: n}
	opts.SegmentSize = r.cfg.SegmentSize
	lg, err := tol.Open(dir, opts)
	if err != nil {
		return row, err
	}
	var lat []int64
	if measureLatency {
		lat = make([]int64, n)
	}
	write, check := calls(lg)
	m, err := r.startMeter(name)
	if err != nil {
		lg.Close()
		return row, err
	}
	elapsed, werr := drive(ctx, n, writers, lat, write)
	if werr == nil && check != nil {
		werr = check()
	}
	size := lg.Head().Size
	t0 := time.Now()
	cerr := lg.Close()
	closing := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if werr != nil {
		return row, werr
	}
	if cerr != nil {
		return row, fmt.Errorf("closing the logger: %w", cerr)
	}
	if size != uint64(n) {
		return row, fmt.Errorf("Head().Size is %d after writing %d entries", size, n)
	}
	finish(&row, elapsed, closing)
	percentiles(&row, lat)
	return row, diskUsage(&row, dir)
}

func (r *runner) tolBuffered(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowBuffered)
	return r.tolWrite(ctx, RowBuffered, dir, tol.Options{Durability: tol.DurabilityBuffered}, r.cfg.N, r.cfg.WritersBuffered, false)
}

// benchKey is the AES-256 key of RowBufferedEncrypted: fixed, since nothing
// about the benchmark is secret.
var benchKey = sha256.Sum256([]byte("tolbench encryption key"))

// tolBufferedEncrypted is RowBuffered with Options.EncryptionKey: every
// entry is sealed with AES-256-GCM before it is appended.
func (r *runner) tolBufferedEncrypted(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowBufferedEncrypted)
	opts := tol.Options{Durability: tol.DurabilityBuffered, EncryptionKey: benchKey[:]}
	return r.tolWrite(ctx, RowBufferedEncrypted, dir, opts, r.cfg.N, r.cfg.WritersBuffered, false)
}

// preparedLog returns the directory of a closed log of N entries written
// with Buffered: RowBuffered's, if that row ran, or else one written now
// (not timed, not a row) and reused by later rows.
func (r *runner) preparedLog(ctx context.Context) (string, error) {
	if r.prepared != "" {
		return r.prepared, nil
	}
	dir := filepath.Join(r.dir, RowBuffered)
	if _, err := os.Stat(dir); err == nil {
		r.prepared = dir
		return dir, nil
	}
	dir = filepath.Join(r.dir, "prepared")
	r.cfg.logf("tolbench: writing %d entries with Buffered for the read and backup rows (not timed)", r.cfg.N)
	lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, SegmentSize: r.cfg.SegmentSize})
	if err != nil {
		return "", err
	}
	_, werr := drive(ctx, r.cfg.N, r.cfg.WritersBuffered, nil, func(i int) error {
		e := r.entry(i)
		_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
		return err
	})
	if err := lg.Close(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return "", fmt.Errorf("preparing a log of %d entries: %w", r.cfg.N, werr)
	}
	r.prepared = dir
	return dir, nil
}

func (r *runner) tolSync(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowSync)
	probe, perr := probeFsync(r.dir, r.cfg.WritersSync)
	row, err := r.tolWrite(ctx, RowSync, dir, tol.Options{Durability: tol.DurabilitySync}, r.cfg.NSync, r.cfg.WritersSync, true)
	var notes []string
	if r.cfg.NSync < r.cfg.N {
		notes = append(notes, fmt.Sprintf("%d entries, not -n %d (-n-sync)", r.cfg.NSync, r.cfg.N))
	}
	if perr != nil {
		notes = append(notes, "fsync probe failed: "+perr.Error())
	} else {
		notes = append(notes, probe)
	}
	row.Note = strings.Join(notes, "; ")
	return row, err
}

// probeFsync measures the disk under dir: appends of 16 KiB (about one
// group commit's worth of records) each followed by fsync. Every writer
// waits for an fsync per record, so writers / fsync latency bounds the Sync
// rate whatever the logger does; the result says what that bound is here.
func probeFsync(dir string, writers int) (string, error) {
	const rounds = 100
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 16<<10)
	lat := make([]int64, rounds)
	for i := range lat {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return "", err
		}
		if err := f.Sync(); err != nil {
			return "", err
		}
		lat[i] = int64(time.Since(t0))
	}
	var p Row
	percentiles(&p, lat)
	return fmt.Sprintf("disk: 16 KiB write+fsync p50 %.2f ms, p99 %.2f ms, so %d writers get at most ~%s entries/s",
		p.P50ms, p.P99ms, writers, thousands(float64(writers)/(p.P50ms/1e3))), nil
}

// tolVerify reopens the log RowBuffered wrote and times Verify over it.
func (r *runner) tolVerify(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowBuffered)
	row := Row{Name: RowVerify, Writers: 1}
	t0 := time.Now()
	lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, SegmentSize: r.cfg.SegmentSize})
	if err != nil {
		return row, fmt.Errorf("reopening %s: %w", dir, err)
	}
	reopen := time.Since(t0)
	defer lg.Close()
	row.Entries = int(lg.Head().Size)
	if row.Entries != r.cfg.N {
		return row, fmt.Errorf("reopened log has Head().Size %d, want %d", row.Entries, r.cfg.N)
	}
	m, err := r.startMeter(RowVerify)
	if err != nil {
		return row, err
	}
	t0 = time.Now()
	_, verr := lg.Verify(ctx)
	elapsed := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if verr != nil {
		return row, fmt.Errorf("verifying: %w", verr)
	}
	if err := lg.Close(); err != nil {
		return row, fmt.Errorf("closing the logger: %w", err)
	}
	finish(&row, elapsed, 0)
	row.Note = fmt.Sprintf("reopen took %.0f ms (not timed)", float64(reopen)/1e6)
	return row, diskUsage(&row, dir)
}
