package treeoflife

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openTenantsT(t *testing.T, root string, opts Options) *Tenants {
	t.Helper()
	ts, err := OpenTenants(root, opts)
	require.NoError(t, err)
	return ts
}

func TestValidateTenantID(t *testing.T) {
	for _, id := range []string{"acme", "Acme-Corp_2", "a", "a.b", "0", "tenant.eu-west-1", strings.Repeat("x", MaxTenantIDLen)} {
		assert.NoError(t, ValidateTenantID(id), id)
	}
	for _, id := range []string{
		"", ".", "..", "../../etc", "../x", "a/b", "/abs", `a\b`, "a..b", ".hidden", "-x", "_x",
		"a b", "a\x00b", "a\nb", "a\tb", "\x7f", "é", "ｆｕｌｌ", "a:b", "a*b", strings.Repeat("x", MaxTenantIDLen+1),
	} {
		err := ValidateTenantID(id)
		assert.ErrorIs(t, err, ErrInvalidTenant, "%q", id)
	}
}

func TestTenantPathTraversal(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	ts := openTenantsT(t, root, Options{})
	defer ts.Close()
	before, err := os.ReadDir(parent)
	require.NoError(t, err)
	ctx := context.Background()
	for _, id := range []string{"../../etc", "..", "../root2", "a/../../b", ".", ""} {
		_, err := ts.Get(ctx, id)
		require.ErrorIs(t, err, ErrInvalidTenant, "%q", id)
		_, err = ts.Log(ctx, id, LevelInfo, "x", nil)
		require.ErrorIs(t, err, ErrInvalidTenant, "%q", id)
		require.ErrorIs(t, ts.Erase(ctx, id), ErrInvalidTenant, "%q", id)
		_, err = ts.Dir(id)
		require.ErrorIs(t, err, ErrInvalidTenant, "%q", id)
		if id != "" {
			_, err = Open(filepath.Join(parent, "single"), Options{Tenant: id})
			require.ErrorIs(t, err, ErrInvalidTenant, "%q", id)
		}
	}
	after, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Equal(t, names(before), names(after), "nothing created outside the root")
	ids, err := ts.List()
	require.NoError(t, err)
	require.Empty(t, ids)
}

func names(des []os.DirEntry) []string {
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// TestTenantIsolation: several tenants written concurrently, with a pool
// smaller than the number of tenants so that loggers are evicted and
// reopened meanwhile. Each tenant's log holds exactly its own records, its
// own chain verifies, and its own data key seals it.
func TestTenantIsolation(t *testing.T) {
	root := t.TempDir()
	key := testKey(0x11)
	ts := openTenantsT(t, root, Options{EncryptionKey: key, MaxOpenTenants: 2, SegmentSize: 16 << 10})
	tenants := []string{"acme", "globex", "initech", "umbrella"}
	const writers, per = 3, 60
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, id := range tenants {
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					if i%2 == 0 {
						_, err := ts.Log(ctx, id, LevelAudit, "event for "+id, Fields{"tenant": id, "w": w, "i": i})
						if !assert.NoError(t, err) {
							return
						}
						continue
					}
					tl, err := ts.Get(ctx, id)
					if !assert.NoError(t, err) {
						return
					}
					assert.Equal(t, id, tl.Tenant())
					_, err = tl.Revenue("event for "+id, Fields{"tenant": id, "w": w, "i": i})
					assert.NoError(t, err)
					assert.NoError(t, tl.Close())
				}
			}()
		}
	}
	wg.Wait()
	require.LessOrEqual(t, ts.openCount(), 2, "idle loggers beyond MaxOpenTenants are closed")
	ids, err := ts.List()
	require.NoError(t, err)
	require.ElementsMatch(t, tenants, ids)
	require.NoError(t, ts.Close())

	logIDs := map[string]bool{}
	dataKeys := map[string]bool{}
	for _, id := range tenants {
		dir := filepath.Join(root, tenantsDir, id)
		_, err := VerifyDir(ctx, dir)
		require.NoError(t, err, id)
		h, _, err := readHeader(dir)
		require.NoError(t, err)
		require.Equal(t, id, h.Tenant)
		logIDs[h.LogID] = true
		dataKeys[string(h.Encryption.DataKeys[0].Wrapped)] = true

		_, err = openDir(dir, Options{EncryptionKey: key})
		require.ErrorIs(t, err, ErrWrongKey, "the master key alone does not open a tenant's data keys")
		l, err := Open(root, Options{Tenant: id, EncryptionKey: key}) // through the tenant's own key
		require.NoError(t, err)
		require.Equal(t, dir, l.Dir())
		require.Equal(t, id, l.Tenant())
		entries := openedEntries(t, l)
		require.Len(t, entries, writers*per, id)
		for _, e := range entries {
			require.Equal(t, id, e["tenantId"])
			require.Equal(t, "event for "+id, e["message"])
			require.Equal(t, id, e["metadata"].(map[string]any)["tenant"])
		}
		// A record of this tenant does not open in another tenant's log.
		other := filepath.Join(root, tenantsDir, tenants[0])
		if id != tenants[0] {
			fr := storedFrames(t, other)[0]
			_, err := l.openPayload(fr.Seq, fr.Payload, nil)
			require.ErrorIs(t, err, ErrDecrypt)
		}
		require.NoError(t, l.Close())
	}
	require.Len(t, logIDs, len(tenants), "a chain per tenant")
	require.Len(t, dataKeys, len(tenants), "a data key per tenant")
}

