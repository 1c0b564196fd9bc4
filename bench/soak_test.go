package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/treeoflife/treeoflife/bench/internal/tolbench"
)

// TestSoak runs the soak for a few seconds at a low rate, with one kill and
// restart of MinIO, against the MinIO in TOL_MINIO_BIN. It checks that the
// soak runs to its end and that the log, the backup and the reader agree;
// the flatness checks it only logs: a few one-second samples say little
// about growth.
func TestSoak(t *testing.T) {
	bin := minioBin(t, "the soak")
	const (
		duration = 6 * time.Second
		rate     = 300
	)
	var streamed []tolbench.SoakSample
	res, err := tolbench.RunSoak(context.Background(), tolbench.SoakConfig{
		Duration:    duration,
		Rate:        rate,
		Writers:     3,
		KillEvery:   duration / 2, // once: the second kill would be due at the end
		SampleEvery: time.Second,
		SegmentSize: 64 << 10, // seals (and compresses) a segment every second or so
		MinIOBin:    bin,
		Dir:         t.TempDir(),
		OnSample:    func(s tolbench.SoakSample) { streamed = append(streamed, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tolbench.WriteSoakHeader(&out)
	for _, s := range res.Samples {
		tolbench.WriteSoakSample(&out, s)
	}
	if err := tolbench.WriteSoakSummary(&out, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.Bytes())

	want := float64(rate) * duration.Seconds()
	if got := float64(res.Entries); got < 0.75*want || got > 1.1*want {
		t.Errorf("logged %v records, want about %v (%d/s for %v)", got, want, rate, duration)
	}
	// One at the start, one a second, one at the end.
	if len(res.Samples) < 6 || len(streamed) != len(res.Samples) {
		t.Errorf("%d samples, %d passed to OnSample; want at least 6, all passed", len(res.Samples), len(streamed))
	}
	if last := res.Samples[len(res.Samples)-1]; last.Logged != res.Entries || last.Restarts != 1 {
		t.Errorf("last sample: logged %d, %d restarts; want %d, 1", last.Logged, last.Restarts, res.Entries)
	}
	if len(res.Restarts) != 1 || res.Restarts[0].RecoveredMs < 0 {
		t.Errorf("restarts %+v, want one, after which the backup caught up", res.Restarts)
	}
	if res.Files < 4 {
		t.Errorf("the log has %d files; want several segments", res.Files)
	}
	for _, c := range res.Checks {
		if strings.HasSuffix(c.Name, " flat") {
			continue
		}
		if !c.Pass {
			t.Errorf("FAIL %s: %s", c.Name, c.Got)
		}
	}

	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "entries", "entries_per_sec", "rss_mib", "fds", "goroutines", "restarts", "checks", "log_size", "backup_size"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the summary's JSON has no %q: %s", k, b)
		}
	}
	if m["name"] != tolbench.RowSoak {
		t.Errorf("the summary's JSON name is %v, want %s", m["name"], tolbench.RowSoak)
	}
}
