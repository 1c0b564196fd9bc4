package tolbench

import (
	"slices"
	"strings"
	"testing"
)

// TestMedianRow: a group's row is its median run by rate, but a backup
// row's lag and drain are the worst of its runs.
func TestMedianRow(t *testing.T) {
	rs := []Row{
		{EntriesPerSec: 300, MaxLagMs: 100, MaxLagRecords: 10, DrainMs: 9, P99ms: 3},
		{EntriesPerSec: 100, MaxLagMs: 700, MaxLagRecords: 70, DrainMs: 1, P99ms: 1},
		{EntriesPerSec: 200, MaxLagMs: 400, MaxLagRecords: 40, DrainMs: 5, P99ms: 2, Note: "row note"},
	}
	got := medianRow(rs, "interleaved with the others")
	if got.EntriesPerSec != 200 || got.P99ms != 2 {
		t.Errorf("rate %v, p99 %v: want the median run's, 200 and 2", got.EntriesPerSec, got.P99ms)
	}
	if got.MaxLagMs != 700 || got.MaxLagRecords != 70 || got.DrainMs != 9 {
		t.Errorf("lag %v ms (%d records), drain %v ms: want the worst runs', 700 ms (70) and 9 ms", got.MaxLagMs, got.MaxLagRecords, got.DrainMs)
	}
	for _, want := range []string{"row note; ", "the median of 3 runs interleaved with the others (entries/s: 300, 100, 200)", "backup lag and drain: the largest of the runs"} {
		if !strings.Contains(got.Note, want) {
			t.Errorf("note %q lacks %q", got.Note, want)
		}
	}

	plain := medianRow([]Row{{EntriesPerSec: 1}, {EntriesPerSec: 2}, {EntriesPerSec: 3}}, "alone")
	if strings.Contains(plain.Note, "backup") {
		t.Errorf("note %q of a row that does not back up mentions the backup", plain.Note)
	}
}

// TestRoundGroupRows: the rows a group measures are those the run asks
// for, and the S3 row only with a MinIO.
func TestRoundGroupRows(t *testing.T) {
	g, ok := roundGroup(RowShipS3)
	if !ok || !slices.Contains(g.Rows, RowSync) {
		t.Fatalf("%s is not in treeoflife-sync's group (%v)", RowShipS3, g.Rows)
	}
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{}, []string{RowSync, RowSyncSigned}},
		{Config{MinIOBin: "minio"}, []string{RowSync, RowSyncSigned, RowShipS3}},
		{Config{MinIOBin: "minio", Rows: []string{RowSync, RowShipS3}}, []string{RowSync, RowShipS3}},
		{Config{Rows: []string{RowSync, RowShipS3}}, []string{RowSync}},
	} {
		var got []string
		for _, n := range g.Rows {
			if tc.cfg.wants(n) {
				got = append(got, n)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("MinIO %q, rows %v: group measures %v, want %v", tc.cfg.MinIOBin, tc.cfg.Rows, got, tc.want)
		}
	}
}

// TestRoundGroups: every group runs its rows an odd number of times, more
// than once, so that its median is one of its runs, and no row is in two
// groups.
func TestRoundGroups(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range RoundGroups {
		if g.Rounds < 3 || g.Rounds%2 == 0 {
			t.Errorf("group %v runs %d rounds; want an odd number, at least 3", g.Rows, g.Rounds)
		}
		for _, n := range g.Rows {
			if seen[n] {
				t.Errorf("row %s is in two groups", n)
			}
			seen[n] = true
		}
	}
	if g, ok := roundGroup(RowVerify); !ok || !slices.Contains(g.Rows, RowSHA256) || !slices.Contains(g.Rows, RowVerifyAnchored) {
		t.Errorf("%s is not measured with %s and %s (%v)", RowVerify, RowSHA256, RowVerifyAnchored, g.Rows)
	}
}
