package tolbench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tol "github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/dashboard"
)

// The dashboard rows measure package dashboard on the prepared log of N
// records (RowDashOverview, RowDashSearch: server time, the handler called
// directly, no network) and on live loggers with Server-Sent Events clients
// over loopback HTTP (RowDashStream, RowDashClients).

// Dashboard row parameters. RowDashStream logs min(N, dashStreamMax)
// entries (5 s at 10,000/s), RowDashClients min(N, dashClientsMax) twice.
const (
	DashRequests   = 60     // requests timed by RowDashOverview and RowDashSearch
	dashStreamRate = 10_000 // entries/s RowDashStream logs at
	dashStreamMax  = 50_000
	dashClients    = 100 // stream clients of RowDashClients
	dashClientsMax = 1_000_000
)

// serveTimed calls h for path n times and returns the latencies.
func serveTimed(h http.Handler, paths []string, n int) ([]int64, error) {
	lat := make([]int64, n)
	for i := range lat {
		p := paths[i%len(paths)]
		req := httptest.NewRequest(http.MethodGet, p, nil)
		w := httptest.NewRecorder()
		t := time.Now()
		h.ServeHTTP(w, req)
		lat[i] = int64(time.Since(t))
		if w.Code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", p, w.Code, strings.TrimSpace(w.Body.String()))
		}
	}
	return lat, nil
}

// dashOverview times the overview page of the prepared log (a Reader):
// Stats, the checkpoint, the records-over-time chart, the template.
func (r *runner) dashOverview(ctx context.Context) (Row, error) {
	row := Row{Name: RowDashOverview, Writers: 1, Entries: DashRequests}
	rd, _, err := r.openPrepared(ctx)
	if err != nil {
		return row, err
	}
	defer rd.Close()
	h := dashboard.New(rd, dashboard.Options{})
	if _, err := serveTimed(h, []string{"/"}, 3); err != nil { // warm: indexes loaded
		return row, err
	}
	m, err := r.startMeter(RowDashOverview)
	if err != nil {
		return row, err
	}
	start := time.Now()
	lat, err := serveTimed(h, []string{"/"}, DashRequests)
	if err != nil {
		return row, err
	}
	elapsed := time.Since(start)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	finish(&row, elapsed, 0)
	percentiles(&row, lat)
	// The chart is kept for 10 s: time pages that draw it, each the first
	// of a new handler.
	var drawn []int64
	for range 5 {
		l, err := serveTimed(dashboard.New(rd, dashboard.Options{}), []string{"/"}, 1)
		if err != nil {
			return row, err
		}
		drawn = append(drawn, l...)
	}
	var dr Row
	percentiles(&dr, drawn)
	row.Note = fmt.Sprintf("%d records; server time of GET / (pages/s in entries/s), its records-over-time chart drawn at most 10 s before; a page that draws it: p50 %.1f ms, max %.1f ms", r.cfg.N, dr.P50ms, dr.Maxms)
	return row, r.servedLog(ctx, &row)
}

// dashSearch times search pages of the prepared log: free text, a query,
// a level with a time range, and the next page through the cursor. It
// times a search for a text only one customer's records hold apart, for
// the note: it reads the whole log to fill its page.
func (r *runner) dashSearch(ctx context.Context) (Row, error) {
	row := Row{Name: RowDashSearch, Writers: 1, Entries: DashRequests}
	rd, _, err := r.openPrepared(ctx)
	if err != nil {
		return row, err
	}
	defer rd.Close()
	h := dashboard.New(rd, dashboard.Options{})
	mid, err := timeOf(ctx, rd, uint64(r.cfg.N/2))
	if err != nil {
		return row, err
	}
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "/search?" + v.Encode()
	}
	paths := []string{
		q("q", "refund issued"),
		q("query", `{"metadata.currency":"JPY","metadata.amount":{"$gte":500000}}`),
		q("level", "REVENUE", "until", mid.Format(time.RFC3339Nano)),
		q("q", "refund issued", "before", strconv.Itoa(r.cfg.N/3)),
	}
	if _, err := serveTimed(h, paths, len(paths)); err != nil {
		return row, err
	}
	m, err := r.startMeter(RowDashSearch)
	if err != nil {
		return row, err
	}
	start := time.Now()
	lat, err := serveTimed(h, paths, DashRequests)
	if err != nil {
		return row, err
	}
	elapsed := time.Since(start)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	finish(&row, elapsed, 0)
	percentiles(&row, lat)
	rare, err := serveTimed(h, []string{q("q", r.entry(r.cfg.N/2).CustomerID)}, 3)
	if err != nil {
		return row, err
	}
	var rr Row
	percentiles(&rr, rare)
	row.Note = fmt.Sprintf("%d records; server time of a 50-result page: free text, a query, a level and time range, a cursor page; a text in a few records only (whole log read): p50 %.0f ms", r.cfg.N, rr.P50ms)
	return row, r.servedLog(ctx, &row)
}

