package treeoflife

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/file"
)

// TestEraseIsFinalInTheBackup: after Tenants.Erase, the backup of the
// erased tenant holds nothing that the master key opens: every HEADER
// revision, the write-once first one included, wraps its data keys with
// the tenant key, which is gone from the local key store and the backup's.
// Another tenant's backup still restores and reads with the master key
// alone, and the system log holds a checkpointed record of the erasure.
func TestEraseIsFinalInTheBackup(t *testing.T) {
	sink, err := file.New(context.Background(), file.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	testEraseIsFinal(t, sink, "eu")
}

// testEraseIsFinal is TestEraseIsFinalInTheBackup with the backup in sink,
// under prefix (the tests of each store run it too).
func testEraseIsFinal(t *testing.T, sink backup.Sink, prefix string) {
	ctx := context.Background()
	other := prefix + "-elsewhere"
	master := testKey(7)
	root := t.TempDir()
	ts := openTenantsT(t, root, Options{EncryptionKey: master, Backup: sink, BackupPrefix: prefix})
	defer ts.Close()
	roots := map[string]string{}
	for _, id := range []string{"acme", "globex"} {
		tl, err := ts.Get(ctx, id)
		require.NoError(t, err)
		for i := 0; i < 25; i++ {
			_, err := tl.Revenue("invoice paid", Fields{"tenant": id, "i": i})
			require.NoError(t, err)
		}
		require.NoError(t, tl.SyncBackup(ctx))
		roots[id] = tl.backups.sinks[0].root
		require.NoError(t, tl.Close())
	}
	acmeKey := tenantKeyObject(prefix, "acme")
	_, err := sink.Stat(ctx, acmeKey)
	require.NoError(t, err, "the tenant key is in the backup's key store")
	kf, err := readTenantKey(root, "acme")
	require.NoError(t, err)
	require.NotNil(t, kf)

	require.NoError(t, ts.Erase(ctx, "acme"))

	// Gone from both key stores.
	_, err = os.Stat(tenantKeyPath(root, "acme"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = sink.Stat(ctx, acmeKey)
	require.ErrorIs(t, err, backup.ErrNotExist)

	// Every HEADER revision in the backup, read as an attacker with the
	// master key would: no data key unwraps.
	kr, err := NewKeyring(master)
	require.NoError(t, err)
	revs := headerRevisions(t, sink, roots["acme"])
	require.Equal(t, []uint64{0, 1}, revs, "the first revision is write-once and stays")
	for _, rev := range revs {
		rc, _, err := sink.Get(ctx, headerKey(roots["acme"], rev))
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		h, logID, err := parseHeader(b, "backup")
		require.NoError(t, err)
		for i := range h.Encryption.DataKeys {
			hk := h.Encryption.DataKeys[i]
			hk.ErasedAt = nil // even the entry that still holds its wrapped key
			if len(hk.Wrapped) == 0 {
				continue
			}
			_, err := unwrapDataKey(kr, logID, "acme", &hk)
			require.Error(t, err, "HEADER revision %d, data key %d opens with the master key", rev, hk.ID)
		}
	}

	// A restore with the master key reads no record of acme.
	_, err = RestoreBackup(ctx, sink, filepath.Join(t.TempDir(), "acme"), RestoreOptions{Prefix: prefix, Tenant: "acme", Log: Options{EncryptionKey: master}})
	require.Error(t, err)
	// The backup still verifies without any key.
	rep, err := VerifyBackup(ctx, sink, RestoreOptions{Prefix: prefix, Tenant: "acme"})
	require.NoError(t, err)
	require.Equal(t, uint64(25), rep.Head.Size)

	// globex is untouched: restored and read with the master key alone,
	// into a new Tenants root that fetches its tenant key from the backup.
	root2 := t.TempDir()
	_, err = RestoreBackup(ctx, sink, filepath.Join(root2, tenantsDir, "globex"), RestoreOptions{Prefix: prefix, Tenant: "globex", Log: Options{EncryptionKey: master}})
	require.NoError(t, err)
	ts2 := openTenantsT(t, root2, Options{EncryptionKey: master, Backup: sink, BackupPrefix: other})
	defer ts2.Close()
	_, err = ts2.Get(ctx, "globex")
	require.ErrorIs(t, err, ErrErased, "the key store of another prefix does not hold globex's key")
	require.NoError(t, ts2.Close())
	ts3 := openTenantsT(t, root2, Options{EncryptionKey: master, Backup: sink, BackupPrefix: prefix})
	defer ts3.Close()
	tl, err := ts3.Get(ctx, "globex")
	require.NoError(t, err)
	es, err := tl.Read(ctx, Filter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, es, 25)
	require.Equal(t, "globex", es[0].Metadata["tenant"])
	require.NoError(t, tl.Close())

	// The erasure record: which key, where it was destroyed, checkpointed.
	sys := ts.System()
	recs, err := sys.Read(ctx, Filter{Search: "tenant data keys erased"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	md := recs[0].Metadata
	require.Equal(t, kf.KeyID, md["tenantKeyId"])
	require.Equal(t, []any{"local", "backup"}, md["tenantKeyDestroyed"])
	require.Equal(t, sys.Head().Size, sys.Metrics().Checkpointed, "the record is covered by a checkpoint")
}

// flakyDeleter fails its first Delete, as a store that is briefly down.
type flakyDeleter struct {
	*file.Sink
	failed bool
}

func (f *flakyDeleter) Delete(ctx context.Context, key string) error {
	if !f.failed {
		f.failed = true
		return errors.New("store unavailable")
	}
	return f.Sink.Delete(ctx, key)
}

// TestEraseRetriesTheTenantKey: when the backup cannot delete the tenant
// key, Erase says so (and records it), and calling it again finishes.
func TestEraseRetriesTheTenantKey(t *testing.T) {
	ctx := context.Background()
	fs, err := file.New(ctx, file.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	sink := &flakyDeleter{Sink: fs}
	ts := openTenantsT(t, t.TempDir(), Options{EncryptionKey: testKey(8), Backup: sink, BackupPrefix: "p"})
	defer ts.Close()
	_, err = ts.Log(ctx, "acme", LevelAudit, "login", nil)
	require.NoError(t, err)
	err = ts.Erase(ctx, "acme")
	require.ErrorContains(t, err, "tenant key is not destroyed everywhere")
	_, err = fs.Stat(ctx, tenantKeyObject("p", "acme"))
	require.NoError(t, err, "still in the backup after the failed delete")
	require.NoError(t, ts.Erase(ctx, "acme"), "a second Erase finishes")
	_, err = fs.Stat(ctx, tenantKeyObject("p", "acme"))
	require.ErrorIs(t, err, backup.ErrNotExist)
	recs, err := ts.System().Read(ctx, Filter{Search: "tenant data keys erased"})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Contains(t, recs[0].Metadata["tenantKeyError"], "store unavailable")
	require.Equal(t, []any{"local", "backup"}, recs[1].Metadata["tenantKeyDestroyed"])
}

// TestEraseEverySink: with several backup sinks, a new tenant's key is put
// in each, and Erase destroys it in each and says so.
func TestEraseEverySink(t *testing.T) {
	ctx := context.Background()
	var sinks []backup.Sink
	for range 2 {
		s, err := file.New(ctx, file.Config{Dir: t.TempDir()})
		require.NoError(t, err)
		sinks = append(sinks, s)
	}
	ts := openTenantsT(t, t.TempDir(), Options{EncryptionKey: testKey(9), Backups: sinks, BackupPrefix: "p"})
	defer ts.Close()
	_, err := ts.Log(ctx, "acme", LevelAudit, "login", nil)
	require.NoError(t, err)
	key := tenantKeyObject("p", "acme")
	for _, s := range sinks {
		_, err := s.Stat(ctx, key)
		require.NoError(t, err, "the tenant key is in every sink")
	}
	require.NoError(t, ts.Erase(ctx, "acme"))
	for _, s := range sinks {
		_, err := s.Stat(ctx, key)
		require.ErrorIs(t, err, backup.ErrNotExist)
	}
	recs, err := ts.System().Read(ctx, Filter{Search: "tenant data keys erased"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	destroyed := recs[0].Metadata["tenantKeyDestroyed"].([]any)
	require.Len(t, destroyed, 3)
	require.Equal(t, "local", destroyed[0])
	require.Equal(t, "backup "+SinkName(0, sinks[0]), destroyed[1])
	require.Equal(t, "backup "+SinkName(1, sinks[1]), destroyed[2])
	require.Equal(t, true, recs[0].Metadata["backupHeaderUpdated"])
}