func TestTenantMismatch(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{Tenant: "acme"})
	rec, err := l.Info("x", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_ = rec
	_, err = Open(dir, Options{Tenant: "globex"})
	require.ErrorIs(t, err, ErrInvalidTenant)
	l = openT(t, dir, Options{})
	require.Equal(t, "acme", l.Tenant())
	_, err = l.Info("y", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	for _, e := range readAll(t, dir) {
		require.Equal(t, "acme", e["tenantId"])
	}

	plain := t.TempDir()
	l = openT(t, plain, Options{})
	require.NoError(t, l.Close())
	h, _, err := readHeader(plain)
	require.NoError(t, err)
	require.Equal(t, formatVersion, h.Version, "a log without tenant or key stays version 1")
	_, err = Open(plain, Options{Tenant: "acme"})
	require.ErrorIs(t, err, ErrInvalidTenant)
}

// TestTenantsLRU: many tenants through a small pool. Idle loggers are
// closed cleanly (a checkpoint), leased ones never, and a reopened tenant
// continues its chain.
func TestTenantsLRU(t *testing.T) {
	root := t.TempDir()
	ts := openTenantsT(t, root, Options{MaxOpenTenants: 3})
	defer ts.Close()
	ctx := context.Background()
	const n = 20
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			rec, err := ts.Log(ctx, fmt.Sprintf("t%02d", i), LevelInfo, "hello", Fields{"round": round})
			require.NoError(t, err)
			require.Equal(t, uint64(round), rec.Seq, "the chain continues after eviction")
			require.LessOrEqual(t, ts.openCount(), 3)
		}
	}
	// Evicted tenants were closed cleanly: their checkpoint holds both records.
	for i := 0; i < n-3; i++ {
		dir, err := ts.Dir(fmt.Sprintf("t%02d", i))
		require.NoError(t, err)
		_, id, err := readHeader(dir)
		require.NoError(t, err)
		cp, err := readCheckpoint(dir, id)
		require.NoError(t, err)
		require.NotNil(t, cp)
		require.Equal(t, uint64(2), cp.Size)
	}

	// Leased loggers are not evicted: the pool grows past its bound while
	// they are held, and shrinks back when they are closed.
	var held []*TenantLogger
	for i := 0; i < 5; i++ {
		tl, err := ts.Get(ctx, fmt.Sprintf("held%d", i))
		require.NoError(t, err)
		held = append(held, tl)
	}
	for i := 0; i < n; i++ {
		_, err := ts.Log(ctx, fmt.Sprintf("t%02d", i), LevelInfo, "churn", nil)
		require.NoError(t, err)
	}
	require.Equal(t, 5, ts.openCount())
	for _, tl := range held {
		_, err := tl.Info("still open", nil)
		require.NoError(t, err, "a leased logger is never closed under its holder")
	}
	same, err := ts.Get(ctx, "held0")
	require.NoError(t, err)
	require.Same(t, held[0].ImmutableLogger, same.ImmutableLogger, "one logger per tenant")
	require.NoError(t, same.Close())
	for _, tl := range held {
		require.NoError(t, tl.Close())
		require.ErrorIs(t, tl.Close(), ErrClosed)
	}
	require.Equal(t, 3, ts.openCount())
}

