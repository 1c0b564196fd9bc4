package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/treeoflife/treeoflife"
)

// hubTick is how often a hub wakes its streams when records arrive: one
// wake-up per stream per tick, however many records, rather than one per
// record, which at a high logging rate and many streams would cost more
// than the logging.
const hubTick = 50 * time.Millisecond

// hubRing is how many of the newest matching events a hub keeps for its
// streams: a stream that falls further behind reads the log itself until it
// is back within them.
const hubRing = 8192

// A hub follows one log with one filter for every live stream that asks
// for both: the log's records are read and encoded once, however many
// browsers watch. It keeps the newest hubRing events; each stream copies
// the events after its own position, so a slow stream delays no other,
// and reads from the log what has left the ring.
type hub struct {
	key    string
	view   *view // released when the last stream leaves
	filter treeoflife.Filter
	cancel context.CancelFunc
	refs   int // under handler.mu
	// streams is refs, for run to read.
	streams atomic.Int32

	mu      sync.Mutex
	ring    []hubEvent // circular, hubRing long once full
	first   int        // index of the oldest event in ring
	start   uint64     // every match with seq in [start, next) is in ring
	next    uint64
	changed chan struct{} // closed (at most every hubTick) after events arrive, and when the hub ends
	dirty   bool          // events arrived since changed was last closed
	done    bool          // the log was closed
	err     error         // reading it failed
}

type hubEvent struct {
	seq   uint64
	frame []byte // the whole SSE event
	// gapTo, when not zero, makes this a gap: the matches in
	// [gapFrom, gapTo) were skipped (seq is gapTo-1).
	gapFrom, gapTo uint64
}

// acquireHub returns the hub for v's log and filter f, starting one (which
// then owns v) or joining the running one (and releasing v).
func (h *handler) acquireHub(v *view, f treeoflife.Filter) *hub {
	key := fmt.Sprintf("%s\x00%v\x00%s", v.tenant, f.Levels, f.Search)
	h.mu.Lock()
	defer h.mu.Unlock()
	if hb, ok := h.hubs[key]; ok {
		hb.refs++
		hb.streams.Store(int32(hb.refs))
		v.release()
		return hb
	}
	ctx, cancel := context.WithCancel(context.Background())
	hb := &hub{key: key, view: v, filter: f, cancel: cancel, refs: 1, changed: make(chan struct{})}
	hb.streams.Store(1)
	h.hubs[key] = hb
	started := make(chan struct{})
	go hb.run(ctx, started)
	go hb.wake(ctx)
	<-started
	return hb
}

// releaseHub leaves hb; the last stream to leave stops it.
func (h *handler) releaseHub(hb *hub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hb.refs--; hb.refs > 0 {
		hb.streams.Store(int32(hb.refs))
		return
	}
	delete(h.hubs, hb.key)
	hb.cancel()
}

// A hub delivers at most hubRate matching records per second to its
// streams, so that live streams cost the logger a bounded share of the
// machine whatever the logging rate: reading and encoding a record costs
// about as much as logging it, and each stream pays again to send it.
// hubBudget is the events per second all of a hub's streams share; a hub
// of one stream gets hubMaxRate, one of many at least hubMinRate each.
// Beyond that, a tick sends the newest matches and a gap event for the
// ones before them, which the page shows with the way to them (Search has
// every record).
const (
	hubBudget  = 40_000
	hubMaxRate = 20_000
	hubMinRate = 200
)

// hubRate is the records per second a hub of n streams delivers.
func hubRate(n int) int {
	return max(hubMinRate, min(hubMaxRate, hubBudget/max(n, 1)))
}

