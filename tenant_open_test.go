package treeoflife

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenPerTenant: Open(root, Options{Tenant: id}) opens id's own log
// under root, the one Tenants uses: several tenants at once in one process,
// after a restart too, each with its own chain, and mixed with Tenants.
func TestOpenPerTenant(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for round := 0; round < 2; round++ { // the second round is "after a restart"
		var wg sync.WaitGroup
		loggers := map[string]*ImmutableLogger{}
		for _, id := range []string{"t1", "t2", "customer-abc"} {
			l, err := Open(root, Options{Tenant: id})
			require.NoError(t, err, "round %d: tenant %s", round, id)
			require.Equal(t, filepath.Join(root, "tenants", id), l.Dir())
			require.Equal(t, id, l.Tenant())
			loggers[id] = l
		}
		for id, l := range loggers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					_, err := l.Audit("login", Fields{"tenant": id})
					require.NoError(t, err)
				}
			}()
		}
		wg.Wait()
		ids := map[string]bool{}
		for id, l := range loggers {
			require.Equal(t, uint64(5*(round+1)), l.Head().Size, "tenant %s has its own chain", id)
			ids[l.LogID()] = true
			es, err := l.Read(ctx, Filter{Limit: 100})
			require.NoError(t, err)
			for _, e := range es {
				require.Equal(t, id, e.Tenant)
				require.Equal(t, id, e.Metadata["tenant"])
			}
			require.NoError(t, l.Close())
		}
		require.Len(t, ids, 3, "a log ID per tenant")
	}

	// Tenants opens the same logs.
	ts := openTenantsT(t, root, Options{})
	tl, err := ts.Get(ctx, "t1")
	require.NoError(t, err)
	require.Equal(t, uint64(10), tl.Head().Size)
	_, err = tl.Info("from Tenants", nil)
	require.NoError(t, err)
	// One logger per tenant at a time: Tenants holds t1's lock.
	_, err = Open(root, Options{Tenant: "t1"})
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, tl.Close())
	require.NoError(t, ts.Close())
	l, err := Open(root, Options{Tenant: "t1"})
	require.NoError(t, err)
	require.Equal(t, uint64(11), l.Head().Size, "the chain Tenants continued")
	_, err = l.Verify(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestTenantIDsThatCollide: IDs that differ only in case would share a
// directory on a case-insensitive file system, and Windows device names
// are no directory at all: both are refused.
func TestTenantIDsThatCollide(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l, err := Open(root, Options{Tenant: "Acme"})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_, err = Open(root, Options{Tenant: "acme"})
	require.ErrorIs(t, err, ErrInvalidTenant)
	require.ErrorContains(t, err, `differs only in case from tenant "Acme"`)
	ts := openTenantsT(t, root, Options{})
	defer ts.Close()
	_, err = ts.Get(ctx, "ACME")
	require.ErrorIs(t, err, ErrInvalidTenant)
	tl, err := ts.Get(ctx, "Acme")
	require.NoError(t, err, "the tenant itself opens")
	require.NoError(t, tl.Close())

	for _, id := range []string{"con", "CON", "nul", "Nul.txt", "aux", "prn.log", "com1", "COM9", "lpt1", "lpt0.x", "a.", "x.y."} {
		require.ErrorIs(t, ValidateTenantID(id), ErrInvalidTenant, "%q", id)
		_, err := Open(root, Options{Tenant: id})
		require.ErrorIs(t, err, ErrInvalidTenant, "%q", id)
	}
	for _, id := range []string{"console", "com10", "nullable", "lpt", "auxiliary", "con-1", "a.b"} {
		require.NoError(t, ValidateTenantID(id), "%q", id)
	}
}

// TestOpenTenantInOldLayout: a tenant's log that Open made in the root
// itself, before tenants had their own directories, is still opened in
// place (with a warning), and another tenant there is refused with the way
// out.
func TestOpenTenantInOldLayout(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{Tenant: "acme"}) // the old layout: the log in dir itself
	_, err := l.Info("before", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	var logged bytes.Buffer
	l, err = Open(dir, Options{Tenant: "acme", Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	require.NoError(t, err)
	require.Equal(t, dir, l.Dir())
	require.Equal(t, uint64(1), l.Head().Size)
	require.NoError(t, l.Close())
	require.Contains(t, logged.String(), "level=WARN")
	require.Contains(t, logged.String(), "migration")

	_, err = Open(dir, Options{Tenant: "globex"})
	require.ErrorIs(t, err, ErrInvalidTenant)
	require.ErrorContains(t, err, `the log of tenant "acme"`)
	require.ErrorContains(t, err, "tenants/globex")
}
