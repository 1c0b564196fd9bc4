// Package dashboard serves a read-only web dashboard of a treeoflife log:
// an overview (head, checkpoint, records per level and over time, disk,
// backup, verification, health), a live stream over Server-Sent Events,
// search and query with cursor pages and JSONL/CSV export, record detail
// with an inclusion proof checked in the browser (WebCrypto SHA-256),
// a verification page, and a tenant switcher for a Tenants root.
//
// A service mounts it the way it mounts net/http/pprof, under a path that
// ends in "/" (with or without http.StripPrefix: every link is relative):
//
//	mux.Handle("/debug/audit/", dashboard.New(logger, dashboard.Options{Token: tok}))
//
// The handler never changes the log: it reads, verifies and proves. Every
// asset is embedded; the pages load nothing from elsewhere, and the
// Content-Security-Policy forbids inline scripts and styles.
package dashboard

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
)

// Log is one log the dashboard reads: *treeoflife.ImmutableLogger (the
// process's own logger, which holds the key of an encrypted log) and
// *treeoflife.Reader (a log another process writes, read without a key)
// implement it.
type Log interface {
	Dir() string
	Stats(ctx context.Context) (treeoflife.Stats, error)
	Entries(ctx context.Context, f treeoflife.Filter) iter.Seq2[treeoflife.Entry, error]
	Tail(ctx context.Context, f treeoflife.Filter) iter.Seq2[treeoflife.Entry, error]
	Receipt(ctx context.Context, seq uint64) (*treeoflife.Receipt, error)
	VerifyWith(ctx context.Context, opts treeoflife.VerifyOptions) (treeoflife.VerifyReport, error)
}

// liveLog is what a logger adds to a Log: its health, metrics and backup.
type liveLog interface {
	Health() treeoflife.HealthReport
	Metrics() treeoflife.MetricsSnapshot
	Encrypted() bool
}

// ReaderRoot is a tenants root (treeoflife.OpenTenants) that another
// process writes, read without a lock or a key, as Readers: the command's
// view. An encrypted tenant's records cannot be shown; its sizes, levels
// and chain can. In-process, pass the *treeoflife.Tenants instead.
type ReaderRoot string

// Source is what New serves: a Log (*treeoflife.ImmutableLogger,
// *treeoflife.Reader), a *treeoflife.Tenants, or a ReaderRoot.
type Source any

// Options configure the dashboard. The zero value serves without
// authentication, with the default bounds.
type Options struct {
	// Token, when set, is required as "Authorization: Bearer TOKEN", or
	// as the cookie the login form sets. User and Password, when set,
	// require HTTP basic auth instead (or as well: either is accepted).
	// Both are compared in constant time.
	Token          string
	User, Password string

	// Verifiers are the log's checkpoint public keys: the verify page
	// checks checkpoints against them, and the record page says whether
	// the receipt's checkpoint is signed by one of them.
	Verifiers note.Verifiers

	// QueryTimeout bounds every request but the live stream and a
	// verification (default 5 s). PageSize is the search page's number of
	// results (default 50, at most 500). MaxExport caps an export's
	// records (default 100,000). StreamRows is how many rows the live
	// page keeps (default 500). MaxStreams caps the concurrent live
	// streams (default 1,000). VerifyTimeout bounds a verification
	// (default 1 h).
	QueryTimeout  time.Duration
	PageSize      int
	MaxExport     int
	StreamRows    int
	MaxStreams    int
	VerifyTimeout time.Duration

	// Title is shown in every page's header (default "treeoflife").
	Title string
}

func (o *Options) fill() {
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 5 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 50
	}
	o.PageSize = min(o.PageSize, maxPageSize)
	if o.MaxExport <= 0 {
		o.MaxExport = 100_000
	}
	if o.StreamRows <= 0 {
		o.StreamRows = 500
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 1000
	}
	if o.VerifyTimeout <= 0 {
		o.VerifyTimeout = time.Hour
	}
	if o.Title == "" {
		o.Title = "treeoflife"
	}
}

// Limits on request input.
const (
	maxPageSize   = 500
	maxQueryBytes = 4096 // free text and query, each
	maxFormBytes  = 8192
	tokenCookie   = "tol_dashboard_token"
)

// handler is the dashboard.
type handler struct {
	opts    Options
	log     Log        // one log, or nil
	tenants tenantRoot // a tenants root, or nil
	streams chan struct{}

	mu     sync.Mutex
	jobs   map[string]*verifyJob // by tenant ("" for the log or the system log)
	charts map[string]cachedChart
	hubs   map[string]*hub
}