// TestTenantsConcurrentChurn: goroutines lease random tenants through a
// tiny pool; every record lands, in its tenant, under -race.
func TestTenantsConcurrentChurn(t *testing.T) {
	root := t.TempDir()
	ts := openTenantsT(t, root, Options{MaxOpenTenants: 2, Durability: DurabilityBuffered})
	ctx := context.Background()
	const workers, per, tenants = 8, 40, 6
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				id := fmt.Sprintf("c%d", (w*7+i)%tenants)
				tl, err := ts.Get(ctx, id)
				if !assert.NoError(t, err) {
					return
				}
				_, err = tl.Info("churn", Fields{"w": w, "i": i})
				assert.NoError(t, err)
				assert.NoError(t, tl.Close())
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, ts.Close())
	total := 0
	for i := 0; i < tenants; i++ {
		dir := filepath.Join(root, tenantsDir, fmt.Sprintf("c%d", i))
		h, err := VerifyDir(ctx, dir)
		require.NoError(t, err)
		for _, e := range readAll(t, dir) {
			require.Equal(t, fmt.Sprintf("c%d", i), e["tenantId"])
		}
		total += int(h.Head.Size)
	}
	require.Equal(t, workers*per, total)
	_, err := ts.Get(ctx, "c0")
	require.ErrorIs(t, err, ErrClosed)
}

// systemEntries decrypts the system log's records.
func systemEntries(t *testing.T, ts *Tenants) []map[string]any {
	t.Helper()
	require.NoError(t, ts.sys.Sync(context.Background()))
	return openedEntries(t, ts.sys)
}

func TestTenantErase(t *testing.T) {
	const secret = "Patient-Record-4471"
	root := t.TempDir()
	key := testKey(0x33)
	ctx := context.Background()
	ts := openTenantsT(t, root, Options{EncryptionKey: key, SegmentSize: MinSegmentSize})
	for i := 0; i < 80; i++ {
		_, err := ts.Log(ctx, "acme", LevelAudit, "record "+secret, Fields{"i": i})
		require.NoError(t, err)
		_, err = ts.Log(ctx, "globex", LevelInfo, "kept", Fields{"i": i})
		require.NoError(t, err)
	}
	acmeDir, err := ts.Dir("acme")
	require.NoError(t, err)

	// Erase waits for leases: with one held and a context that has ended,
	// it gives up and changes nothing.
	tl, err := ts.Get(ctx, "acme")
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, ts.Erase(cancelled, "acme"), context.Canceled)
	_, err = tl.Info("still writable", nil)
	require.NoError(t, err)

	// With a lease held, Erase waits; meanwhile Get refuses the tenant.
	done := make(chan error, 1)
	go func() { done <- ts.Erase(ctx, "acme") }()
	for !ts.isErasing("acme") {
		runtime.Gosched()
	}
	_, err = ts.Get(ctx, "acme")
	require.ErrorIs(t, err, ErrErased)
	require.NoError(t, tl.Close())
	require.NoError(t, <-done)

	// The chain still verifies, without a key.
	head, err := VerifyDir(ctx, acmeDir)
	require.NoError(t, err)
	require.Equal(t, uint64(81), head.Head.Size)
	// The records no longer decrypt: no data key is left.
	_, err = ts.Get(ctx, "acme")
	require.ErrorIs(t, err, ErrErased)
	_, err = Open(acmeDir, Options{EncryptionKey: key})
	require.ErrorIs(t, err, ErrErased)
	_, err = Open(acmeDir, Options{})
	require.ErrorIs(t, err, ErrErased)
	h, _, err := readHeader(acmeDir)
	require.NoError(t, err)
	for _, k := range h.Encryption.DataKeys {
		require.Empty(t, k.Wrapped)
		require.NotNil(t, k.ErasedAt)
	}
	hb, err := os.ReadFile(filepath.Join(acmeDir, headerFile))
	require.NoError(t, err)
	require.NotContains(t, string(hb), "wrapped")
	fi, err := os.Stat(filepath.Join(acmeDir, headerFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o444), fi.Mode().Perm())

	// The erasure is in the system log, with the head that was verified.
	var started, erased map[string]any
	for _, e := range systemEntries(t, ts) {
		require.Equal(t, "AUDIT", e["level"])
		switch e["message"] {
		case "tenant erasure started":
			started = e["metadata"].(map[string]any)
		case "tenant data keys erased":
			erased = e["metadata"].(map[string]any)
		}
	}
	require.NotNil(t, started)
	require.NotNil(t, erased)
	assert.Equal(t, "acme", erased["tenantId"])
	assert.Equal(t, h.LogID, erased["logId"])
	assert.EqualValues(t, 81, erased["size"])
	assert.Equal(t, head.Head.Chain.String(), erased["chain"])
	assert.Equal(t, head.Head.Root.String(), erased["root"])
	assert.Equal(t, true, erased["verified"])
	assert.Equal(t, []any{float64(1)}, erased["dataKeysErased"])
	_, err = VerifyDir(ctx, filepath.Join(root, systemDir))
	require.NoError(t, err)

	// Another tenant is untouched.
	g, err := ts.Get(ctx, "globex")
	require.NoError(t, err)
	require.Len(t, openedEntries(t, g.ImmutableLogger), 80)
	require.NoError(t, g.Close())

	// Erasing again changes nothing but is recorded again.
	require.NoError(t, ts.Erase(ctx, "acme"))
	n := 0
	for _, e := range systemEntries(t, ts) {
		if e["message"] == "tenant data keys erased" {
			n++
		}
	}
	require.Equal(t, 2, n)
	require.ErrorIs(t, ts.Erase(ctx, "nobody"), os.ErrNotExist)
	require.NoError(t, ts.Close())

	// After a restart the tenant stays erased.
	ts = openTenantsT(t, root, Options{EncryptionKey: key})
	defer ts.Close()
	_, err = ts.Get(ctx, "acme")
	require.ErrorIs(t, err, ErrErased)
	ids, err := ts.List()
	require.NoError(t, err)
	require.Equal(t, []string{"acme", "globex"}, ids)
}

