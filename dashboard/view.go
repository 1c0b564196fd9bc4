package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/treeoflife/treeoflife"
)

// view is the log one request reads: the single log, or the system log or
// a tenant's of a TenantRoot. Release ends the lease on a tenant's log.
type view struct {
	log     Log
	live    liveLog // nil for a Reader
	tenant  string  // "" for the single log or the system log
	erased  bool    // the tenant's keys were erased: log is a Reader of its files
	release func()
}

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
	if id == "" {
		sys := h.tenants.System()
		return &view{log: sys, live: sys, release: func() {}}, nil
	}
	if err := treeoflife.ValidateTenantID(id); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadInput, err)
	}
	tl, err := h.tenants.Get(ctx, id)
	if errors.Is(err, treeoflife.ErrErased) {
		// The records cannot be decrypted any more; their sizes, levels
		// and chain still verify, read without a key.
		dir, derr := h.tenants.Dir(id)
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

// tenantList is the switcher's entries.
type tenantItem struct {
	ID       string
	Erased   bool
	Selected bool
}

// listTenants lists the tenants, with the erased ones marked. Telling
// them apart opens each tenant's log (Tenants keeps a bounded number open).
func (h *handler) listTenants(ctx context.Context, current string, probe bool) ([]tenantItem, error) {
	ids, err := h.tenants.List()
	if err != nil {
		return nil, err
	}
	items := make([]tenantItem, 0, len(ids))
	for _, id := range ids {
		it := tenantItem{ID: id, Selected: id == current}
		if probe {
			tl, err := h.tenants.Get(ctx, id)
			switch {
			case errors.Is(err, treeoflife.ErrErased):
				it.Erased = true
			case err == nil:
				tl.Close()
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// Erased reports whether the tenant shown is erased.
func (v *view) Erased() bool { return v != nil && v.erased }

// Live reports whether the log is this process's logger (not a Reader).
func (v *view) Live() bool { return v != nil && v.live != nil }
