package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife"
)

// searchForm is the search page's input, as the query string holds it.
type searchForm struct {
	Text   string // free text
	Level  string
	Since  string
	Until  string
	Query  string // MongoDB-style JSON query
	Before uint64 // the cursor: results have Seq < Before (0: from the newest)
}

// parseSearch reads the form from the query string and builds the filter
// it means. The query is parsed by treeoflife.ParseQuery, and is never
// anything but our query language.
func parseSearch(q url.Values) (searchForm, treeoflife.Filter, error) {
	sf := searchForm{Text: q.Get("q"), Level: q.Get("level"), Since: q.Get("since"), Until: q.Get("until"), Query: q.Get("query")}
	var f treeoflife.Filter
	if len(sf.Text) > maxQueryBytes || len(sf.Query) > maxQueryBytes {
		return sf, f, fmt.Errorf("%w: text or query longer than %d bytes", errBadInput, maxQueryBytes)
	}
	f.Search = sf.Text
	if sf.Level != "" {
		for _, s := range strings.Split(sf.Level, ",") {
			l, err := treeoflife.ParseLevel(strings.TrimSpace(s))
			if err != nil {
				return sf, f, fmt.Errorf("%w: level: %v", errBadInput, err)
			}
			f.Levels = append(f.Levels, l)
		}
	}
	var err error
	if f.Since, err = parseTime(sf.Since); err != nil {
		return sf, f, err
	}
	if f.Until, err = parseTime(sf.Until); err != nil {
		return sf, f, err
	}
	if strings.TrimSpace(sf.Query) != "" {
		if f.Query, err = treeoflife.ParseQuery(sf.Query); err != nil {
			return sf, f, err
		}
	}
	if c := q.Get("before"); c != "" {
		if sf.Before, err = strconv.ParseUint(c, 10, 64); err != nil {
			return sf, f, fmt.Errorf("%w: cursor %q is not a sequence number", errBadInput, c)
		}
		f.ToSeq = sf.Before
	}
	return sf, f, nil
}

// parseTime accepts RFC 3339, a datetime-local input's value (UTC), or a
// date (UTC).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: time %q is not RFC 3339 (2026-11-22T09:00:00Z) or a date", errBadInput, s)
}

// values is the form as query parameters, without the cursor.
func (sf searchForm) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"q": sf.Text, "level": sf.Level, "since": sf.Since, "until": sf.Until, "query": sf.Query} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// searchData is the search page's content.
type searchData struct {
	Form      searchForm
	Levels    []string
	Searched  bool
	Results   []row
	Next      string // the next page's URL, "" on the last
	First     string // the first page's URL, "" on the first
	ExportCSV string
	ExportJL  string
	NoKey     bool
}

// row is an entry as the tables show it.
type row struct {
	Seq     uint64
	Time    time.Time
	Level   string
	Message string
	Meta    string
	Link    string
}

// search renders one page of results, newest first. The cursor is the
// seq of the last result shown: the next page holds those before it.
func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	v, err := h.open(ctx, r)
	if err != nil {
		h.fail(w, r, nil, "search", err)
		return
	}
	defer v.release()
	sf, f, err := parseSearch(r.URL.Query())
	d := &searchData{Form: sf, Levels: levelNames()}
	p := &page{Title: "Search", Nav: "search", View: v, Data: d}
	if err != nil {
		p.Error = err.Error()
		h.render(w, r, "search", p, http.StatusBadRequest)
		return
	}
	d.Searched = len(r.URL.Query()) > 0
	f.Reverse, f.Limit = true, h.opts.PageSize+1
	for e, err := range v.log.Entries(ctx, f) {
		if err != nil {
			if errStatus(err) == http.StatusForbidden {
				d.NoKey = true
				break
			}
			p.Error = err.Error()
			h.render(w, r, "search", p, errStatus(err))
			return
		}
		if len(d.Results) == h.opts.PageSize {
			nv := sf.values()
			nv.Set("before", strconv.FormatUint(d.Results[len(d.Results)-1].Seq, 10))
			d.Next = v.link("search", nv)
			break
		}
		d.Results = append(d.Results, toRow(v, &e))
	}
	if sf.Before != 0 {
		d.First = v.link("search", sf.values())
	}
	ex := sf.values()
	ex.Set("format", "csv")
	d.ExportCSV = v.link("export", ex)
	ex.Set("format", "jsonl")
	d.ExportJL = v.link("export", ex)
	h.render(w, r, "search", p, http.StatusOK)
}

func toRow(v *view, e *treeoflife.Entry) row {
	meta := ""
	if len(e.Metadata) > 0 {
		meta = compactJSON(e.Metadata, 160)
	}
	return row{Seq: e.Seq, Time: e.Time, Level: e.Level.String(), Message: e.Message, Meta: meta,
		Link: v.link("record", url.Values{"seq": {strconv.FormatUint(e.Seq, 10)}})}
}
