package dashboard_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/dashboard"
)

// The browser tests drive a real headless Chromium with chromedp through
// the dashboard's pages. scripts/test.sh installs Debian's chromium and
// sets TOL_CHROMIUM; without a browser they skip, or fail under
// TOL_REQUIRE_INTEGRATION=1. With TOL_DASHBOARD_SCREENSHOTS=DIR they save
// a screenshot of each page there (docs/ holds the README's).

// findChromium returns the browser to run, or skips (fails when
// integration tests are required).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TOL_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
		t.Fatal("TOL_REQUIRE_INTEGRATION=1 but no Chromium is found (TOL_CHROMIUM, or chromium in PATH): scripts/test.sh installs Debian's chromium as root")
	}
	t.Skip("skipping the browser tests: no Chromium found (set TOL_CHROMIUM, or install Debian's chromium; scripts/test.sh does as root; TOL_REQUIRE_INTEGRATION=1 fails instead)")
	return ""
}

// browser is one headless Chromium tab that records console errors,
// uncaught exceptions and error log entries (CSP violations, failed loads).
type browser struct {
	ctx context.Context

	mu     sync.Mutex
	errors []string
	status map[string]int64 // URL -> HTTP status of documents loaded
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := findChromium(t)
	// Not t.TempDir: Chromium's helper processes may still be writing to
	// the profile when the browser has exited, which TempDir's cleanup
	// reports as a failure.
	profile, err := os.MkdirTemp("", "tol-chromium-")
	require.NoError(t, err)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		if os.RemoveAll(profile) != nil {
			os.RemoveAll(profile) // a file a helper process wrote meanwhile
		}
	})
	b := &browser{ctx: ctx, status: map[string]int64{}}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.errors = append(b.errors, "console: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, "exception: "+ev.ExceptionDetails.Error())
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				b.errors = append(b.errors, fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeDocument {
				b.status[ev.Response.URL] = ev.Response.Status
			}
		}
	})
	require.NoError(t, chromedp.Run(ctx), "start Chromium %s", exe)
	return b
}

// run runs actions with a deadline.
func (b *browser) run(t *testing.T, d time.Duration, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	require.NoError(t, chromedp.Run(ctx, actions...))
}

// text returns the text of the element sel.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	var s string
	b.run(t, 10*time.Second, chromedp.Text(sel, &s, chromedp.ByQuery))
	return strings.TrimSpace(s)
}

// svgText returns the text content of the SVG element sel.
func (b *browser) svgText(t *testing.T, sel string) string {
	t.Helper()
	var s string
	b.run(t, 10*time.Second, chromedp.TextContent(sel, &s, chromedp.ByQuery))
	return strings.TrimSpace(s)
}

// forgetStreamCuts drops the network errors of live streams the test cut
// on purpose (a server restart): the browser logs each one.
func (b *browser) forgetStreamCuts(url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.errors[:0]
	for _, e := range b.errors {
		if !(strings.HasPrefix(e, "log (network): ") && strings.Contains(e, url)) {
			kept = append(kept, e)
		}
	}
	b.errors = kept
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// screenshot saves the page (the window, for the long live page) as
// DIR/name.png when TOL_DASHBOARD_SCREENSHOTS names a directory.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("TOL_DASHBOARD_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	shot := chromedp.FullScreenshot(&png, 100)
	if name == "dashboard-live" {
		shot = chromedp.CaptureScreenshot(&png)
	}
	b.run(t, 20*time.Second, shot)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// restartable serves h on one loopback address that survives a restart of
// the server.
type restartable struct {
	addr string
	srv  *http.Server
	h    http.Handler
}

func (s *restartable) start(t *testing.T) {
	t.Helper()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.h}
	go s.srv.Serve(ln)
}

// stop closes the server and every connection, the live streams included.
func (s *restartable) stop() { s.srv.Close() }

func (s *restartable) url(p string) string { return "http://" + s.addr + p }

