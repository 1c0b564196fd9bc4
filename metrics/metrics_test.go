package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/metrics"
)

func openLogger(t testing.TB) *treeoflife.ImmutableLogger {
	t.Helper()
	l, err := treeoflife.Open(t.TempDir(), treeoflife.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value returns the value of the metric in family name whose labels
// include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i < len(want); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == want[i] && lp.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no metric %s%v", name, want)
	return 0
}

func TestMetricsScrape(t *testing.T) {
	ctx := context.Background()
	l := openLogger(t)
	for range 3 {
		if _, err := l.Audit("login", treeoflife.Fields{"user": "ann"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Revenue("payment", treeoflife.Fields{"amount": 9900}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(l, metrics.WithConstLabels(prometheus.Labels{"log": "audit"})))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()

	mfs := scrape(t, srv.URL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"treeoflife_records", nil, 4},
		{"treeoflife_segments", nil, 1},
		{"treeoflife_records_written_total", []string{"level", "AUDIT", "log", "audit"}, 3},
		{"treeoflife_records_written_total", []string{"level", "REVENUE"}, 1},
		{"treeoflife_records_written_total", []string{"level", "INFO"}, 0},
		{"treeoflife_fsync_duration_seconds", nil, 4}, // one fsync per Sync call
		{"treeoflife_group_commit_records", nil, 4},
		{"treeoflife_last_verify_success", nil, 1},
		{"treeoflife_last_verify_tampered", nil, 0},
		{"treeoflife_failed_closed", nil, 0},
		{"treeoflife_disk_full", nil, 0},
	} {
		if got := value(t, mfs, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(t, mfs, "treeoflife_written_bytes_total", "level", "AUDIT"); got < 3*50 {
		t.Errorf("AUDIT bytes = %v, want at least 150", got)
	}
	if got := value(t, mfs, "treeoflife_last_checkpoint_timestamp_seconds"); got <= 0 {
		t.Errorf("last checkpoint = %v", got)
	}
	if got := value(t, mfs, "treeoflife_disk_used_ratio"); got <= 0 || got > 1 {
		t.Errorf("disk used ratio = %v", got)
	}
	if _, ok := mfs["treeoflife_backup_lag_records"]; ok {
		t.Error("backup metrics without a backup")
	}
	problems, err := testutil.CollectAndLint(metrics.NewCollector(l))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsBackup: one series per backup sink, labelled with its name.
func TestMetricsBackup(t *testing.T) {
	ctx := context.Background()
	sink, err := newFileSink(t)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newFileSink(t)
	if err != nil {
		t.Fatal(err)
	}
	l, err := treeoflife.Open(t.TempDir(), treeoflife.Options{Backup: sink, Backups: []backup.Sink{refusingSink{other}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Info("shipped", nil); err != nil {
		t.Fatal(err)
	}
	// The first sink gets the record; the second refuses every upload for
	// good, which stops its shipper: SyncBackup returns once both are done.
	if err := l.SyncBackup(ctx); !errors.Is(err, backup.ErrInvalidKey) {
		t.Fatalf("SyncBackup: %v, want the second sink's refusal", err)
	}
	c := metrics.NewCollector(l)
	want := strings.NewReplacer("SINK", sink.String()).Replace(`
# HELP treeoflife_backup_lag_records Records committed locally but not yet confirmed in the backup.
# TYPE treeoflife_backup_lag_records gauge
treeoflife_backup_lag_records{sink="SINK"} 0
treeoflife_backup_lag_records{sink="backup-2"} 1
# HELP treeoflife_backup_shipped_records Records confirmed in the backup.
# TYPE treeoflife_backup_shipped_records gauge
treeoflife_backup_shipped_records{sink="SINK"} 1
treeoflife_backup_shipped_records{sink="backup-2"} 0
# HELP treeoflife_backup_failing 1 while the last backup attempt failed, else 0.
# TYPE treeoflife_backup_failing gauge
treeoflife_backup_failing{sink="SINK"} 0
treeoflife_backup_failing{sink="backup-2"} 1
`)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"treeoflife_backup_lag_records", "treeoflife_backup_shipped_records", "treeoflife_backup_failing"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "treeoflife_backup_uploaded_objects_total"); n != 2 {
		t.Errorf("uploaded objects: %d series, want one per sink", n)
	}
}

// BenchmarkMetricsScrape is one scrape as Prometheus makes it: gather and
// encode the exposition.
func BenchmarkMetricsScrape(b *testing.B) {
	l := openLogger(b)
	for range 1000 {
		if _, err := l.Info("record", treeoflife.Fields{"k": "v"}); err != nil {
			b.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(l))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// failingSink refuses every upload, as a store that is down does.
type failingSink struct{ backup.Sink }

func (failingSink) Put(context.Context, string, []byte, [32]byte, backup.PutOptions) error {
	return errors.New("store unavailable")
}

// refusingSink refuses every upload but the lease's with an error that
// stops the shipper.
type refusingSink struct{ backup.Sink }

func (r refusingSink) Put(ctx context.Context, key string, body []byte, sum [32]byte, opts backup.PutOptions) error {
	if strings.HasSuffix(key, "/LEASE") {
		return r.Sink.Put(ctx, key, body, sum, opts)
	}
	return fmt.Errorf("refused: %w", backup.ErrInvalidKey)
}

// TestMetricsBackupErrors: failed attempts are counted, and the backup is
// reported failing.
func TestMetricsBackupErrors(t *testing.T) {
	fs, err := newFileSink(t)
	if err != nil {
		t.Fatal(err)
	}
	l, err := treeoflife.Open(t.TempDir(), treeoflife.Options{Backup: failingSink{fs}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Info("never shipped", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // SyncBackup waits until ctx ends while uploads fail
	defer cancel()
	if err := l.SyncBackup(ctx); err == nil {
		t.Fatal("SyncBackup succeeded with a sink that refuses every upload")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(l))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	mfs := map[string]*dto.MetricFamily{}
	for _, mf := range families {
		mfs[mf.GetName()] = mf
	}
	if got := value(t, mfs, "treeoflife_backup_errors_total"); got < 1 {
		t.Errorf("backup errors = %v, want at least 1", got)
	}
	if got := value(t, mfs, "treeoflife_backup_failing"); got != 1 {
		t.Errorf("backup failing = %v, want 1", got)
	}
	if st := l.BackupStatus(); st.Errors < 1 || st.LastError == nil {
		t.Errorf("BackupStatus: %d errors, last %v", st.Errors, st.LastError)
	}
}
