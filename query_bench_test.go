package treeoflife

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The read-side benchmarks. They build their logs once per run, inside the
// parent benchmark (which runs once when it has sub-benchmarks), so a plain
// `go test` never pays for them:
//
//	go test -run '^$' -bench 'BenchmarkRead' -benchtime 20x
//
// TREEOFLIFE_BENCH_ENTRIES sets the size of the large log (default 1,000,000).
// The entries' metadata is five flat fields; TREEOFLIFE_BENCH_NESTED=1 nests
// two of them in an object.

var benchT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// buildBenchLog writes n entries of a realistic shape, 1 ms apart, with
// DurabilityBuffered, and returns the directory.
//
// With TREEOFLIFE_BENCH_DIR set, the logs are kept there and reused by later
// runs.
func buildBenchLog(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	if keep := os.Getenv("TREEOFLIFE_BENCH_DIR"); keep != "" {
		dir = filepath.Join(keep, strconv.Itoa(n))
		if benchNested() {
			dir += "-nested"
		}
		if _, err := os.Stat(filepath.Join(dir, headerFile)); err == nil {
			return dir
		}
	}
	start := time.Now()
	var tick atomic.Int64
	l, err := Open(dir, Options{Durability: DurabilityBuffered, Clock: func() time.Time {
		return benchT0.Add(time.Duration(tick.Add(1)) * time.Millisecond)
	}})
	require.NoError(b, err)
	levels := []Level{LevelInfo, LevelInfo, LevelInfo, LevelWarn, LevelAudit, LevelRevenue, LevelInfo, LevelError}
	countries := []string{"DE", "FR", "US", "JP", "BR"}
	for i := 0; i < n; i++ {
		lv := levels[i%len(levels)]
		msg := "order processed"
		if lv == LevelRevenue {
			msg = "Payment received"
		}
		f := Fields{
			"amount":   i % 1000,
			"currency": "USD",
			"customer": "cust-" + strconv.Itoa(i%5000),
			"country":  countries[i%len(countries)],
			"orderId":  i,
		}
		if benchNested() {
			f = Fields{
				"amount":   i % 1000,
				"currency": "USD",
				"customer": map[string]any{"id": "cust-" + strconv.Itoa(i%5000), "country": countries[i%len(countries)]},
				"orderId":  i,
			}
		}
		_, err := l.Log(context.Background(), lv, msg, f)
		require.NoError(b, err)
	}
	require.NoError(b, l.Close())
	b.Logf("built %d entries in %v", n, time.Since(start).Round(time.Millisecond))
	return dir
}

// cpuTime is the CPU time the process has used: on a busy machine, a fairer
// measure than the wall clock of what an operation costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchNested, set by TREEOFLIFE_BENCH_NESTED=1, nests the customer's id and
// country in an object: one more map to decode per entry.
func benchNested() bool { return os.Getenv("TREEOFLIFE_BENCH_NESTED") == "1" }

func benchEntries() int {
	if s := os.Getenv("TREEOFLIFE_BENCH_ENTRIES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

func BenchmarkRead(b *testing.B) {
	n := benchEntries()
	big := buildBenchLog(b, n)
	small := buildBenchLog(b, 10_000)
	ctx := context.Background()
	l, err := Open(big, Options{Durability: DurabilityBuffered})
	require.NoError(b, err)
	defer l.Close()
	r, err := OpenReader(big)
	require.NoError(b, err)
	defer r.Close()
	ls, err := Open(small, Options{Durability: DurabilityBuffered})
	require.NoError(b, err)
	defer ls.Close()
	span := time.Duration(n) * time.Millisecond
	mid := benchT0.Add(span / 3)

	page := func(name string, read func() ([]Entry, error), want int) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				es, err := read()
				if err != nil || len(es) != want {
					b.Fatalf("%d entries, %v", len(es), err)
				}
			}
		})
	}
	q := func(s string) Query {
		q, err := ParseQuery(s)
		require.NoError(b, err)
		return q
	}
	page("FirstPage/level", func() ([]Entry, error) {
		return l.Read(ctx, Filter{Levels: []Level{LevelError}, Limit: 100})
	}, 100)
	page("FirstPage/rare-level", func() ([]Entry, error) {
		return l.Read(ctx, Filter{Levels: []Level{LevelRevenue, LevelWarn}, Until: mid, Limit: 100})
	}, 100)
	page("FirstPage/time-range", func() ([]Entry, error) {
		return l.Read(ctx, Filter{Since: mid, Until: mid.Add(10 * time.Second), Limit: 100})
	}, 100)
	page("FirstPage/query-level-metadata", func() ([]Entry, error) {
		return l.Read(ctx, Filter{Query: q(`{"level":"REVENUE","metadata.amount":{"$gte":500}}`), Limit: 100})
	}, 100)
	page("FirstPage/query-time-range", func() ([]Entry, error) {
		return l.Read(ctx, Filter{Query: Query{"timestamp": Query{"$gte": mid, "$lt": mid.Add(time.Minute)}}, Limit: 100})
	}, 100)
	page("FirstPage/reader-level", func() ([]Entry, error) {
		return r.Read(ctx, Filter{Levels: []Level{LevelError}, Limit: 100})
	}, 100)

	search := func(name string, s interface {
		Search(context.Context, string, Filter) ([]Entry, error)
	}, text string, want int, entries int) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				es, err := s.Search(ctx, text, Filter{})
				if err != nil || want >= 0 && len(es) != want {
					b.Fatalf("%d entries, %v", len(es), err)
				}
			}
			b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
	search(fmt.Sprintf("Search/%d/rare", n), l, "cust-4321x", 0, n)
	search(fmt.Sprintf("Search/%d/one-in-5000", n), l, "CUST-4321", -1, n)
	search(fmt.Sprintf("Search/%d/one-in-8", n), l, "payment", n/8, n)
	search(fmt.Sprintf("Search/%d/non-ascii", n), l, "zahlung über", 0, n)
	search("Search/10000/rare", ls, "cust-4321x", 0, 10_000)
	search("Search/10000/one-in-8", ls, "payment", 10_000/8, 10_000)

	b.Run(fmt.Sprintf("Entries/%d", n), func(b *testing.B) {
		b.ReportAllocs()
		var peak uint64
		var ms runtime.MemStats
		cpu := cpuTime()
		for b.Loop() {
			count := 0
			for _, err := range l.Entries(ctx, Filter{}) {
				if err != nil {
					b.Fatal(err)
				}
				if count++; count%100_000 == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
			}
			if count != n {
				b.Fatalf("%d entries", count)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*n), "cpu-ns/entry")
	})
	b.Run(fmt.Sprintf("Query/%d/metadata", n), func(b *testing.B) {
		for b.Loop() {
			es, err := l.Query(ctx, q(`{"$or":[{"metadata.country":"JP"},{"metadata.customer.country":"JP"}],"metadata.amount":{"$lt":10}}`), Filter{})
			if err != nil || len(es) == 0 {
				b.Fatal(len(es), err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("Stats", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Stats(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
