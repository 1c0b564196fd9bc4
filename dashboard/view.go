package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/treeoflife/treeoflife"
)

// view is the log one request reads: the single log, or the system log or
// a tenant's of a tenants root. Release ends the lease on a tenant's log.
type view struct {
	log     Log
	live    liveLog // nil for a Reader
	tenant  string  // "" for the single log or the system log
	erased  bool    // the tenant's keys were erased: log is a Reader of its files
	release func()
}

// tenantRoot is a tenants root: this process's *treeoflife.Tenants, or a
// ReaderRoot.
type tenantRoot interface {
	List() ([]string, error)
	// open returns tenant id's log, "" for the system log.
	open(ctx context.Context, id string) (*view, error)
	// erased reports whether tenant id is known to be erased.
	erased(ctx context.Context, id string) bool
}

// tenantsRoot is this process's Tenants: it holds the keys.
type tenantsRoot struct{ t *treeoflife.Tenants }

func (r tenantsRoot) List() ([]string, error) { return r.t.List() }

func (r tenantsRoot) open(ctx context.Context, id string) (*view, error) {
	if id == "" {
		sys := r.t.System()
		return &view{log: sys, live: sys, release: func() {}}, nil
	}
	tl, err := r.t.Get(ctx, id)
	if errors.Is(err, treeoflife.ErrErased) {
		// The records cannot be decrypted any more; their sizes, levels
		// and chain still verify, read without a key.
		dir, derr := r.t.Dir(id)
		if derr != nil {
			return nil, derr
		}
		rd, rerr := treeoflife.OpenReader(dir)
		if rerr != nil {
			return nil, fmt.Errorf("tenant %q (erased): %w", id, rerr)
		}
		return &view{log: rd, tenant: id, erased: true, release: func() { rd.Close() }}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", id, err)
	}
	return &view{log: tl.ImmutableLogger, live: tl.ImmutableLogger, tenant: id, release: func() { tl.Close() }}, nil
}

func (r tenantsRoot) erased(ctx context.Context, id string) bool {
	tl, err := r.t.Get(ctx, id)
	if err == nil {
		tl.Close()
	}
	return errors.Is(err, treeoflife.ErrErased)
}

// List lists the tenants with a directory under the root.
func (r ReaderRoot) List() ([]string, error) {
	des, err := os.ReadDir(filepath.Join(string(r), "tenants"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, de := range des {
		if de.IsDir() && treeoflife.ValidateTenantID(de.Name()) == nil {
			ids = append(ids, de.Name())
		}
	}
	return ids, nil
}

func (r ReaderRoot) open(_ context.Context, id string) (*view, error) {
	dir := filepath.Join(string(r), "_system")
	if id != "" {
		dir = filepath.Join(string(r), "tenants", id)
	}
	rd, err := treeoflife.OpenReader(dir)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", id, err)
	}
	return &view{log: rd, tenant: id, release: func() { rd.Close() }}, nil
}

// erased is not known without the key.
func (r ReaderRoot) erased(context.Context, string) bool { return false }

// open resolves the request's tenant (the "tenant" parameter).
func (h *handler) open(ctx context.Context, r *http.Request) (*view, error) {
	id := r.URL.Query().Get("tenant")
	if h.tenants == nil {
		if id != "" {
			return nil, fmt.Errorf("%w: this log has no tenants", errBadInput)
		}
		v := &view{log: h.log, release: func() {}}
		v.live, _ = h.log.(liveLog)
		return v, nil
	}
	if id != "" {
		if err := treeoflife.ValidateTenantID(id); err != nil {
			return nil, fmt.Errorf("%w: %v", errBadInput, err)
		}
	}
	return h.tenants.open(ctx, id)
}

// link is a relative URL to page name with params, keeping the tenant.
func (v *view) link(name string, params url.Values) string {
	if params == nil {
		params = url.Values{}
	}
	if v != nil && v.tenant != "" {
		params.Set("tenant", v.tenant)
	}
	if name == "" {
		name = "./"
	}
	if len(params) == 0 {
		return name
	}
	return name + "?" + params.Encode()
}

// Erased reports whether the tenant shown is erased.
func (v *view) Erased() bool { return v != nil && v.erased }

// Live reports whether the log is this process's logger (not a Reader).
func (v *view) Live() bool { return v != nil && v.live != nil }

// tenantItem is one of the switcher's entries.
type tenantItem struct {
	ID       string
	Erased   bool
	Selected bool
}

// listTenants lists the tenants; with probe, it tells the erased ones,
// which opens each tenant's log (Tenants keeps a bounded number open).
func (h *handler) listTenants(ctx context.Context, current string, probe bool) ([]tenantItem, error) {
	ids, err := h.tenants.List()
	if err != nil {
		return nil, err
	}
	items := make([]tenantItem, 0, len(ids))
	for _, id := range ids {
		it := tenantItem{ID: id, Selected: id == current}
		if probe {
			it.Erased = h.tenants.erased(ctx, id)
		}
		items = append(items, it)
	}
	return items, nil
}
