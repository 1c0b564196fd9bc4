package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/treeoflife/treeoflife/bench/internal/tolbench"
)

// TestMain lets this test binary stand in for cmd/tolbench as the RSS child.
func TestMain(m *testing.M) {
	if tolbench.IsChild(os.Args) {
		os.Exit(tolbench.ChildMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchmark runs every row on a few entries: it checks that each runs and
// reports a rate and that Verify passes, not how fast anything is.
func TestBenchmark(t *testing.T) {
	const n = 2000
	rows, err := tolbench.Run(context.Background(), tolbench.Config{
		N:           n,
		NSync:       n,
		WritersSync: 16,
		RSSN:        n,
		Exe:         os.Args[0],
		SegmentSize: 64 << 10, // several segments, so Verify crosses a seal
		Dir:         t.TempDir(),
	})
	if err != nil {
		t.Fatal(err) // includes a Verify failure
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
		if r.Entries != n || r.EntriesPerSec <= 0 || r.BytesPerEntry <= 0 {
			t.Errorf("%s: entries %d, %v entries/s, %v bytes/entry; want %d and positive rates", r.Name, r.Entries, r.EntriesPerSec, r.BytesPerEntry, n)
		}
	}
	if !slices.Equal(names, tolbench.AllRows) {
		t.Errorf("rows %v, want %v", names, tolbench.AllRows)
	}
	for _, r := range rows {
		if r.Name == tolbench.RowSync && (r.P50ms <= 0 || r.P99ms < r.P50ms) {
			t.Errorf("%s: p50 %v ms, p99 %v ms; want 0 < p50 <= p99", r.Name, r.P50ms, r.P99ms)
		}
	}

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
	t.Logf("\n%s", buf.Bytes())
}