// TestBrowser runs the dashboard's scenarios in headless Chromium, on a
// logger mounted under a prefix as a service would.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	l, vs := signedLogger(t, t.TempDir())
	counts := fill(t, l, 200)
	mux := http.NewServeMux()
	mux.Handle("/audit/", dashboard.New(l, dashboard.Options{Verifiers: vs, Title: "acme payments · audit log"}))
	srv := &restartable{h: mux}
	srv.start(t)
	defer srv.stop()

	t.Run("overview shows the counts", func(t *testing.T) {
		b.run(t, 20*time.Second, chromedp.Navigate(srv.url("/audit/")), chromedp.WaitVisible("#size", chromedp.ByQuery))
		require.Equal(t, "200", b.text(t, "#size"))
		require.Equal(t, fmt.Sprint(counts[treeoflife.LevelError]), b.svgText(t, `text[data-level="ERROR"]`))
		require.Equal(t, fmt.Sprint(counts[treeoflife.LevelInfo]), b.svgText(t, `text[data-level="INFO"]`))
		require.Equal(t, "OK", b.text(t, "#health-status")) // upper-cased by the style sheet
		b.screenshot(t, "dashboard-overview")
	})

	var seq uint64
	t.Run("a new record appears in the live stream within 1 s", func(t *testing.T) {
		b.run(t, 20*time.Second, chromedp.Navigate(srv.url("/audit/stream")),
			chromedp.WaitVisible("#row-199", chromedp.ByQuery),
			chromedp.WaitVisible(`#stream-state.live`, chromedp.ByQuery))
		rec, err := l.Security("login refused: bad password", treeoflife.Fields{"user": "mallory", "ip": "203.0.113.7"})
		require.NoError(t, err)
		seq = rec.Seq
		b.run(t, time.Second, chromedp.WaitVisible(fmt.Sprintf("#row-%d", seq), chromedp.ByQuery))
		require.Contains(t, b.text(t, fmt.Sprintf("#row-%d", seq)), "login refused: bad password")
		b.screenshot(t, "dashboard-live")
	})

	t.Run("the stream resumes after a server restart", func(t *testing.T) {
		srv.stop()
		b.run(t, 10*time.Second, chromedp.WaitVisible(`#stream-state.down`, chromedp.ByQuery))
		var missed []uint64
		for i := 0; i < 3; i++ {
			rec, err := l.Info(fmt.Sprintf("logged while the dashboard was down %d", i), nil)
			require.NoError(t, err)
			missed = append(missed, rec.Seq)
		}
		srv.start(t)
		b.run(t, 10*time.Second, chromedp.WaitVisible(fmt.Sprintf("#row-%d", missed[2]), chromedp.ByQuery))
		// Every record once: the backlog (150-199), the live one, the three
		// missed ones, with no gap and no duplicate.
		var ids []string
		b.run(t, 10*time.Second, chromedp.Evaluate(`Array.from(document.querySelectorAll('#stream-rows tr')).map(r => r.id)`, &ids))
		var want []string
		for s := missed[2]; s >= 150; s-- {
			want = append(want, fmt.Sprintf("row-%d", s))
		}
		require.Equal(t, want, ids)
		b.forgetStreamCuts(srv.url("/audit/events"))
	})

	t.Run("a search finds it", func(t *testing.T) {
		b.run(t, 20*time.Second, chromedp.Navigate(srv.url("/audit/search")),
			chromedp.WaitVisible("#q", chromedp.ByQuery),
			chromedp.SendKeys("#q", "bad password", chromedp.ByQuery),
			chromedp.SetValue("#level", "SECURITY", chromedp.ByQuery),
			chromedp.Click("#search-go", chromedp.ByQuery),
			chromedp.WaitVisible("#results", chromedp.ByQuery))
		require.Contains(t, b.text(t, "#results tbody"), "login refused: bad password")
		var n int
		b.run(t, 5*time.Second, chromedp.Evaluate(`document.querySelectorAll('#results tbody tr').length`, &n))
		require.Equal(t, 1, n)
		b.screenshot(t, "dashboard-search")
	})

	t.Run("the record's proof checks in the browser", func(t *testing.T) {
		_, err := l.Checkpoint(t.Context())
		require.NoError(t, err)
		b.run(t, 20*time.Second, chromedp.Navigate(srv.url(fmt.Sprintf("/audit/record?seq=%d", seq))),
			chromedp.WaitVisible("#check-proof", chromedp.ByQuery),
			chromedp.Click("#check-proof", chromedp.ByQuery),
			chromedp.WaitVisible("#proof-result.pass", chromedp.ByQuery))
		require.Contains(t, b.text(t, "#proof-result"), fmt.Sprintf("verified: record %d is in", seq))
		require.Contains(t, b.text(t, "#proof-steps"), "computed root equals the checkpoint root "+l.Head().Root.String())
		var color string
		b.run(t, 5*time.Second, chromedp.Evaluate(`getComputedStyle(document.getElementById('proof-result')).color`, &color))
		require.Equal(t, "rgb(26, 127, 55)", color, "green")
		b.screenshot(t, "dashboard-record")
	})

	t.Run("no console errors", func(t *testing.T) {
		require.Empty(t, b.consoleErrors())
	})
}

