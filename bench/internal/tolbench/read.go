package tolbench

import (
	"context"
	"fmt"
	"strings"
	"time"

	tol "github.com/treeoflife/treeoflife"
)

// The read rows open the prepared log of N entries (RowBuffered's, or one
// written for them) with treeoflife.OpenReader, which is not timed. Its
// files were just written, so they are in the page cache: these rows
// measure the reader, not the disk.

// pageReads is how many times RowReadPage reads each page.
const pageReads = 100

// pageSize is the page RowReadPage asks for: treeoflife.DefaultReadLimit.
const pageSize = tol.DefaultReadLimit

// openPrepared opens the prepared log with a Reader and checks its size.
func (r *runner) openPrepared(ctx context.Context) (*tol.Reader, time.Duration, error) {
	dir, err := r.preparedLog(ctx)
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	rd, err := tol.OpenReader(dir)
	if err != nil {
		return nil, 0, err
	}
	opened := time.Since(t0)
	st, err := rd.Stats(ctx)
	if err != nil {
		rd.Close()
		return nil, 0, err
	}
	if st.TotalEntries != uint64(r.cfg.N) {
		rd.Close()
		return nil, 0, fmt.Errorf("the log in %s holds %d records, want %d", dir, st.TotalEntries, r.cfg.N)
	}
	return rd, opened, nil
}

// readPage times the first page of a time-range query in the middle of the
// log, the page a log viewer shows first: Read with Since and Until around
// records N/2 .. N/2+10,000 and the default Limit (100), which Read answers
// from the end of the range backwards, skipping index blocks outside it.
// It also times the newest page (Filter{} with the default Limit) for the
// note.
func (r *runner) readPage(ctx context.Context) (Row, error) {
	row := Row{Name: RowReadPage, Writers: 1}
	rd, opened, err := r.openPrepared(ctx)
	if err != nil {
		return row, err
	}
	defer rd.Close()
	n := uint64(r.cfg.N)
	// The time range: the timestamps of two records, looked up untimed.
	from := n / 2
	to := min(n, from+10_000)
	if to-from < pageSize {
		return row, fmt.Errorf("the log has %d entries; %s needs at least %d", n, RowReadPage, 2*pageSize)
	}
	since, err := timeOf(ctx, rd, from)
	if err != nil {
		return row, err
	}
	until, err := timeOf(ctx, rd, to-1)
	if err != nil {
		return row, err
	}
	rangeFilter := tol.Filter{Since: since, Until: until}
	if !until.After(since) {
		return row, fmt.Errorf("records %d and %d have timestamps %v and %v; want a range", from, to-1, since, until)
	}

	m, err := r.startMeter(RowReadPage)
	if err != nil {
		return row, err
	}
	lat := make([]int64, pageReads)
	newest := make([]int64, pageReads)
	var total time.Duration
	for i := range pageReads {
		t0 := time.Now()
		es, err := rd.Read(ctx, rangeFilter)
		lat[i] = int64(time.Since(t0))
		if err == nil {
			err = checkPage(es, since, until)
		}
		if err != nil {
			m.stop(&row)
			return row, fmt.Errorf("time-range page: %w", err)
		}
		t0 = time.Now()
		es, err = rd.Read(ctx, tol.Filter{})
		newest[i] = int64(time.Since(t0))
		if err == nil && (len(es) != pageSize || es[len(es)-1].Seq != n-1) {
			err = fmt.Errorf("%d entries ending at seq %d; want %d ending at %d", len(es), lastSeq(es), pageSize, n-1)
		}
		if err != nil {
			m.stop(&row)
			return row, fmt.Errorf("newest page: %w", err)
		}
		total += time.Duration(lat[i] + newest[i])
	}
	row.Entries = 2 * pageReads * pageSize
	if err := m.stop(&row); err != nil {
		return row, err
	}
	finish(&row, total, 0)
	first := float64(lat[0]) / 1e6
	percentiles(&row, lat)
	var np Row
	percentiles(&np, newest)
	row.Note = fmt.Sprintf("log of %s entries; time-range page (%d entries, records %d..%d by time) read %d times: first %.3f ms, p50 %.3f ms, p99 %.3f ms, max %.3f ms (the columns); newest page (Filter{}): p50 %.3f ms, p99 %.3f ms; entries/s counts both pages; OpenReader took %.0f ms (not timed)",
		thousands(float64(n)), pageSize, from, to-1, pageReads, first, row.P50ms, row.P99ms, row.Maxms, np.P50ms, np.P99ms, float64(opened)/1e6)
	if err := diskUsage(&row, rd.Dir()); err != nil {
		return row, err
	}
	row.BytesPerEntry = float64(row.FileBytes) / float64(n) // of the log, not of the pages
	return row, nil
}

