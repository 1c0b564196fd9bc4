package tolbench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	tol "github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/file"
)

// The sink rows log Buffered, unpaced, from WritersBuffered goroutines, to
// a log that ships to 1, 2 or 3 backup sinks (Options.Backups), each a
// backup/file sink in a directory of its own on the run's disk: what each
// extra sink costs the logging, since every sink has a shipper of its own
// that reads the log and writes a complete backup. File sinks put the
// shippers' full cost (reading, hashing, writing, fsync) on this machine,
// where a remote store would take the writing elsewhere; they need no
// MinIO, so the rows always run.
const (
	RowShipSinks1 = "treeoflife-ship-1-sink"
	RowShipSinks2 = "treeoflife-ship-2-sinks"
	RowShipSinks3 = "treeoflife-ship-3-sinks"
)

// SinkRows are the sink rows, by number of sinks.
var SinkRows = []string{RowShipSinks1, RowShipSinks2, RowShipSinks3}

// sinkRounds is how many times each sink row runs. The rows run in turn,
// 1, 2, 3 sinks, then again: a machine that other work slows for a while
// slows each of them, rather than one. Each row reports its median run.
const sinkRounds = 3

// sinkRow returns the row with sinks sinks, measuring all three sink rows
// together, in rounds, the first time.
func (r *runner) sinkRow(ctx context.Context, sinks int) (Row, error) {
	if r.sinkRows == nil {
		rows, err := interleaved(SinkRows, sinkRounds, "the other sink rows", func(name string, round int) (Row, error) {
			return r.shipSinks(ctx, name, slices.Index(SinkRows, name)+1, round)
		})
		if err != nil {
			return Row{Name: SinkRows[sinks-1]}, err
		}
		r.sinkRows = rows
	}
	return r.sinkRows[SinkRows[sinks-1]], nil
}

// shipSinks writes N entries to a new log with sinks file sinks, then times
// SyncBackup (the drain) separately.
func (r *runner) shipSinks(ctx context.Context, name string, sinks, round int) (Row, error) {
	n := r.cfg.N
	writers := r.cfg.WritersBuffered
	row := Row{Name: name, Writers: writers, Entries: n}
	dir := filepath.Join(r.dir, fmt.Sprintf("%s-%d", name, round))
	var ss []backup.Sink
	for i := range sinks {
		s, err := file.New(ctx, file.Config{Dir: filepath.Join(dir+"-backup", fmt.Sprint(i+1))})
		if err != nil {
			return row, err
		}
		ss = append(ss, s)
	}
	lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, SegmentSize: r.cfg.SegmentSize, Backups: ss})
	if err != nil {
		return row, err
	}
	defer lg.Close()
	m, err := r.startMeter(name)
	if err != nil {
		return row, err
	}
	sampler := startLagSampler(lg)
	cpu0 := selfCPU()
	elapsed, werr := drive(ctx, n, writers, nil, func(i int) error {
		e := r.entry(i)
		_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
		return err
	})
	sampler.sample()
	t0 := time.Now()
	serr := lg.SyncBackup(ctx)
	drain := time.Since(t0)
	cpu := selfCPU() - cpu0
	lagRecords, lag, _ := sampler.finish()
	st := lg.BackupStatus()
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if werr != nil {
		return row, werr
	}
	if serr != nil {
		return row, fmt.Errorf("SyncBackup: %w", serr)
	}
	if err := checkShipped(st, lg.Head().Size, uint64(n)); err != nil {
		return row, err
	}
	if len(st.Sinks) != sinks {
		return row, fmt.Errorf("BackupStatus has %d sinks, want %d", len(st.Sinks), sinks)
	}
	if err := lg.Close(); err != nil {
		return row, fmt.Errorf("closing the logger: %w", err)
	}
	finish(&row, elapsed, 0)
	row.MaxLagRecords, row.MaxLagMs, row.DrainMs = lagRecords, float64(lag)/1e6, float64(drain)/1e6
	row.PUTs, row.UploadedBytes = st.UploadedObjects, st.UploadedBytes
	for _, s := range ss {
		for info, err := range s.List(ctx, "") {
			if err != nil {
				return row, err
			}
			if strings.Contains(info.Key, "/batches/") {
				row.Batches++
			}
		}
	}
	row.CPUusPerEntry = float64(cpu.Microseconds()) / float64(n)
	row.Note = fmt.Sprintf("logging Buffered with %d file sink(s); seconds and entries/s are the logging alone (drain is separate); max lag over the sinks; this process's CPU, logging and drain: %.2f us/entry", sinks, row.CPUusPerEntry)
	return row, diskUsage(&row, dir)
}

// sinkTargets: each extra sink costs at most 10% of the logging rate of
// one sink fewer.
func sinkTargets(by map[string]Row) []Target {
	var ts []Target
	for i := 1; i < len(SinkRows); i++ {
		prev, ok1 := by[SinkRows[i-1]]
		cur, ok2 := by[SinkRows[i]]
		if !ok1 || !ok2 || prev.EntriesPerSec == 0 {
			continue
		}
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s logs at >= 90%% of %s", SinkRows[i], SinkRows[i-1]),
			Got:  fmt.Sprintf("%s vs %s entries/s (%.1f%%)", thousands(cur.EntriesPerSec), thousands(prev.EntriesPerSec), 100*cur.EntriesPerSec/prev.EntriesPerSec),
			Pass: cur.EntriesPerSec >= 0.9*prev.EntriesPerSec,
		})
	}
	return ts
}
