package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/treeoflife/treeoflife"
)

// streamBacklog is how many of the newest matching records a new stream
// starts with.
const streamBacklog = 50

// streamPing is how often an idle stream sends a comment, so that a
// closed connection is noticed.
const streamPing = 15 * time.Second

type streamData struct {
	Levels []string
	Rows   int
	Events string // the events URL, with the tenant
}

// streamPage renders the live stream page; its script connects to events.
func (h *handler) streamPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		h.fail(w, r, nil, "stream", err)
		return
	}
	defer v.release()
	d := &streamData{Levels: levelNames(), Rows: h.opts.StreamRows, Events: v.link("events", nil)}
	h.render(w, r, "stream", &page{Title: "Live", Nav: "stream", View: v, Data: d}, http.StatusOK)
}

// streamEntry is an entry as the stream sends it.
type streamEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"timestamp"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Meta    string    `json:"meta,omitempty"`
}

// events streams the log's records as Server-Sent Events, each with its
// seq as the event id. It starts after the Last-Event-ID the browser sends
// when it reconnects, or at the "from" parameter, or else with the newest
// streamBacklog matches; "level" and "q" filter it as on the search page.
// Streams with the same filter share one hub: the log is read once for all.
// A stream that requests a position before what the hub holds (a
// reconnection, a page opened long ago) reads the log up to it; one that
// falls behind the hub while following gets a "gap" event and skips ahead,
// so that slow browsers cost the log no more reading.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	select {
	case h.streams <- struct{}{}:
		defer func() { <-h.streams }()
	default:
		http.Error(w, "too many live streams", http.StatusServiceUnavailable)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported by this server", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	_, f, err := parseSearch(q)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	f = treeoflife.Filter{Levels: f.Levels, Search: f.Search}
	from := q.Get("from")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			http.Error(w, "Last-Event-ID is not a sequence number", http.StatusBadRequest)
			return
		}
		from = strconv.FormatUint(n+1, 10)
	}
	var n uint64
	if from != "" {
		if n, err = strconv.ParseUint(from, 10, 64); err != nil {
			http.Error(w, "from is not a sequence number", http.StatusBadRequest)
			return
		}
	}
	v, err := h.open(ctx, r)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	hb := h.acquireHub(v, f) // takes v over
	defer h.releaseHub(hb)
	log := hb.view.log
	// asked: a stream that names where to start asks for every record
	// that exists now (see the gaps below).
	var asked uint64
	if from != "" {
		if lv := hb.view.live; lv != nil {
			asked = lv.Metrics().Records // also those a Buffered writer has yet to write
		} else {
			asked, _ = hb.readable(ctx) // an error shows in the stream's own reads
		}
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprint(bw, "retry: 1000\n\n")
	send := func() bool {
		if bw.Flush() != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if from == "" {
		// The newest matches before the hub's start, oldest first.
		n = hb.from(0).start
		if n > 0 {
			bf := f
			bf.ToSeq, bf.Reverse, bf.Limit = n, true, streamBacklog
			var back [][]byte
			for e, err := range log.Entries(ctx, bf) {
				if err != nil {
					failure(bw, err)
					send()
					return
				}
				back = append(back, frame(&e))
			}
			for i := len(back) - 1; i >= 0; i-- {
				bw.Write(back[i])
			}
		}
	}
	if !send() {
		return
	}
	// fromLog writes the matches in [from, to) read from the log; false
	// when the stream has ended with a failure.
	fromLog := func(from, to uint64) bool {
		cf := f
		cf.FromSeq, cf.ToSeq = from, to
		for e, err := range log.Entries(ctx, cf) {
			if err != nil {
				failure(bw, err)
				send()
				return false
			}
			bw.Write(frame(&e))
		}
		return true
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	live := false // the stream has caught up with the hub once
	for {
		p := hb.from(n)
		if p.behind && live {
			// Records arrive faster than this stream takes them: skip
			// to what the hub holds rather than read the log again per
			// stream. The page says so; a search shows every record.
			fmt.Fprintf(bw, "event: gap\ndata: {\"from\":%d,\"to\":%d}\n\n", n, p.start)
			n = p.start
			continue
		}
		if p.behind {
			// Read what has left the ring (or came before the hub) from
			// the log.
			if !fromLog(n, p.start) {
				return
			}
			n = p.start
			if !send() {
				return
			}
			continue
		}
		for _, ev := range p.events {
			if ev.gapTo == 0 {
				bw.Write(ev.frame)
				continue
			}
			// The hub skipped these to keep to its rate. A stream reads
			// from the log those it asked for: all while it catches up,
			// and, once live, those that existed when it asked (from, or
			// a reconnection). The rest is a gap, which the page shows.
			lo, fill := max(n, ev.gapFrom), ev.gapTo
			if live {
				fill = min(fill, asked)
			}
			if lo < fill && !fromLog(lo, fill) {
				return
			}
			if from := max(lo, fill); from < ev.gapTo {
				fmt.Fprintf(bw, "event: gap\ndata: {\"from\":%d,\"to\":%d}\n\n", from, ev.gapTo)
			}
		}
		live = true
		n = max(n, p.next)
		if len(p.events) > 0 {
			if !send() {
				return
			}
			continue
		}
		switch {
		case p.err != nil:
			failure(bw, p.err)
			send()
			return
		case p.done:
			fmt.Fprint(bw, "event: end\ndata: the log was closed\n\n")
			send()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			fmt.Fprint(bw, ": ping\n\n")
			if !send() {
				return
			}
		case <-p.changed:
		}
	}
}

// failure writes the event that ends a stream that cannot go on.
func failure(bw *bufio.Writer, err error) {
	msg := err.Error()
	if errStatus(err) == http.StatusForbidden {
		msg = "the records cannot be shown: " + msg
	}
	b, _ := json.Marshal(msg)
	fmt.Fprintf(bw, "event: failure\ndata: %s\n\n", b)
}