// TestBrowserVerifyShowsTampering flips a byte in a sealed segment of a
// log a Reader serves, and watches the verify page turn red.
func TestBrowserVerifyShowsTampering(t *testing.T) {
	b := newBrowser(t)
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

	b.run(t, 30*time.Second, chromedp.Navigate(srv.URL+"/verify"),
		chromedp.WaitVisible("#verify-start", chromedp.ByQuery),
		chromedp.Click("#verify-start", chromedp.ByQuery),
		chromedp.WaitVisible("#verify-bad", chromedp.ByQuery))
	require.Contains(t, b.text(t, "#verify-bad"), "TAMPERED")
	require.Equal(t, seg, b.text(t, "#t-segment"))
	require.NotEmpty(t, b.text(t, "#t-seq"))
	require.NotEmpty(t, b.text(t, "#t-offset"))
	var color string
	b.run(t, 5*time.Second, chromedp.Evaluate(`getComputedStyle(document.querySelector('#verify-bad .bad')).color`, &color))
	require.Equal(t, "rgb(198, 40, 40)", color, "red")
	b.screenshot(t, "dashboard-verify-tampered")
	require.Empty(t, b.consoleErrors())
}

// TestBrowserAuth: without the token the browser gets 401 and the login
// form; with it, the pages.
func TestBrowserAuth(t *testing.T) {
	b := newBrowser(t)
	l, _ := signedLogger(t, t.TempDir())
	fill(t, l, 7)
	srv := httptest.NewServer(dashboard.New(l, dashboard.Options{Token: "browser-token"}))
	defer srv.Close()

	b.run(t, 20*time.Second, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#unauthorized", chromedp.ByQuery))
	b.mu.Lock()
	require.Equal(t, int64(http.StatusUnauthorized), b.status[srv.URL+"/"])
	b.mu.Unlock()
	var found []*cdp.Node
	b.run(t, 5*time.Second, chromedp.Nodes("#size", &found, chromedp.AtLeast(0), chromedp.ByQuery))
	require.Empty(t, found, "no data without the token")
	b.screenshot(t, "dashboard-login")

	b.run(t, 20*time.Second,
		chromedp.SendKeys("#token", "browser-token", chromedp.ByQuery),
		chromedp.Click("#signin", chromedp.ByQuery),
		chromedp.WaitVisible("#size", chromedp.ByQuery))
	require.Equal(t, "7", b.text(t, "#size"))
}

// TestBrowserTenants: the switcher lists the tenants, an erased one marked.
func TestBrowserTenants(t *testing.T) {
	b := newBrowser(t)
	key := make([]byte, treeoflife.KeySize)
	for i := range key {
		key[i] = byte(i + 1)
	}
	ts, err := treeoflife.OpenTenants(t.TempDir(), treeoflife.Options{EncryptionKey: key})
	require.NoError(t, err)
	defer ts.Close()
	for _, id := range []string{"acme", "globex", "initech"} {
		_, err := ts.Log(t.Context(), id, treeoflife.LevelAudit, "invoice issued", treeoflife.Fields{"tenant": id})
		require.NoError(t, err)
	}
	require.NoError(t, ts.Erase(t.Context(), "initech"))
	srv := httptest.NewServer(dashboard.New(ts, dashboard.Options{}))
	defer srv.Close()

	b.run(t, 20*time.Second, chromedp.Navigate(srv.URL+"/tenants"), chromedp.WaitVisible("#tenant-list", chromedp.ByQuery))
	require.Regexp(t, `initech\s+erased`, b.text(t, "#tenant-list"))
	require.Regexp(t, `acme\s+active`, b.text(t, "#tenant-list"))
	b.screenshot(t, "dashboard-tenants")
	// Choosing a tenant in the switcher (SetValue fires its change
	// event) shows its log.
	b.run(t, 20*time.Second,
		chromedp.SetValue("#tenant", "acme", chromedp.ByQuery),
		chromedp.WaitVisible(`h1 small`, chromedp.ByQuery))
	require.Equal(t, "tenant acme", b.text(t, "h1 small"))
	require.Equal(t, "1", b.text(t, "#size"))
	require.Empty(t, b.consoleErrors())
}
