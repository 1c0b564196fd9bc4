package tolbench

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// RoundGroups are the rows whose targets compare them with each other:
// treeoflife-buffered with slog-json, and treeoflife-slog,
// treeoflife-buffered-signed and treeoflife-buffered-encrypted with
// treeoflife-buffered; treeoflife-sync-signed and treeoflife-ship-s3 with
// treeoflife-sync; treeoflife-verify with sha256, and
// treeoflife-verify-anchored with treeoflife-verify. The rows of a group
// run together, interleaved, Rounds times, and each reports its median
// run: on a shared machine whose speed drifts by tens of percent within
// minutes, single runs minutes apart compare the machine's moments as much
// as the loggers. The verifying rows take under a second each, so a
// moment decides a single run of theirs; they run five times.
var RoundGroups = []RoundGroup{
	{Rows: []string{RowBuffered, RowTolSlog, RowBufferedSigned, RowBufferedEncrypted, RowSlog}, Others: "the other Buffered rows", Rounds: writeRounds},
	{Rows: []string{RowSync, RowSyncSigned, RowShipS3}, Others: "the other Sync rows", Rounds: writeRounds},
	{Rows: []string{RowVerify, RowVerifyDir, RowSHA256, RowVerifyAnchored}, Others: "the other verifying rows", Rounds: verifyRounds},
}

// A RoundGroup is rows measured together (RoundGroups).
type RoundGroup struct {
	Rows   []string
	Others string // what a row's note says it was interleaved with
	Rounds int    // how many times each row runs
}

// roundGroup returns the group of RoundGroups that holds row name.
func roundGroup(name string) (RoundGroup, bool) {
	for _, g := range RoundGroups {
		if slices.Contains(g.Rows, name) {
			return g, true
		}
	}
	return RoundGroup{}, false
}

// writeRounds and verifyRounds are how many times each row of a
// RoundGroup of loggers, and of the group of verifying rows, runs.
const (
	writeRounds  = 3
	verifyRounds = 5
)

// roundRow returns row name of group g, measuring all the rows of g that
// the run asks for, in rounds, the first time. Each run of a row that
// writes starts from an empty log (or file), and the last round's is kept
// for the rows that read it (the verifying rows among them).
func (r *runner) roundRow(ctx context.Context, g RoundGroup, name string) (Row, error) {
	if row, ok := r.roundRows[name]; ok {
		return row, nil
	}
	var names []string
	for _, n := range g.Rows {
		if r.cfg.wants(n) {
			names = append(names, n)
		}
	}
	if slices.Contains(names, RowShipS3) {
		// MinIO, started now, runs through every round: the Sync rows
		// share the machine with it as treeoflife-ship-s3 does.
		if _, err := r.s3Sink(ctx); err != nil {
			return Row{Name: name}, err
		}
	}
	rows, err := interleaved(names, g.Rounds, g.Others, func(n string, _ int) (Row, error) {
		for _, p := range []string{n, n + ".log"} {
			if err := os.RemoveAll(filepath.Join(r.dir, p)); err != nil {
				return Row{Name: n}, err
			}
		}
		return r.runOnce(ctx, n)
	})
	if err != nil {
		return Row{Name: name}, err
	}
	if r.roundRows == nil {
		r.roundRows = map[string]Row{}
	}
	maps.Copy(r.roundRows, rows)
	return r.roundRows[name], nil
}

// interleaved runs each of names rounds times, in turn (each of them, then
// again), and returns each one's median run (medianRow), whose note says
// it was interleaved with the others.
func interleaved(names []string, rounds int, others string, run func(name string, round int) (Row, error)) (map[string]Row, error) {
	runs := map[string][]Row{}
	for round := range rounds {
		for _, n := range names {
			row, err := run(n, round)
			if err != nil {
				return nil, err
			}
			runs[n] = append(runs[n], row)
		}
	}
	med := map[string]Row{}
	for n, rs := range runs {
		med[n] = medianRow(rs, "interleaved with "+others)
	}
	return med, nil
}

// medianRow returns the run of rs with the median entries/s, its note
// extended with every run's entries/s (and CPU per entry, where measured).
// A backup row's lag and drain are the largest of any run: their targets
// bound the worst case.
func medianRow(rs []Row, with string) Row {
	sorted := slices.SortedFunc(slices.Values(rs), func(a, b Row) int { return cmp.Compare(a.EntriesPerSec, b.EntriesPerSec) })
	med := sorted[len(sorted)/2]
	var rates, cpus []string
	for _, x := range rs {
		if x.MaxLagMs > med.MaxLagMs {
			med.MaxLagMs, med.MaxLagRecords = x.MaxLagMs, x.MaxLagRecords
		}
		med.DrainMs = max(med.DrainMs, x.DrainMs)
		rates = append(rates, thousands(x.EntriesPerSec))
		if x.CPUusPerEntry > 0 {
			cpus = append(cpus, fmt.Sprintf("%.2f", x.CPUusPerEntry))
		}
	}
	if med.Note != "" {
		med.Note += "; "
	}
	med.Note += fmt.Sprintf("the median of %d runs %s (entries/s: %s", len(rs), with, strings.Join(rates, ", "))
	if len(cpus) == len(rs) {
		med.Note += "; CPU us/entry: " + strings.Join(cpus, ", ")
	}
	med.Note += ")"
	if med.MaxLagMs > 0 || med.DrainMs > 0 {
		med.Note += "; backup lag and drain: the largest of the runs"
	}
	return med
}
