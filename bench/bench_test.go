package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	tol "github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/bench/internal/tolbench"
)

// TestMain lets this test binary stand in for cmd/tolbench as the RSS child.
func TestMain(m *testing.M) {
	if tolbench.IsChild(os.Args) {
		os.Exit(tolbench.ChildMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchmark runs every row but the S3 rows on a few entries: it checks
// that each runs and reports a rate and that Verify passes, not how fast
// anything is. TestBenchmarkS3 runs the S3 rows.
func TestBenchmark(t *testing.T) {
	const n = 2000
	rows, err := tolbench.Run(context.Background(), tolbench.Config{
		N:           n,
		NSync:       n,
		WritersSync: 16,
		RSSN:        n,
		ProveN:      n,
		Exe:         os.Args[0],
		SegmentSize: 64 << 10, // several segments, so Verify and the reads cross a seal
		Dir:         t.TempDir(),
	})
	if err != nil {
		t.Fatal(err) // includes a Verify failure, a wrong Search or a short Entries
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
		want := n
		switch r.Name {
		case tolbench.RowReadPage:
			want = 2 * 100 * 100 // two pages of 100, read 100 times each
		case tolbench.RowProve:
			want = tolbench.ProveSamples // proofs timed
		case tolbench.RowDashOverview, tolbench.RowDashSearch:
			want = tolbench.DashRequests // pages timed
		}
		if r.Entries != want || r.EntriesPerSec <= 0 || r.BytesPerEntry <= 0 {
			t.Errorf("%s: entries %d, %v entries/s, %v bytes/entry; want %d and positive rates", r.Name, r.Entries, r.EntriesPerSec, r.BytesPerEntry, want)
		}
	}
	var wantNames []string
	for _, name := range tolbench.AllRows {
		if !slices.Contains(tolbench.S3Rows, name) {
			wantNames = append(wantNames, name)
		}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("rows %v, want %v", names, wantNames)
	}
	for _, r := range rows {
		for _, g := range tolbench.RoundGroups {
			want := fmt.Sprintf("the median of %d runs interleaved with %s", g.Rounds, g.Others)
			if slices.Contains(g.Rows, r.Name) && !strings.Contains(r.Note, want) {
				t.Errorf("%s: note %q; want %q", r.Name, r.Note, want)
			}
		}
		if runtime.GOOS == "linux" && slices.Contains([]string{tolbench.RowBuffered, tolbench.RowBufferedEncrypted, tolbench.RowAESGCM}, r.Name) && r.CPUusPerEntry <= 0 {
			t.Errorf("%s: CPU %v us/entry; want it measured (getrusage)", r.Name, r.CPUusPerEntry)
		}
		switch r.Name {
		case tolbench.RowSync, tolbench.RowReadPage, tolbench.RowProve, tolbench.RowOpen, tolbench.RowDashOverview, tolbench.RowDashSearch, tolbench.RowDashStream:
			if r.P50ms <= 0 || r.P99ms < r.P50ms {
				t.Errorf("%s: p50 %v ms, p99 %v ms; want 0 < p50 <= p99", r.Name, r.P50ms, r.P99ms)
			}
		}
	}
	if runtime.GOOS == "linux" {
		// The encrypted row's verdict says what AES-GCM alone leaves.
		found := false
		for _, tg := range tolbench.Targets(rows) {
			if strings.HasPrefix(tg.Name, tolbench.RowBufferedEncrypted+" >= ") {
				found = true
				if !strings.Contains(tg.Got, tolbench.RowAESGCM+" alone is ") || !strings.Contains(tg.Got, "x while both are bound by the CPU") {
					t.Errorf("target %q: got %q; want the bound that %s sets", tg.Name, tg.Got, tolbench.RowAESGCM)
				}
			}
		}
		if !found {
			t.Errorf("no target for %s", tolbench.RowBufferedEncrypted)
		}
	}
	checkOutput(t, rows)
}

// TestBenchmarkS3 runs the S3 rows on a few entries against a MinIO server
// that the benchmark starts from TOL_MINIO_BIN (scripts/test.sh sets it).
// Without it the test skips, unless TOL_REQUIRE_INTEGRATION=1.
func TestBenchmarkS3(t *testing.T) {
	bin := minioBin(t, "the S3 rows")
	const n = 5*tol.DefaultBackupBatchSize/2 + 1 // not a multiple of the batch size: the last batch is partial
	rows, err := tolbench.Run(context.Background(), tolbench.Config{
		N:           n,
		WritersSync: 16,
		SegmentSize: 64 << 10,
		Rows:        tolbench.S3Rows,
		MinIOBin:    bin,
		Dir:         t.TempDir(),
	})
	if err != nil {
		t.Fatal(err) // includes a restored head that differs from the shipped one
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
		if r.Entries != n || r.EntriesPerSec <= 0 || r.BytesPerEntry <= 0 {
			t.Errorf("%s: entries %d, %v entries/s, %v bytes/entry; want %d and positive rates", r.Name, r.Entries, r.EntriesPerSec, r.BytesPerEntry, n)
		}
		if r.Name == tolbench.RowRestoreS3 {
			continue
		}
		if r.Name == tolbench.RowShipS3Paced && (r.OfferedPerSec != tolbench.DefaultShipRate || r.EntriesPerSec > 1.25*r.OfferedPerSec) {
			t.Errorf("%s: logged %v entries/s, offered %v; want the default rate, not exceeded by more than the pacer's millisecond of slack", r.Name, r.EntriesPerSec, r.OfferedPerSec)
		}
		// Every record is in a batch of at most DefaultBackupBatchSize; the
		// backlog that the capacity row ships goes in full batches but the
		// last.
		minBatches := int64((n + tol.DefaultBackupBatchSize - 1) / tol.DefaultBackupBatchSize)
		if r.Batches < minBatches || r.Name == tolbench.RowShipCapacity && r.Batches != minBatches {
			t.Errorf("%s: %d batch objects for %d records", r.Name, r.Batches, n)
		}
		if r.PUTs < r.Batches || r.UploadedBytes < int64(n)*100 || r.MaxLagRecords == 0 {
			t.Errorf("%s: %d PUTs, %d bytes uploaded, max lag %d records; want at least a batch each, ~400 bytes a record, and some lag seen",
				r.Name, r.PUTs, r.UploadedBytes, r.MaxLagRecords)
		}
	}
	if !slices.Equal(names, tolbench.S3Rows) {
		t.Errorf("rows %v, want %v", names, tolbench.S3Rows)
	}
	checkOutput(t, rows)
}

// minioBin returns TOL_MINIO_BIN, or skips the test that needs it for what
// (fails under TOL_REQUIRE_INTEGRATION=1).
func minioBin(t *testing.T, what string) string {
	t.Helper()
	bin := os.Getenv("TOL_MINIO_BIN")
	if bin == "" {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("TOL_MINIO_BIN is not set, and TOL_REQUIRE_INTEGRATION=1 requires %s", what)
		}
		t.Skipf("TOL_MINIO_BIN is not set: %s need a minio binary (scripts/test.sh and `make bench` provide one)", what)
	}
	return bin
}

// TestS3RowsNeedMinIO: naming an S3 row without a MinIO is an error that
// says how to get one, not a silent skip.
func TestS3RowsNeedMinIO(t *testing.T) {
	_, err := tolbench.Run(context.Background(), tolbench.Config{N: 10, Rows: []string{tolbench.RowShipS3}, Dir: t.TempDir()})
	if !errors.Is(err, tolbench.ErrNoMinIO) {
		t.Fatalf("Run: %v, want ErrNoMinIO", err)
	}
}

// checkOutput checks that rows print as JSON lines and as a table.
func checkOutput(t *testing.T, rows []tolbench.Row) {
	t.Helper()
	var buf bytes.Buffer
	if err := tolbench.WriteJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("JSON line %d: %v", i, err)
		}
		for _, k := range []string{"name", "entries_per_sec", "p50_ms", "p99_ms", "bytes_per_entry"} {
			if _, ok := m[k]; !ok {
				t.Errorf("JSON line %d has no %q: %s", i, k, line)
			}
		}
	}
	buf.Reset()
	if err := tolbench.WriteTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if err := tolbench.WriteTargets(&buf, tolbench.Targets(rows)); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.Bytes())
}
