package treeoflife

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/file"
)

// backupTarget is a sink under test plus what the shipper suite needs
// beyond the Sink interface: deleting an object, as an attacker or an
// accident would.
type backupTarget struct {
	sink   backup.Sink
	prefix string
	del    func(t *testing.T, key string)
}

func TestShipperFile(t *testing.T) {
	runShipperSuite(t, func(t *testing.T) backupTarget {
		dir := t.TempDir()
		s, err := file.New(context.Background(), file.Config{Dir: dir})
		require.NoError(t, err)
		return backupTarget{sink: s, prefix: "logs", del: func(t *testing.T, key string) {
			require.NoError(t, os.Remove(filepath.Join(dir, filepath.FromSlash(key))))
		}}
	})
}

func runShipperSuite(t *testing.T, newTarget func(t *testing.T) backupTarget) {
	ctx := context.Background()
	opts := func(tg backupTarget) Options {
		return Options{Backup: tg.sink, BackupPrefix: tg.prefix, BackupBatchSize: 100, SegmentSize: 32 << 10, Tenant: "acme"}
	}
	writeConcurrently := func(t *testing.T, l *ImmutableLogger, writers, per int) {
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					_, err := l.Revenue("payment", Fields{"w": w, "i": i, "amount": 100 + i})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}

	t.Run("ships under concurrent writes", func(t *testing.T) {
		tg := newTarget(t)
		dir := t.TempDir()
		l := openT(t, dir, opts(tg))
		writeConcurrently(t, l, 8, 125)
		require.NoError(t, l.SyncBackup(ctx))
		st := l.BackupStatus()
		require.True(t, st.Enabled)
		require.Equal(t, uint64(1000), st.Shipped)
		require.Zero(t, st.LagRecords)
		require.NoError(t, st.LastError)
		require.GreaterOrEqual(t, st.UploadedObjects, int64(10))
		cs, err := l.VerifyCloudBackup(ctx)
		require.NoError(t, err)
		require.Equal(t, CloudStatus{SyncStatus: "synced", SyncPercentage: 100, LocalBlocks: 1000, CloudBlocks: 1000}, cs)

		refs, err := listBatches(ctx, tg.sink, l.shipper.root)
		require.NoError(t, err)
		next := uint64(0)
		for _, r := range refs {
			require.Equal(t, next, r.first, "batches tile the log: no gap, no overlap, no duplicate")
			require.LessOrEqual(t, r.last-r.first+1, uint64(100))
			next = r.last + 1
		}
		require.Equal(t, uint64(1000), next)
		require.NoError(t, l.Close())
	})

	t.Run("resumes after restart without duplicates", func(t *testing.T) {
		tg := newTarget(t)
		dir := t.TempDir()
		for round := 0; round < 3; round++ {
			l := openT(t, dir, opts(tg))
			writeConcurrently(t, l, 4, 37)
			require.NoError(t, l.Close(), "Close ships what is left")
		}
		l := openT(t, dir, opts(tg))
		defer l.Close()
		require.Equal(t, uint64(3*4*37), l.BackupStatus().Shipped)
		cs, err := l.VerifyCloudBackup(ctx)
		require.NoError(t, err)
		require.Equal(t, "synced", cs.SyncStatus)
	})

	t.Run("detects missing and modified objects", func(t *testing.T) {
		tg := newTarget(t)
		l := openT(t, t.TempDir(), opts(tg))
		defer l.Close()
		writeConcurrently(t, l, 2, 250)
		require.NoError(t, l.SyncBackup(ctx))
		refs, err := listBatches(ctx, tg.sink, l.shipper.root)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(refs), 5)
		tg.del(t, refs[1].key)
		body, err := getObject(ctx, tg.sink, refs[3].key)
		require.NoError(t, err)
		body[len(body)-5] ^= 'x' ^ 'y'
		require.NoError(t, tg.sink.Put(ctx, refs[3].key, body, sha256.Sum256(body), backup.PutOptions{}))
		cs, err := l.VerifyCloudBackup(ctx)
		require.NoError(t, err)
		require.Equal(t, "out_of_sync", cs.SyncStatus)
		require.Equal(t, []SeqRange{{refs[1].first, refs[1].last}}, cs.Missing)
		require.Equal(t, []SeqRange{{refs[3].first, refs[3].last}}, cs.Mismatched)
		require.Equal(t, uint64(500), cs.LocalBlocks)
		require.Equal(t, 500-(refs[1].last-refs[1].first+1)-(refs[3].last-refs[3].first+1), cs.CloudBlocks)
		require.Less(t, cs.SyncPercentage, 100.0)
	})

	t.Run("restore after losing the machine", func(t *testing.T) {
		tg := newTarget(t)
		dir := t.TempDir()
		l := openT(t, dir, opts(tg))
		writeConcurrently(t, l, 4, 200)
		require.NoError(t, l.SyncBackup(ctx))
		head := l.Head()
		id := l.LogID()
		require.NoError(t, l.Close())
		require.NoError(t, os.RemoveAll(dir))

		restored := filepath.Join(t.TempDir(), "restored")
		got, err := RestoreFromCloud(ctx, tg.sink, restored, RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Parallel: 4})
		require.NoError(t, err)
		require.Equal(t, head, got)
		vh, err := VerifyDir(ctx, restored)
		require.NoError(t, err)
		require.Equal(t, head, vh)

		// The restored log continues the chain and the backup.
		l = openT(t, restored, opts(tg))
		require.Equal(t, id, l.LogID())
		rec, err := l.Audit("after restore", nil)
		require.NoError(t, err)
		require.Equal(t, head.Size, rec.Seq)
		require.NoError(t, l.SyncBackup(ctx))
		cs, err := l.VerifyCloudBackup(ctx)
		require.NoError(t, err)
		require.Equal(t, "synced", cs.SyncStatus)
		require.NoError(t, l.Close())

		// Restoring again into the complete copy is a no-op.
		again, err := RestoreFromCloud(ctx, tg.sink, restored, RestoreOptions{Prefix: tg.prefix, Tenant: "acme"})
		require.NoError(t, err)
		require.Equal(t, head.Size+1, again.Size)
	})

	t.Run("point in time", func(t *testing.T) {
		tg := newTarget(t)
		var mu sync.Mutex
		now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		o := opts(tg)
		o.Clock = func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second); return now }
		l := openT(t, t.TempDir(), o)
		var heads []Head
		var times []time.Time
		for i := 0; i < 350; i++ {
			rec, err := l.Info("tick", Fields{"i": i})
			require.NoError(t, err)
			times = append(times, rec.Time)
			heads = append(heads, l.Head())
		}
		require.NoError(t, l.Close())

		got, err := RestoreFromCloud(ctx, tg.sink, t.TempDir(), RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Records: 123})
		require.NoError(t, err)
		require.Equal(t, heads[122], got)

		dir := t.TempDir()
		got, err = RestoreFromCloud(ctx, tg.sink, dir, RestoreOptions{Prefix: tg.prefix, Tenant: "acme", UpToTime: times[200]})
		require.NoError(t, err)
		require.Equal(t, heads[200], got)
		_, err = os.Stat(filepath.Join(dir, backupCursorFile))
		require.ErrorIs(t, err, os.ErrNotExist, "a point-in-time copy does not inherit the backup")
	})

	t.Run("one shipper per log", func(t *testing.T) {
		tg := newTarget(t)
		dir := t.TempDir()
		l := openT(t, dir, opts(tg))
		_, err := l.Info("x", nil)
		require.NoError(t, err)
		require.NoError(t, l.SyncBackup(ctx))
		require.NoError(t, l.Close())
		// A copy of the directory is the same log; it must not ship to the
		// same place as the original.
		cp := t.TempDir()
		require.NoError(t, os.CopyFS(cp, os.DirFS(dir)))
		require.NoError(t, os.Remove(filepath.Join(cp, backupCursorFile)))
		require.NoError(t, os.Remove(filepath.Join(cp, lockFile)))
		_, err = Open(cp, opts(tg))
		require.ErrorIs(t, err, ErrBackupLeased)
	})
}