// servedLog sets the file fields of a row that times requests to those of
// the prepared log, per record.
func (r *runner) servedLog(ctx context.Context, row *Row) error {
	dir, err := r.preparedLog(ctx)
	if err != nil {
		return err
	}
	if err := diskUsage(row, dir); err != nil {
		return err
	}
	row.BytesPerEntry = float64(row.FileBytes) / float64(r.cfg.N)
	return nil
}

// sseClient follows url and calls got with each event's seq until ctx ends.
func sseClient(ctx context.Context, url string, got func(seq uint64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if id, ok := bytes.CutPrefix(sc.Bytes(), []byte("id: ")); ok {
			var n uint64
			for _, c := range id {
				if c < '0' || c > '9' {
					return fmt.Errorf("event id %q", id)
				}
				n = n*10 + uint64(c-'0')
			}
			got(n)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// dashStream logs at dashStreamRate for dashStreamTime with one stream
// client, and times each record from its logging call to its event's arrival
// at the client.
func (r *runner) dashStream(ctx context.Context) (Row, error) {
	n := min(r.cfg.N, dashStreamMax)
	row := Row{Name: RowDashStream, Writers: 1, Entries: n}
	dir := filepath.Join(r.dir, RowDashStream)
	lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, SegmentSize: r.cfg.SegmentSize})
	if err != nil {
		return row, err
	}
	defer lg.Close()
	srv := httptest.NewServer(dashboard.New(lg, dashboard.Options{}))
	defer srv.Close()

	sent := make([]atomic.Int64, n)
	lat := make([]int64, n)
	var received atomic.Int64
	all := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	connected := make(chan error, 1)
	go func() {
		connected <- sseClient(cctx, srv.URL+"/events?from=0", func(seq uint64) {
			if seq >= uint64(n) {
				return
			}
			lat[seq] = time.Now().UnixNano() - sent[seq].Load()
			if received.Add(1) == int64(n) {
				close(all)
			}
		})
	}()
	m, err := r.startMeter(RowDashStream)
	if err != nil {
		return row, err
	}
	// Paced: every millisecond, the records due by then.
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < n; {
		<-tick.C
		due := min(n, int(time.Since(start)*dashStreamRate/time.Second))
		for ; i < due; i++ {
			e := r.entry(i)
			// The time before the call: the event may arrive before
			// the call returns.
			sent[i].Store(time.Now().UnixNano())
			if _, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields); err != nil {
				tick.Stop()
				return row, err
			}
		}
	}
	tick.Stop()
	select {
	case <-all:
	case err := <-connected:
		return row, fmt.Errorf("stream client: %v (after %d of %d events)", err, received.Load(), n)
	case <-time.After(30 * time.Second):
		return row, fmt.Errorf("stream client: %d of %d events after 30 s", received.Load(), n)
	}
	elapsed := time.Since(start)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	finish(&row, elapsed, 0)
	percentiles(&row, lat)
	row.Note = fmt.Sprintf("logging at %d entries/s (Buffered), one SSE client over loopback; latency from the logging call to the event's arrival", dashStreamRate)
	return row, diskUsage(&row, dir)
}

