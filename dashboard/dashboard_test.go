package dashboard_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/dashboard"
)

// get fetches path from srv and returns the status and body.
func get(t *testing.T, srv *httptest.Server, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestOverviewCountsAndHeaders(t *testing.T) {
	l, vs := signedLogger(t, t.TempDir())
	counts := fill(t, l, 120)
	mux := http.NewServeMux()
	mux.Handle("/debug/audit/", dashboard.New(l, dashboard.Options{Verifiers: vs}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, body := get(t, srv, "/debug/audit/")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Contains(t, body, `<dd id="size">120</dd>`)
	require.Contains(t, body, fmt.Sprintf(`data-level="ERROR">%d<`, counts[treeoflife.LevelError]))
	require.Contains(t, body, fmt.Sprintf(`data-level="INFO">%d<`, counts[treeoflife.LevelInfo]))
	require.Contains(t, body, l.Head().Root.String())
	require.Contains(t, body, `class="status status-ok"`)
	require.NotContains(t, body, "<script>", "no inline script")
	require.NotContains(t, body, "style=", "no inline style")

	// The assets are served from under the same prefix.
	resp, js := get(t, srv, "/debug/audit/static/app.js")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, js, "crypto.subtle.digest")
	resp, _ = get(t, srv, "/debug/audit/static/nothing.js")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestSearchCursorPagesAndExport(t *testing.T) {
	l, _ := signedLogger(t, t.TempDir())
	fill(t, l, 130)
	srv := httptest.NewServer(dashboard.New(l, dashboard.Options{PageSize: 10}))
	defer srv.Close()

	// ERROR records are every fifth: 26 of them, newest first, 10 a page.
	next := "/search?level=ERROR"
	var seqs []uint64
	for pages := 0; next != ""; pages++ {
		require.Less(t, pages, 5)
		resp, body := get(t, srv, next)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		for _, m := range strings.Split(body, `<td><a href="record?seq=`)[1:] {
			n, err := strconv.ParseUint(m[:strings.IndexByte(m, '"')], 10, 64)
			require.NoError(t, err)
			seqs = append(seqs, n)
		}
		next = ""
		if i := strings.Index(body, `id="next"`); i >= 0 {
			h := body[strings.LastIndex(body[:i], `href="`)+6:]
			next = "/" + strings.ReplaceAll(h[:strings.IndexByte(h, '"')], "&amp;", "&")
		}
	}
	require.Len(t, seqs, 26)
	for i, s := range seqs {
		require.Equal(t, uint64(125-5*i), s)
	}

	// Free text and a query, escaped on the way back into the page.
	resp, body := get(t, srv, "/search?q=payment+17+received")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `record?seq=17"`)
	q := url.QueryEscape(`{"metadata.user":"u_3","level":"ERROR"}`)
	resp, body = get(t, srv, "/search?query="+q)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `record?seq=10"`) // 10 % 7 == 3, 10 % 5 == 0
	require.NotContains(t, body, `record?seq=3"`)
	resp, body = get(t, srv, "/search?q="+url.QueryEscape(`<script>alert(1)</script>`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, body, `<script>alert(1)</script>`)
	require.Contains(t, body, `&lt;script&gt;alert(1)&lt;/script&gt;`)
	resp, body = get(t, srv, "/search?query="+url.QueryEscape(`{"$where":"sleep(1)"}`))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "invalid query")
	resp, _ = get(t, srv, "/search?q="+strings.Repeat("x", 5000))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Exports: the same selection, every record.
	resp, body = get(t, srv, "/export?format=jsonl&level=ERROR")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	var lines []treeoflife.Entry
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var e treeoflife.Entry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		lines = append(lines, e)
	}
	require.Len(t, lines, 26)
	require.Equal(t, uint64(125), lines[0].Seq)
	require.Equal(t, treeoflife.LevelError, lines[0].Level)
	resp, body = get(t, srv, "/export?format=csv&q=payment+17+received")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, "seq", recs[0][0])
	require.Equal(t, "17", recs[1][0])
	require.Equal(t, "payment 17 received", recs[1][4])
	resp, _ = get(t, srv, "/export?format=xml")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestRecordAndReceipt(t *testing.T) {
	l, vs := signedLogger(t, t.TempDir())
	fill(t, l, 40)
	_, err := l.Checkpoint(t.Context())
	require.NoError(t, err)
	srv := httptest.NewServer(dashboard.New(l, dashboard.Options{Verifiers: vs}))
	defer srv.Close()

	resp, body := get(t, srv, "/record?seq=17")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	e := l.Head()
	require.Contains(t, body, "payment 17 received")
	require.Contains(t, body, `id="check-proof"`)
	require.Contains(t, body, "verifies against the configured key")
	require.Contains(t, body, e.Root.String())

	resp, body = get(t, srv, "/receipt?seq=17")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	rc, err := treeoflife.ParseReceipt([]byte(body))
	require.NoError(t, err)
	_, err = rc.Verify(vs)
	require.NoError(t, err)

	resp, _ = get(t, srv, "/record?seq=4000")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = get(t, srv, "/record?seq=x")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestReadOnly(t *testing.T) {
	l, _ := signedLogger(t, t.TempDir())
	fill(t, l, 5)
	srv := httptest.NewServer(dashboard.New(l, dashboard.Options{}))
	defer srv.Close()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		for _, p := range []string{"/", "/search", "/record?seq=1", "/events"} {
			req, err := http.NewRequestWithContext(t.Context(), m, srv.URL+p, strings.NewReader("x"))
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s", m, p)
		}
	}
	require.Equal(t, uint64(5), l.Head().Size)
	// A verification started from another site is refused.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/verify", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestAuth(t *testing.T) {
	l, _ := signedLogger(t, t.TempDir())
	fill(t, l, 3)
	t.Run("token", func(t *testing.T) {
		srv := httptest.NewServer(dashboard.New(l, dashboard.Options{Token: "s3cret-token"}))
		defer srv.Close()
		for _, p := range []string{"/", "/events", "/export?format=jsonl", "/receipt?seq=0", "/verify-status"} {
			resp, body := get(t, srv, p)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
			require.NotContains(t, body, "payment")
		}
		resp, _ := get(t, srv, "/", "Authorization", "Bearer wrong-token!")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, body := get(t, srv, "/", "Authorization", "Bearer s3cret-token")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `<dd id="size">3</dd>`)

		// The login form sets a cookie that then authorizes.
		jar := srv.Client()
		resp, err := jar.PostForm(srv.URL+"/login", url.Values{"token": {"s3cret-token"}})
		require.NoError(t, err)
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Request.Response.Cookies() {
			cookie = c
		}
		require.NotNil(t, cookie)
		require.True(t, cookie.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
		resp, _ = get(t, srv, "/search", "Cookie", cookie.Name+"="+cookie.Value)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("basic", func(t *testing.T) {
		srv := httptest.NewServer(dashboard.New(l, dashboard.Options{User: "auditor", Password: "pw"}))
		defer srv.Close()
		resp, _ := get(t, srv, "/")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/", nil)
		require.NoError(t, err)
		req.SetBasicAuth("auditor", "pw")
		resp, err = srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

// readEvents reads SSE data events from r until n have arrived.
func readEvents(t *testing.T, r io.Reader, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(r)
	for sc.Scan() && len(out) < n {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(d), &m), d)
			out = append(out, m)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func TestEventsStreamAndResume(t *testing.T) {
	l, _ := signedLogger(t, t.TempDir())
	fill(t, l, 10)
	srv := httptest.NewServer(dashboard.New(l, dashboard.Options{}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events?level=ERROR", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	// The backlog (ERROR records 0 and 5), then one logged now.
	go func() {
		l.Error("card declined", treeoflife.Fields{"user": "u_live"})
	}()
	ev := readEvents(t, resp.Body, 3)
	require.Equal(t, []float64{0, 5, 10}, []float64{ev[0]["seq"].(float64), ev[1]["seq"].(float64), ev[2]["seq"].(float64)})
	require.Equal(t, "card declined", ev[2]["message"])

	// A reconnecting browser sends the last id it saw, and gets what follows.
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", "7")
	resp2, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	ev = readEvents(t, resp2.Body, 3)
	require.Equal(t, []float64{8, 9, 10}, []float64{ev[0]["seq"].(float64), ev[1]["seq"].(float64), ev[2]["seq"].(float64)})
}

func TestVerifyFindsTampering(t *testing.T) {
	dir := t.TempDir()
	l, _ := signedLogger(t, dir)
	fill(t, l, 300)
	require.NoError(t, l.Close())
	seg := flipSealed(t, dir)
	r, err := treeoflife.OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	srv := httptest.NewServer(dashboard.New(r, dashboard.Options{}))
	defer srv.Close()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/verify", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st struct {
		State, Segment string
		Tampered       bool
		Seq            uint64
		Offset         int64
	}
	_, body := get(t, srv, "/verify-status?wait=") // answers when it ends (within QueryTimeout)
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "done", st.State)
	require.True(t, st.Tampered)
	require.Equal(t, seg, st.Segment)
	_, body = get(t, srv, "/verify")
	require.Contains(t, body, "TAMPERED")
	require.Contains(t, body, `<dd id="t-segment">`+seg+`</dd>`)
	require.Contains(t, body, fmt.Sprintf(`<dd id="t-seq">%d</dd>`, st.Seq))
	require.Contains(t, body, fmt.Sprintf(`<dd id="t-offset">%d</dd>`, st.Offset))
}

func TestTenantsSwitcherAndErased(t *testing.T) {
	key := make([]byte, treeoflife.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	ts, err := treeoflife.OpenTenants(t.TempDir(), treeoflife.Options{EncryptionKey: key})
	require.NoError(t, err)
	defer ts.Close()
	for _, id := range []string{"acme", "globex"} {
		for i := 0; i < 3; i++ {
			_, err := ts.Log(t.Context(), id, treeoflife.LevelAudit, "login "+id, nil)
			require.NoError(t, err)
		}
	}
	require.NoError(t, ts.Erase(t.Context(), "globex"))
	srv := httptest.NewServer(dashboard.New(ts, dashboard.Options{}))
	defer srv.Close()

	resp, body := get(t, srv, "/tenants")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, `<option value="acme"`)
	require.Regexp(t, `globex</a></td><td><span class="badge erased">erased`, body)
	require.NotRegexp(t, `acme</a></td><td><span class="badge erased">`, body)

	_, body = get(t, srv, "/search?tenant=acme&q=login")
	require.Contains(t, body, "login acme")
	require.NotContains(t, body, "login globex")
	resp, body = get(t, srv, "/?tenant=globex")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "is erased")
	require.Contains(t, body, `<dd id="size">3</dd>`)
	resp, _ = get(t, srv, "/?tenant=../etc")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// TestEncryptedWithoutKey: a Reader of an encrypted log shows sizes and
// levels, never the records.
func TestEncryptedWithoutKey(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, treeoflife.KeySize)
	key[0] = 7
	l, err := treeoflife.Open(dir, treeoflife.Options{EncryptionKey: key, SegmentSize: 4 << 10})
	require.NoError(t, err)
	for i := 0; i < 40; i++ {
		_, err := l.Audit("secret payroll change", treeoflife.Fields{"salary": 99000 + i, "pad": strings.Repeat("x", 200)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	r, err := treeoflife.OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	srv := httptest.NewServer(dashboard.New(r, dashboard.Options{}))
	defer srv.Close()

	st, err := r.Stats(t.Context())
	require.NoError(t, err)
	require.Positive(t, st.Levels[treeoflife.LevelAudit], "sealed segments' indexes give levels")
	require.Positive(t, st.Unknown, "the last segment's levels are sealed with its records")
	resp, body := get(t, srv, "/")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, `<dd id="size">40</dd>`)
	require.Contains(t, body, fmt.Sprintf(`data-level="AUDIT">%d<`, st.Levels[treeoflife.LevelAudit]))
	require.Contains(t, body, fmt.Sprintf(`data-level="unknown">%d<`, st.Unknown))
	require.Contains(t, body, "sizes and levels only")
	require.NotContains(t, body, "payroll")
	_, body = get(t, srv, "/search?q=payroll")
	require.Contains(t, body, "holds no key")
	require.NotContains(t, body, "payroll change")
	resp, body = get(t, srv, "/record?seq=3")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NotContains(t, body, "99003")
	resp, body = get(t, srv, "/export?format=jsonl")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NotContains(t, body, "payroll")
	resp, body = get(t, srv, "/events?from=0")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "event: failure")
	require.NotContains(t, body, "payroll")
}

// TestStreamsShareAndCatchUp: streams with one filter share one reading of
// the log; one that starts behind what that keeps in memory reads the
// rest from the log first, and every stream gets every record once, in
// order.
func TestStreamsShareAndCatchUp(t *testing.T) {
	l, err := treeoflife.Open(t.TempDir(), treeoflife.Options{Durability: treeoflife.DurabilityBuffered})
	require.NoError(t, err)
	defer l.Close()
	fill(t, l, 10)
	srv := httptest.NewServer(dashboard.New(l, dashboard.Options{}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	open := func(path string) io.ReadCloser {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return resp.Body
	}
	first := open("/events")
	defer first.Close()
	sc := bufio.NewScanner(first)
	for sc.Scan() && sc.Text() != "id: 9" { // the backlog has reached the page
	}
	const more = 9000 // more than the events kept in memory
	for i := 0; i < more; i++ {
		_, err := l.Info(fmt.Sprintf("burst %d", i), nil)
		require.NoError(t, err)
	}
	late := open("/events?from=0")
	defer late.Close()
	// check reads events until seq to-1, and requires each seq from
	// from on exactly once, as an event or in a gap a stream that fell
	// behind skipped (and said so).
	check := func(sc *bufio.Scanner, from, to uint64, gapsAllowed bool) {
		t.Helper()
		want := from
		for want < to && sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				require.Equal(t, strconv.FormatUint(want, 10), id)
				want++
			}
			if sc.Text() == "event: gap" {
				require.True(t, gapsAllowed, "a gap in a stream that asked for these records")
				require.True(t, sc.Scan())
				var g struct{ From, To uint64 }
				require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), "data: ")), &g))
				require.Equal(t, want, g.From)
				require.Greater(t, g.To, g.From)
				want = g.To
			}
		}
		require.Equal(t, to, want, "%v", sc.Err())
	}
	check(bufio.NewScanner(late), 0, 10+more, false)
	check(sc, 10, 10+more, true) // the first stream, which did not read while they were logged
}