// timeOf returns the timestamp of record seq.
func timeOf(ctx context.Context, rd *tol.Reader, seq uint64) (time.Time, error) {
	es, err := rd.Read(ctx, tol.Filter{FromSeq: seq, ToSeq: seq + 1})
	if err != nil {
		return time.Time{}, err
	}
	if len(es) != 1 || es[0].Seq != seq {
		return time.Time{}, fmt.Errorf("reading record %d: got %d entries", seq, len(es))
	}
	return es[0].Time, nil
}

// checkPage checks that es is a full page within [since, until).
func checkPage(es []tol.Entry, since, until time.Time) error {
	if len(es) != pageSize {
		return fmt.Errorf("%d entries, want %d", len(es), pageSize)
	}
	for _, e := range es {
		if e.Time.Before(since) || !e.Time.Before(until) {
			return fmt.Errorf("entry %d at %v is outside [%v, %v)", e.Seq, e.Time, since, until)
		}
	}
	return nil
}

func lastSeq(es []tol.Entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Seq
}

// search times one Search for a rare needle over the whole log: the
// lower-cased customer_id of one entry of the set, so it matches the
// records written from that entry (about N / Distinct of them) and nothing
// else, and the search must fold case to find it. The row fails if the
// matches are not exactly those records.
func (r *runner) search(ctx context.Context) (Row, error) {
	row := Row{Name: RowSearch, Writers: 1, Entries: r.cfg.N}
	rd, opened, err := r.openPrepared(ctx)
	if err != nil {
		return row, err
	}
	defer rd.Close()
	k := len(r.entries) / 2
	needle := r.entries[k].CustomerID
	want := 0
	for i := range r.cfg.N {
		if r.entry(i).CustomerID == needle {
			want++
		}
	}
	m, err := r.startMeter(RowSearch)
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	es, serr := rd.Search(ctx, strings.ToLower(needle), tol.Filter{})
	elapsed := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if serr != nil {
		return row, fmt.Errorf("searching: %w", serr)
	}
	if len(es) != want {
		return row, fmt.Errorf("Search(%q) found %d entries, want %d", strings.ToLower(needle), len(es), want)
	}
	for _, e := range es {
		if e.Metadata["customer_id"] != needle {
			return row, fmt.Errorf("Search(%q) returned entry %d with customer_id %v", strings.ToLower(needle), e.Seq, e.Metadata["customer_id"])
		}
	}
	finish(&row, elapsed, 0)
	row.Note = fmt.Sprintf("Search(%q) over %s entries: %d matches, as expected; OpenReader took %.0f ms (not timed)",
		strings.ToLower(needle), thousands(float64(r.cfg.N)), len(es), float64(opened)/1e6)
	return row, diskUsage(&row, rd.Dir())
}

// iterate times Entries(ctx, Filter{}) over the whole log: every entry
// decoded, in order. The row fails unless it sees seq 0..N-1 in order.
func (r *runner) iterate(ctx context.Context) (Row, error) {
	row := Row{Name: RowEntries, Writers: 1, Entries: r.cfg.N}
	rd, opened, err := r.openPrepared(ctx)
	if err != nil {
		return row, err
	}
	defer rd.Close()
	m, err := r.startMeter(RowEntries)
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	var next uint64
	var ierr error
	for e, err := range rd.Entries(ctx, tol.Filter{}) {
		if err != nil {
			ierr = err
			break
		}
		if e.Seq != next || e.Message == "" {
			ierr = fmt.Errorf("entry %d (message %q) where %d was due", e.Seq, e.Message, next)
			break
		}
		next++
	}
	elapsed := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if ierr != nil {
		return row, fmt.Errorf("iterating with Entries: %w", ierr)
	}
	if next != uint64(r.cfg.N) {
		return row, fmt.Errorf("iterating with Entries gave %d entries, want %d", next, r.cfg.N)
	}
	finish(&row, elapsed, 0)
	row.Note = fmt.Sprintf("OpenReader took %.0f ms (not timed)", float64(opened)/1e6)
	return row, diskUsage(&row, rd.Dir())
}
