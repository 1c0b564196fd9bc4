package dashboard

import (
	"context"
	"time"

	"github.com/treeoflife/treeoflife"
)

// chartBuckets is the number of bars of the records-over-time chart.
const chartBuckets = 24

// chartTTL is how long a chart is reused. Its bars span (newest - oldest)
// / chartBuckets each, so a few seconds change little, while drawing it
// costs chartBuckets reads, each of which (on a Reader) first catches up
// with the log: most of an overview's time.
const chartTTL = 10 * time.Second

// maxCharts bounds the charts kept (one per tenant shown).
const maxCharts = 64

type cachedChart struct {
	c    *chart
	size uint64
	at   time.Time
}

// cachedTimeChart returns the chart of tenant's log, drawn at most chartTTL
// ago and for no more records than st has, or draws it.
func (h *handler) cachedTimeChart(ctx context.Context, tenant string, log Log, st treeoflife.Stats) (*chart, error) {
	h.mu.Lock()
	cc, ok := h.charts[tenant]
	h.mu.Unlock()
	if ok && time.Since(cc.at) < chartTTL && cc.size <= st.Head.Size && (cc.c != nil || st.Head.Size == cc.size) {
		return cc.c, nil
	}
	c, err := timeChart(ctx, log, st, chartBuckets)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if len(h.charts) >= maxCharts {
		clear(h.charts)
	}
	h.charts[tenant] = cachedChart{c: c, size: st.Head.Size, at: time.Now()}
	h.mu.Unlock()
	return c, nil
}

// chart is the records-over-time chart, drawn as SVG by the template.
type chart struct {
	Bars     []chartBar
	From, To time.Time
	Max      uint64
	Width    int
	Height   int
}

type chartBar struct {
	X, Y, W, H int
	Count      uint64
	From       time.Time
}

// timeChart counts the records in n equal time buckets between the oldest
// and the newest record. A bucket's edge is the first record at or after
// its start time, found through the indexes' time bounds, so the chart
// costs n short reads, not a scan: the counts assume the timestamps rise
// with seq, as a logger writes them (a record out of order counts in the
// bucket of its neighbours).
func timeChart(ctx context.Context, log Log, st treeoflife.Stats, n int) (*chart, error) {
	if st.Oldest.IsZero() || !st.Newest.After(st.Oldest) || st.Head.Size == 0 {
		return nil, nil
	}
	span := st.Newest.Sub(st.Oldest)
	edges := make([]uint64, n+1)
	edges[n] = st.Head.Size
	for i := 1; i < n; i++ {
		t := st.Oldest.Add(span * time.Duration(i) / time.Duration(n))
		edges[i] = st.Head.Size
		for e, err := range log.Entries(ctx, treeoflife.Filter{Since: t, FromSeq: edges[i-1], Limit: 1}) {
			if err != nil {
				return nil, err
			}
			edges[i] = e.Seq
		}
	}
	c := &chart{From: st.Oldest, To: st.Newest, Width: 480, Height: 120}
	for i := 0; i < n; i++ {
		c.Max = max(c.Max, edges[i+1]-edges[i])
	}
	w := c.Width / n
	for i := 0; i < n; i++ {
		cnt := edges[i+1] - edges[i]
		hgt := 0
		if c.Max > 0 {
			hgt = int(cnt * uint64(c.Height) / c.Max)
		}
		c.Bars = append(c.Bars, chartBar{X: i * w, Y: c.Height - hgt, W: w - 2, H: hgt, Count: cnt, From: st.Oldest.Add(span * time.Duration(i) / time.Duration(n))})
	}
	return c, nil
}
