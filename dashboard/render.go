package dashboard

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife"
)

//go:embed assets
var assets embed.FS

// pages holds each page's template, parsed with the layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"time":  fmtTime,
		"ago":   ago,
		"bytes": fmtBytes,
		"pct":   func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
		"ratio": func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
		"add":   func(a, b int) int { return a + b },
		"rows":  func(n int) int { return n*22 + 4 },
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/templates/layout.html"))
	names, err := fs.Glob(assets, "assets/templates/*.html")
	if err != nil {
		panic(err)
	}
	m := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		m[base] = template.Must(template.Must(layout.Clone()).ParseFS(assets, n))
	}
	return m
}()

// page is what every template gets.
type page struct {
	AppTitle string
	Title    string
	Nav      string // the active menu item
	View     *view
	Tenants  []tenantItem // the switcher; nil without a TenantRoot
	Error    string       // shown in red above the content
	Data     any
}

// Link is a relative URL to page name, keeping the tenant; kv are
// parameter names and values.
func (p *page) Link(name string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return p.View.link(name, q)
}

// Tenant is the tenant shown, "" for the single or system log.
func (p *page) Tenant() string {
	if p.View == nil {
		return ""
	}
	return p.View.tenant
}

// render executes page name into a buffer, then writes it with status.
func (h *handler) render(w http.ResponseWriter, r *http.Request, name string, p *page, status int) {
	p.AppTitle = h.opts.Title
	if h.tenants != nil && p.Tenants == nil && name != "login" {
		p.Tenants, _ = h.listTenants(r.Context(), p.Tenant(), false)
		if p.Tenants == nil {
			p.Tenants = []tenantItem{}
		}
	}
	var b bytes.Buffer
	if err := pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		slog.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// fail renders the error page for err.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, v *view, nav string, err error) {
	h.render(w, r, "error", &page{Title: "Error", Nav: nav, View: v, Error: err.Error()}, errStatus(err))
}

// serveAsset serves an embedded static file.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	b, err := assets.ReadFile("assets/static/" + name)
	if err != nil || name == "" || strings.Contains(name, "..") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(b)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

// ago is how long before now t was, rounded.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func fmtBytes(n any) string {
	var f float64
	switch v := n.(type) {
	case int64:
		f = float64(v)
	case uint64:
		f = float64(v)
	case int:
		f = float64(v)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", f)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// levelNames are the levels, in order, for the filters.
func levelNames() []string {
	var s []string
	for _, l := range treeoflife.Levels() {
		s = append(s, l.String())
	}
	return s
}