// dashClients logs min(N, dashClientsMax) entries with Buffered as fast as it
// can, without and then with dashClients stream clients following the log,
// and reports the throughput with them (the row) and the cost (the note).
// The clients run in this process, on the same CPUs.
func (r *runner) dashClients(ctx context.Context) (Row, error) {
	recs := min(r.cfg.N, dashClientsMax)
	row := Row{Name: RowDashClients, Writers: r.cfg.WritersBuffered, Entries: recs}
	// cpu is this process's CPU time during the logging: the writers and
	// the logger, plus with clients the dashboard's server and the clients.
	var cpu time.Duration
	logAll := func(name string, clients int, filter string) (time.Duration, int64, error) {
		dir := filepath.Join(r.dir, RowDashClients+"-"+name)
		lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, SegmentSize: r.cfg.SegmentSize})
		if err != nil {
			return 0, 0, err
		}
		defer lg.Close()
		srv := httptest.NewServer(dashboard.New(lg, dashboard.Options{}))
		defer srv.Close()
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var received atomic.Int64
		var wg sync.WaitGroup
		ready := make(chan struct{}, clients)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				sseClient(cctx, srv.URL+"/events?from=0"+filter, func(uint64) {
					if first {
						ready <- struct{}{}
						first = false
					}
					received.Add(1)
				})
			}()
		}
		if clients > 0 { // every client connected: each has the first record
			if _, err := lg.Critical("clients connect", nil); err != nil {
				return 0, 0, err
			}
			for range clients {
				select {
				case <-ready:
				case <-time.After(30 * time.Second):
					return 0, 0, fmt.Errorf("stream clients did not connect")
				}
			}
		}
		cpu0 := processCPU(os.Getpid())
		elapsed, err := drive(ctx, recs, r.cfg.WritersBuffered, nil, func(i int) error {
			e := r.entry(i)
			_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
			return err
		})
		cpu = processCPU(os.Getpid()) - cpu0
		got := received.Load() - int64(clients)
		cancel()
		wg.Wait()
		return elapsed, got, err
	}
	base, _, err := logAll("none", 0, "")
	if err != nil {
		return row, err
	}
	cpuBase := cpu
	m, err := r.startMeter(RowDashClients)
	if err != nil {
		return row, err
	}
	with, delivered, err := logAll("clients", dashClients, "")
	if err != nil {
		return row, err
	}
	if err := m.stop(&row); err != nil {
		return row, err
	}
	finish(&row, with, 0)
	cpuWith := cpu
	// The same clients following only CRITICAL records, of which the
	// logging writes none: what watching costs when it is filtered.
	filtered, _, err := logAll("filtered", dashClients, "&level=CRITICAL")
	if err != nil {
		return row, err
	}
	rate0 := float64(recs) / base.Seconds()
	cost := 100 * (1 - row.EntriesPerSec/rate0)
	row.CostPct = cost
	if err := diskUsage(&row, filepath.Join(r.dir, RowDashClients+"-clients")); err != nil {
		return row, err
	}
	row.Note = fmt.Sprintf("%d SSE clients (in this process) following every record; without them %s entries/s; cost %.1f%% of logging throughput; CPU %.2f s with them, %.2f s without; %s events delivered by the time logging ended (%.2f%% of %d x %d: a hub sends its streams at most its rate, and the records in between as gaps)",
		dashClients, thousands(rate0), cost, cpuWith.Seconds(), cpuBase.Seconds(), thousands(float64(delivered)), 100*float64(delivered)/float64(dashClients*recs), dashClients, recs)
	row.Note += fmt.Sprintf("; the clients following level=CRITICAL only: %s entries/s, cost %.1f%%, CPU %.2f s",
		thousands(float64(recs)/filtered.Seconds()), 100*(1-base.Seconds()/filtered.Seconds()), cpu.Seconds())
	return row, nil
}
