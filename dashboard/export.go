package dashboard

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// export writes the search's results, newest first, as JSON lines or CSV,
// at most Options.MaxExport of them, within the query timeout.
func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	defer v.release()
	_, f, err := parseSearch(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	format := r.URL.Query().Get("format")
	if format != "jsonl" && format != "csv" {
		http.Error(w, fmt.Sprintf("format %q: jsonl or csv", format), http.StatusBadRequest)
		return
	}
	f.Reverse, f.Limit = true, h.opts.MaxExport
	next, stop := iter.Pull2(v.log.Entries(ctx, f))
	defer stop()
	first, err, ok := next()
	if ok && err != nil { // nothing written yet: a proper error status
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	name := "treeoflife-" + time.Now().UTC().Format("20060102T150405Z") + "." + format
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	var cw *csv.Writer
	if format == "csv" {
		cw = csv.NewWriter(bw)
		defer cw.Flush()
		cw.Write([]string{"seq", "id", "timestamp", "level", "message", "metadata", "hostname", "pid", "tenantId", "hash", "prevHash"})
	}
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for e := first; ok; e, err, ok = next() {
		if err != nil {
			// The status is sent: end the file with a line saying why,
			// so a cut export is not taken for a whole one.
			if cw != nil {
				cw.Write([]string{"#error", cell(err.Error())})
			} else {
				enc.Encode(map[string]string{"error": err.Error()})
			}
			return
		}
		if cw != nil {
			meta, _ := json.Marshal(e.Metadata)
			cw.Write([]string{strconv.FormatUint(e.Seq, 10), e.ID, e.Time.Format(time.RFC3339Nano), e.Level.String(),
				cell(e.Message), cell(string(meta)), cell(e.Hostname), strconv.Itoa(e.PID), cell(e.Tenant), e.Hash.String(), e.PrevHash.String()})
		} else if err := enc.Encode(&e); err != nil {
			return
		}
	}
}

// cell defuses a CSV cell that a spreadsheet would run as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// compactJSON is v as JSON, cut to about n bytes.
func compactJSON(v any, n int) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	s := string(b)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