// TestBounds: a request that outlasts QueryTimeout ends with 504, and a
// page holds at most PageSize results.
func TestBounds(t *testing.T) {
	l, _ := signedLogger(t, t.TempDir())
	fill(t, l, 30)
	slow := httptest.NewServer(dashboard.New(l, dashboard.Options{QueryTimeout: time.Nanosecond}))
	defer slow.Close()
	resp, _ := get(t, slow, "/search?q=payment")
	require.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	resp, _ = get(t, slow, "/export?format=jsonl")
	require.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)

	small := httptest.NewServer(dashboard.New(l, dashboard.Options{PageSize: 7, MaxExport: 4}))
	defer small.Close()
	_, body := get(t, small, "/search?q=payment")
	require.Equal(t, 7, strings.Count(body, `<td><a href="record?seq=`))
	_, body = get(t, small, "/export?format=jsonl")
	require.Equal(t, 4, strings.Count(body, "\n"))
}

// TestReaderRoot: a tenants root another process writes, read with
// Readers, as treeoflife serve does.
func TestReaderRoot(t *testing.T) {
	root := t.TempDir()
	ts, err := treeoflife.OpenTenants(root, treeoflife.Options{})
	require.NoError(t, err)
	for i := 0; i < 4; i++ {
		_, err := ts.Log(t.Context(), "acme", treeoflife.LevelAudit, fmt.Sprintf("acme invoice %d", i), nil)
		require.NoError(t, err)
	}
	_, err = ts.Log(t.Context(), "globex", treeoflife.LevelAudit, "globex invoice", nil)
	require.NoError(t, err)
	srv := httptest.NewServer(dashboard.New(dashboard.ReaderRoot(root), dashboard.Options{}))
	defer srv.Close()

	_, body := get(t, srv, "/tenants")
	require.Contains(t, body, `<option value="acme"`)
	require.Contains(t, body, `<option value="globex"`)
	resp, body := get(t, srv, "/?tenant=acme")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, `<dd id="size">4</dd>`)
	_, body = get(t, srv, "/search?tenant=globex&q=invoice")
	require.Contains(t, body, "globex invoice")
	require.NotContains(t, body, "acme invoice")
	require.Contains(t, body, `record?seq=0&amp;tenant=globex"`)
	resp, _ = get(t, srv, "/?tenant=nobody")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NoError(t, ts.Close())
}