// New returns the dashboard of src, a Log (*treeoflife.ImmutableLogger,
// *treeoflife.Reader), a *treeoflife.Tenants or a ReaderRoot. With
// tenants, it shows the system log by default and a switcher for the
// tenants; it holds a lease on a tenant's log only while a request uses
// it (a live stream, while it is open: Tenants.Erase waits for it). New panics for any other source, as http.ServeMux does for a bad
// pattern. The caller keeps src open while the handler serves, and closes
// it.
func New(src Source, opts Options) http.Handler {
	opts.fill()
	h := &handler{opts: opts, streams: make(chan struct{}, opts.MaxStreams), jobs: map[string]*verifyJob{}, charts: map[string]cachedChart{}, hubs: map[string]*hub{}}
	switch s := src.(type) {
	case *treeoflife.Tenants:
		h.tenants = tenantsRoot{s}
	case ReaderRoot:
		h.tenants = s
	case Log:
		h.log = s
	default:
		panic(fmt.Sprintf("dashboard: New needs a *treeoflife.ImmutableLogger, *treeoflife.Reader, *treeoflife.Tenants or ReaderRoot, not %T", src))
	}
	return h
}

// ServeHTTP sets the safety headers, authenticates, and routes on the last
// element of the path, so that the dashboard works under any prefix.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	dir, name := route(r.URL.Path)
	if dir == "static" {
		serveAsset(w, r, name)
		return
	}
	if name == "login" {
		h.login(w, r)
		return
	}
	if !h.authorized(r) {
		h.refuse(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !(r.Method == http.MethodPost && name == "verify") {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the dashboard is read-only", http.StatusMethodNotAllowed)
		return
	}
	switch name {
	case "":
		h.overview(w, r)
	case "stream":
		h.streamPage(w, r)
	case "events":
		h.events(w, r)
	case "search":
		h.search(w, r)
	case "export":
		h.export(w, r)
	case "record":
		h.record(w, r)
	case "receipt":
		h.receipt(w, r)
	case "verify":
		h.verify(w, r)
	case "verify-status":
		h.verifyStatus(w, r)
	case "tenants":
		h.tenantsPage(w, r)
	default:
		http.NotFound(w, r)
	}
}

// route splits a request path into the name of its last directory and its
// last element: "/debug/audit/static/app.js" is ("static", "app.js"),
// "/debug/audit/" is ("audit", ""), the overview.
func route(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	name = p[i+1:]
	if i > 0 {
		d := p[:i]
		dir = d[strings.LastIndexByte(d, '/')+1:]
	}
	return dir, name
}

// authorized reports whether r carries the token or the basic-auth
// credentials the options require.
func (h *handler) authorized(r *http.Request) bool {
	o := &h.opts
	if o.Token == "" && o.User == "" && o.Password == "" {
		return true
	}
	if o.Token != "" {
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") && equal(a[7:], o.Token) {
			return true
		}
		if c, err := r.Cookie(tokenCookie); err == nil && equal(c.Value, o.Token) {
			return true
		}
	}
	if o.User != "" || o.Password != "" {
		if u, p, ok := r.BasicAuth(); ok && equal(u, o.User) && equal(p, o.Password) {
			return true
		}
	}
	return false
}

// equal compares secrets in constant time (for equal lengths; the length
// of the expected value is not a secret worth hiding).
func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// refuse answers an unauthenticated request: 401, with the login form for
// a page and a basic-auth challenge when basic auth is configured.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request) {
	if h.opts.User != "" || h.opts.Password != "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="treeoflife dashboard", charset="UTF-8"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="treeoflife dashboard"`)
	}
	h.render(w, r, "login", &page{Title: "Sign in", Data: struct{ Token bool }{h.opts.Token != ""}}, http.StatusUnauthorized)
}

// login takes the token from the form and sets it as a cookie, strict to
// this site and hidden from scripts.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || h.opts.Token == "" {
		h.refuse(w, r)
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	tok := r.PostFormValue("token")
	if !equal(tok, h.opts.Token) {
		h.refuse(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: tok, Path: cookiePath(r.URL.Path), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "./", http.StatusSeeOther)
}

// cookiePath is the directory of the login URL: the dashboard's mount point.
func cookiePath(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return "/"
}

// sameOrigin refuses a form posted from another site: its Origin header,
// when present, must name this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	o = strings.TrimPrefix(strings.TrimPrefix(o, "http://"), "https://")
	return o == r.Host
}

// errStatus maps an error to an HTTP status.
func errStatus(err error) int {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, treeoflife.ErrInvalidFilter), errors.Is(err, treeoflife.ErrInvalidQuery), errors.Is(err, errBadInput):
		return http.StatusBadRequest
	case errors.Is(err, treeoflife.ErrOutOfRange), errors.Is(err, errNotFound), errors.Is(err, treeoflife.ErrNotLog), errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, treeoflife.ErrKeyRequired), errors.Is(err, treeoflife.ErrErased):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

var (
	errBadInput = errors.New("bad input")
	errNotFound = errors.New("not found")
)