func (t *Tenants) isErasing(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.erasing[id]
}

func TestTenantEraseNeedsEncryption(t *testing.T) {
	ts := openTenantsT(t, t.TempDir(), Options{})
	defer ts.Close()
	_, err := ts.Log(context.Background(), "acme", LevelInfo, "x", nil)
	require.NoError(t, err)
	require.ErrorContains(t, ts.Erase(context.Background(), "acme"), "not encrypted")
}

// TestTenantsPassphrase: the passphrase is derived once, with the salt in
// the system log's HEADER; tenants share the derived master key.
func TestTenantsPassphrase(t *testing.T) {
	cheapScrypt(t)
	root := t.TempDir()
	ctx := context.Background()
	ts := openTenantsT(t, root, Options{Passphrase: "s3cret"})
	for _, id := range []string{"a", "b"} {
		_, err := ts.Log(ctx, id, LevelInfo, "hi "+id, nil)
		require.NoError(t, err)
	}
	require.NoError(t, ts.Close())
	sysHeader, _, err := readHeader(filepath.Join(root, systemDir))
	require.NoError(t, err)
	require.NotNil(t, sysHeader.Encryption.KDF)
	master := sysHeader.Encryption.DataKeys[0].MasterKeyID
	for _, id := range []string{"a", "b"} {
		h, _, err := readHeader(filepath.Join(root, tenantsDir, id))
		require.NoError(t, err)
		require.Nil(t, h.Encryption.KDF, "no salt per tenant")
		kf, err := readTenantKey(root, id)
		require.NoError(t, err)
		require.Equal(t, master, kf.MasterKeyID, "the tenant key is wrapped by the master key")
		require.Equal(t, kf.KeyID, h.Encryption.DataKeys[0].MasterKeyID, "the data key by the tenant key")
	}
	_, err = OpenTenants(root, Options{Passphrase: "wrong"})
	require.ErrorIs(t, err, ErrWrongKey)
	ts = openTenantsT(t, root, Options{Passphrase: "s3cret"})
	defer ts.Close()
	tl, err := ts.Get(ctx, "b")
	require.NoError(t, err)
	entries := openedEntries(t, tl.ImmutableLogger)
	require.Len(t, entries, 1)
	require.Equal(t, "hi b", entries[0]["message"])
	require.NoError(t, tl.Close())
	_, err = OpenTenants(t.TempDir(), Options{Tenant: "x"})
	require.ErrorIs(t, err, ErrInvalidOptions)
}
