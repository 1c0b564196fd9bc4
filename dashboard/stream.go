package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
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
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	defer v.release()
	q := r.URL.Query()
	_, f, err := parseSearch(q)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	f.Since, f.Until, f.Query, f.ToSeq = time.Time{}, time.Time{}, nil, 0
	from := q.Get("from")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			http.Error(w, "Last-Event-ID is not a sequence number", http.StatusBadRequest)
			return
		}
		from = strconv.FormatUint(n+1, 10)
	}
	if from != "" {
		if f.FromSeq, err = strconv.ParseUint(from, 10, 64); err != nil {
			http.Error(w, "from is not a sequence number", http.StatusBadRequest)
			return
		}
	} else {
		f.Limit = streamBacklog
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprint(bw, "retry: 1000\n\n")
	bw.Flush()
	fl.Flush()

	// The tail runs apart from the writer so that the writer can send
	// what has arrived in one flush: under load, one write per batch, not
	// per record. A slow client blocks the tail, not the logger.
	ch := make(chan streamItem, 256)
	go func() {
		defer close(ch)
		for e, err := range v.log.Tail(ctx, f) {
			it := streamItem{err: err}
			if err == nil {
				it.e = streamEntry{Seq: e.Seq, Time: e.Time, Level: e.Level.String(), Message: e.Message}
				if len(e.Metadata) > 0 {
					it.e.Meta = compactJSON(e.Metadata, 160)
				}
			}
			select {
			case ch <- it:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			fmt.Fprint(bw, ": ping\n\n")
		case it, ok := <-ch:
			if !ok {
				fmt.Fprint(bw, "event: end\ndata: the log was closed\n\n")
				bw.Flush()
				fl.Flush()
				return
			}
			if !writeItem(bw, it) {
				bw.Flush()
				fl.Flush()
				return
			}
		drain:
			for {
				select {
				case it, ok := <-ch:
					if !ok || !writeItem(bw, it) {
						break drain
					}
				default:
					break drain
				}
			}
		}
		if err := bw.Flush(); err != nil {
			return
		}
		fl.Flush()
	}
}

type streamItem struct {
	e   streamEntry
	err error
}

// writeItem writes one event; false after an error event, which ends the
// stream.
func writeItem(bw *bufio.Writer, it streamItem) bool {
	if it.err != nil {
		msg := it.err.Error()
		if errStatus(it.err) == http.StatusForbidden {
			msg = "the records cannot be shown: " + msg
		}
		b, _ := json.Marshal(msg)
		fmt.Fprintf(bw, "event: failure\ndata: %s\n\n", b)
		return false
	}
	b, _ := json.Marshal(&it.e)
	fmt.Fprintf(bw, "id: %d\ndata: %s\n\n", it.e.Seq, b)
	return true
}