// run follows the log from its current size, every hubTick: it reads the
// matches since the last tick, newest first, at most the rate allows,
// encodes each once, and records a gap for the matches it skipped.
func (hb *hub) run(ctx context.Context, started chan<- struct{}) {
	defer hb.view.release()
	// Start after the newest record that can be read now, not at
	// Stats' size: a Buffered logger counts records its writer has not
	// written yet, which neither a stream's backlog nor its catching up
	// (reads before start) would then see.
	size, err := hb.readable(ctx)
	hb.mu.Lock()
	hb.start, hb.next, hb.err = size, size, err
	hb.mu.Unlock()
	close(started)
	if err != nil {
		hb.end(err)
		return
	}
	t := time.NewTicker(hubTick)
	defer t.Stop()
	next := size
	// A token bucket: the rate, with bursts of up to half a second's
	// worth, so that a paced logger that stalls for a moment loses
	// nothing.
	tokens, last := 0.0, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rate := float64(hubRate(int(hb.streams.Load())))
		now := time.Now()
		tokens = min(rate/2, tokens+rate*now.Sub(last).Seconds())
		last = now
		head, err := hb.readable(ctx)
		if errors.Is(err, treeoflife.ErrClosed) {
			hb.end(nil) // the logger was closed
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				hb.end(err)
			}
			return
		}
		if head <= next {
			continue
		}
		limit := max(1, int(tokens))
		f := hb.filter
		f.FromSeq, f.ToSeq, f.Reverse, f.Limit = next, head, true, limit
		var evs []hubEvent // newest first
		for e, err := range hb.view.log.Entries(ctx, f) {
			if errors.Is(err, treeoflife.ErrClosed) {
				hb.end(nil)
				return
			}
			if err != nil {
				if ctx.Err() == nil {
					hb.end(err)
				}
				return
			}
			evs = append(evs, hubEvent{seq: e.Seq, frame: frame(&e)})
		}
		tokens -= float64(len(evs))
		if len(evs) == limit && evs[len(evs)-1].seq > next {
			// More matched than the rate allows: the ones before the
			// newest limit are skipped (they may or may not match).
			to := evs[len(evs)-1].seq
			evs = append(evs, hubEvent{seq: to - 1, gapFrom: next, gapTo: to,
				frame: fmt.Appendf(nil, "event: gap\ndata: {\"from\":%d,\"to\":%d}\n\n", next, to)})
		}
		hb.mu.Lock()
		for i := len(evs) - 1; i >= 0; i-- {
			hb.push(evs[i])
		}
		hb.next = head
		hb.dirty = hb.dirty || len(evs) > 0
		hb.mu.Unlock()
		next = head
	}
}

// push adds ev to the ring, the oldest event leaving a full one.
func (hb *hub) push(ev hubEvent) {
	if len(hb.ring) < hubRing {
		hb.ring = append(hb.ring, ev)
		return
	}
	hb.start = hb.ring[hb.first].seq + 1
	hb.ring[hb.first] = ev
	hb.first = (hb.first + 1) % hubRing
}

// readable is the seq after the newest record that can be read now.
func (hb *hub) readable(ctx context.Context) (uint64, error) {
	var size uint64
	for e, err := range hb.view.log.Entries(ctx, treeoflife.Filter{Reverse: true, Limit: 1}) {
		if err != nil {
			return 0, err
		}
		size = e.Seq + 1
	}
	return size, nil
}

// wake closes changed every hubTick when events have arrived.
func (hb *hub) wake(ctx context.Context) {
	t := time.NewTicker(hubTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hb.mu.Lock()
		if hb.dirty && !hb.done {
			hb.dirty = false
			close(hb.changed)
			hb.changed = make(chan struct{})
		}
		hb.mu.Unlock()
	}
}

// end marks the hub ended: the log closed (err nil) or failing.
func (hb *hub) end(err error) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.done, hb.err = true, err
	close(hb.changed)
	hb.changed = make(chan struct{})
}

// position is what a stream at seq n gets from the hub: the events at or
// after n, the seq after them, and a channel closed when there is more.
// behind is set, with nothing else, when n is before what the ring holds:
// the stream reads [n, start) from the log first.
type position struct {
	events  []hubEvent
	next    uint64
	start   uint64
	behind  bool
	changed <-chan struct{}
	done    bool
	err     error
}

func (hb *hub) from(n uint64) position {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	p := position{next: hb.next, start: hb.start, changed: hb.changed, done: hb.done, err: hb.err}
	if n < hb.start {
		p.behind = true
		return p
	}
	k := len(hb.ring)
	at := func(i int) hubEvent { return hb.ring[(hb.first+i)%k] }
	i := sort.Search(k, func(i int) bool { return at(i).seq >= n })
	for ; i < k; i++ {
		p.events = append(p.events, at(i))
	}
	return p
}

// frame encodes an entry as one SSE event whose id is its seq.
func frame(e *treeoflife.Entry) []byte {
	se := streamEntry{Seq: e.Seq, Time: e.Time, Level: e.Level.String(), Message: e.Message}
	if len(e.Metadata) > 0 {
		se.Meta = compactJSON(e.Metadata, 160)
	}
	b, _ := json.Marshal(&se)
	return fmt.Appendf(nil, "id: %d\ndata: %s\n\n", e.Seq, b)
}
