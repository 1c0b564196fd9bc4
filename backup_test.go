package treeoflife

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// headerRevisions lists the HEADER revisions in the backup at root.
func headerRevisions(t *testing.T, sink backup.Sink, root string) []uint64 {
	t.Helper()
	var revs []uint64
	for info, err := range sink.List(context.Background(), root+"headers/") {
		require.NoError(t, err)
		r, ok := parseHeaderKey(root, info.Key)
		require.True(t, ok, info.Key)
		revs = append(revs, r)
	}
	return revs
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
		cs, err := l.VerifyBackup(ctx)
		require.NoError(t, err)
		require.Equal(t, &BackupReport{Sink: SinkName(0, tg.sink), Synced: true, SyncPercentage: 100, LocalRecords: 1000, BackupRecords: 1000}, cs.Backup)

		refs, err := listBatches(ctx, tg.sink, l.backups.sinks[0].root)
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
		cs, err := l.VerifyBackup(ctx)
		require.NoError(t, err)
		require.True(t, cs.Backup.Synced)
	})

	t.Run("detects missing and modified objects", func(t *testing.T) {
		tg := newTarget(t)
		l := openT(t, t.TempDir(), opts(tg))
		defer l.Close()
		writeConcurrently(t, l, 2, 250)
		require.NoError(t, l.SyncBackup(ctx))
		refs, err := listBatches(ctx, tg.sink, l.backups.sinks[0].root)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(refs), 5)
		tg.del(t, refs[1].key)
		body, err := getObject(ctx, tg.sink, refs[3].key)
		require.NoError(t, err)
		body[len(body)-5] ^= 'x' ^ 'y'
		require.NoError(t, tg.sink.Put(ctx, refs[3].key, body, sha256.Sum256(body), backup.PutOptions{}))
		cs, err := l.VerifyBackup(ctx)
		var te *TamperError
		require.ErrorAs(t, err, &te, "a hole before later batches is tampering")
		require.Equal(t, refs[2].key, te.Segment)
		require.Equal(t, refs[1].first, te.Seq)
		require.False(t, cs.Backup.Synced)
		require.Equal(t, []SeqRange{{refs[1].first, refs[1].last}}, cs.Backup.Missing)
		require.Equal(t, []SeqRange{{refs[3].first, refs[3].last}}, cs.Backup.Mismatched)
		require.Equal(t, uint64(500), cs.Backup.LocalRecords)
		require.Equal(t, 500-(refs[1].last-refs[1].first+1)-(refs[3].last-refs[3].first+1), cs.Backup.BackupRecords)
		require.Less(t, cs.Backup.SyncPercentage, 100.0)
	})

	t.Run("signed checkpoints anchor the backup", func(t *testing.T) {
		tg := newTarget(t)
		signer, vs, _ := newTestSigner(t, "backup-suite")
		o := opts(tg)
		o.Signer, o.CheckpointInterval = signer, 10*time.Millisecond
		l := openT(t, t.TempDir(), o)
		writeConcurrently(t, l, 4, 150)
		require.NoError(t, l.SyncBackup(ctx))
		saved, err := l.Checkpoint(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		root := l.backups.sinks[0].root

		ropts := RestoreOptions{Prefix: tg.prefix, Tenant: "acme"}
		rep, err := VerifyBackupWith(ctx, tg.sink, ropts, VerifyOptions{Verifiers: vs, RequireSigned: true})
		require.NoError(t, err, "every record of the backup is under a checkpoint the logger signed")
		require.Equal(t, uint64(600), rep.Anchored)
		require.True(t, rep.Checkpoints[0].Trusted)

		// A writer of the bucket removes the newest batch and every
		// checkpoint that covers it: only an anchor kept elsewhere tells.
		refs, err := listBatches(ctx, tg.sink, root)
		require.NoError(t, err)
		last := refs[len(refs)-1]
		tg.del(t, last.key)
		for info, err := range tg.sink.List(ctx, root+"checkpoints/") {
			require.NoError(t, err)
			if n, err := strconv.ParseUint(strings.TrimPrefix(info.Key, root+"checkpoints/"), 10, 64); err == nil && n > last.first {
				tg.del(t, info.Key)
			}
		}
		h, err := VerifyBackup(ctx, tg.sink, ropts)
		require.NoError(t, err, "the backup alone cannot tell")
		require.Equal(t, last.first, h.Head.Size)
		_, err = VerifyBackupWith(ctx, tg.sink, ropts, VerifyOptions{Verifiers: vs, Anchors: []Anchor{AnchorFile(saveFile(t, saved))}})
		require.ErrorIs(t, err, ErrTampered)
		require.ErrorContains(t, err, "batches removed from the end")
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
		got, err := RestoreBackup(ctx, tg.sink, restored, RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Parallel: 4})
		require.NoError(t, err)
		require.Equal(t, head, got)
		vh, err := VerifyDir(ctx, restored)
		require.NoError(t, err)
		require.Equal(t, head, vh.Head)

		// The restored log continues the chain and the backup.
		l = openT(t, restored, opts(tg))
		require.Equal(t, id, l.LogID())
		rec, err := l.Audit("after restore", nil)
		require.NoError(t, err)
		require.Equal(t, head.Size, rec.Seq)
		require.NoError(t, l.SyncBackup(ctx))
		cs, err := l.VerifyBackup(ctx)
		require.NoError(t, err)
		require.True(t, cs.Backup.Synced)
		require.NoError(t, l.Close())

		// Restoring again into the complete copy is a no-op.
		again, err := RestoreBackup(ctx, tg.sink, restored, RestoreOptions{Prefix: tg.prefix, Tenant: "acme"})
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

		got, err := RestoreBackup(ctx, tg.sink, t.TempDir(), RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Records: 123})
		require.NoError(t, err)
		require.Equal(t, heads[122], got)

		dir := t.TempDir()
		got, err = RestoreBackup(ctx, tg.sink, dir, RestoreOptions{Prefix: tg.prefix, Tenant: "acme", UpToTime: times[200]})
		require.NoError(t, err)
		require.Equal(t, heads[200], got)
		_, err = os.Stat(filepath.Join(dir, backupCursorFile))
		require.ErrorIs(t, err, os.ErrNotExist, "a point-in-time copy does not inherit the backup")
	})

	t.Run("encrypted: every HEADER revision ships before its records", func(t *testing.T) {
		tg := newTarget(t)
		dir := t.TempDir()
		var mu sync.Mutex
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		o := opts(tg)
		o.EncryptionKey = testKey(7)
		o.Clock = func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second); return now }
		l := openT(t, dir, o)
		var times []time.Time
		var heads []Head
		write := func(n int) {
			for i := 0; i < n; i++ {
				rec, err := l.Info("tick", Fields{"i": len(times)})
				require.NoError(t, err)
				times = append(times, rec.Time)
				heads = append(heads, l.Head())
			}
		}
		write(150)
		// Revision 0 ships when the shipper connects, in the background
		// after Open: under load that could come after the rotation.
		waitFor(t, l, func(st BackupStatus) bool { return st.Connected })
		require.NoError(t, l.RotateDataKey(ctx)) // HEADER revision 1, while shipping
		write(150)
		require.NoError(t, l.SyncBackup(ctx))
		root := l.backups.sinks[0].root
		require.NoError(t, l.Close())
		require.Equal(t, []uint64{0, 1}, headerRevisions(t, tg.sink, root))

		// Reopening used to fail: the backup's HEADER differed from the
		// local one. A master key rotation adds revision 2.
		kr, err := NewKeyring(testKey(8), testKey(7))
		require.NoError(t, err)
		o.Keys, o.EncryptionKey = kr, nil
		l = openT(t, dir, o)
		write(50)
		require.NoError(t, l.Close())
		require.Equal(t, []uint64{0, 1, 2}, headerRevisions(t, tg.sink, root))

		// A restore takes the newest revision, decrypts with both keys, and
		// finds entry times inside sealed records for a point-in-time cut.
		restored := t.TempDir()
		got, err := RestoreBackup(ctx, tg.sink, restored, RestoreOptions{Prefix: tg.prefix, Tenant: "acme", UpToTime: times[320], Log: Options{Keys: o.Keys}})
		require.NoError(t, err)
		require.Equal(t, heads[320], got)
		r := openT(t, restored, Options{Keys: o.Keys})
		es, err := r.Read(ctx, Filter{FromSeq: 140, ToSeq: 160})
		require.NoError(t, err)
		require.Len(t, es, 20)
		for i, e := range es {
			require.Equal(t, float64(140+i), e.Metadata["i"], "records sealed under data keys 1 and 2 decrypt")
		}
		require.NoError(t, r.Close())
	})

	t.Run("an auditor verifies the backup without a key", func(t *testing.T) {
		tg := newTarget(t)
		o := opts(tg)
		o.EncryptionKey = testKey(9)
		l := openT(t, t.TempDir(), o)
		writeConcurrently(t, l, 3, 100)
		require.NoError(t, l.Close()) // ships the rest and a final checkpoint
		want := l.Head()
		ro := RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Parallel: 3}
		got, err := VerifyBackup(ctx, tg.sink, ro)
		require.NoError(t, err)
		require.Equal(t, want, got.Head)
		ro.Records = 150
		got, err = VerifyBackup(ctx, tg.sink, ro)
		require.NoError(t, err)
		require.Equal(t, uint64(150), got.Head.Size)
		ro.Records = 0

		root := l.backups.sinks[0].root
		refs, err := listBatches(ctx, tg.sink, root)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(refs), 3)
		var te *TamperError

		// A checkpoint that disagrees with the batches.
		lie := formatCheckpoint(l.logID, Head{Size: want.Size, Chain: Hash{1}, Root: want.Root})
		cpKey := fmt.Sprintf("%scheckpoints/%020d", root, want.Size)
		require.NoError(t, tg.sink.Put(ctx, cpKey, lie, sha256.Sum256(lie), backup.PutOptions{}))
		_, err = VerifyBackup(ctx, tg.sink, ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, cpKey, te.Segment)
		_, err = RestoreBackup(ctx, tg.sink, t.TempDir(), RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Log: Options{EncryptionKey: testKey(9)}})
		require.ErrorAs(t, err, &te)
		require.Equal(t, cpKey, te.Segment)

		// The batches' tail gone: the checkpoints still count it.
		require.NoError(t, tg.sink.Put(ctx, cpKey, formatCheckpoint(l.logID, want), sha256.Sum256(formatCheckpoint(l.logID, want)), backup.PutOptions{}))
		got, err = VerifyBackup(ctx, tg.sink, ro)
		require.NoError(t, err)
		require.Equal(t, want, got.Head)
		lastRef := refs[len(refs)-1]
		lastBody, err := getObject(ctx, tg.sink, lastRef.key)
		require.NoError(t, err)
		tg.del(t, lastRef.key)
		_, err = VerifyBackup(ctx, tg.sink, ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, cpKey, te.Segment)
		require.Equal(t, lastRef.first, te.Seq)
		_, err = RestoreBackup(ctx, tg.sink, t.TempDir(), RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Log: Options{EncryptionKey: testKey(9)}})
		require.ErrorAs(t, err, &te)
		require.Equal(t, cpKey, te.Segment)
		got, err = VerifyBackup(ctx, tg.sink, RestoreOptions{Prefix: tg.prefix, Tenant: "acme", Records: lastRef.first})
		require.NoError(t, err, "a prefix that ends before the loss verifies")
		require.Equal(t, lastRef.first, got.Head.Size)
		require.NoError(t, tg.sink.Put(ctx, lastRef.key, lastBody, sha256.Sum256(lastBody), backup.PutOptions{}))

		// A sealed record changed in a batch: found without decrypting.
		body, err := getObject(ctx, tg.sink, refs[1].key)
		require.NoError(t, err)
		body[frameHeaderSize+40] ^= 1
		require.NoError(t, tg.sink.Put(ctx, refs[1].key, body, sha256.Sum256(body), backup.PutOptions{}))
		_, err = VerifyBackup(ctx, tg.sink, ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, refs[1].key, te.Segment)
		require.Equal(t, refs[1].first, te.Seq)

		// A batch gone.
		tg.del(t, refs[1].key)
		_, err = VerifyBackup(ctx, tg.sink, ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, refs[1].first, te.Seq)
	})

	t.Run("overlapping, foreign and junk objects", func(t *testing.T) {
		tg := newTarget(t)
		l := openT(t, t.TempDir(), opts(tg))
		defer l.Close()
		for i := 0; i < 300; i++ {
			_, err := l.Info("tick", Fields{"i": i})
			require.NoError(t, err)
		}
		require.NoError(t, l.SyncBackup(ctx))
		root := l.backups.sinks[0].root
		refs, err := listBatches(ctx, tg.sink, root)
		require.NoError(t, err)
		have := map[string]bool{}
		frames := map[uint64][]byte{} // each record's frame, as the tiling holds it
		for _, r := range refs {
			have[r.key] = true
			body, err := getObject(ctx, tg.sink, r.key)
			require.NoError(t, err)
			require.NoError(t, walkBatch(body, func(fr *frame) error {
				frames[fr.Seq] = body[fr.Offset : fr.Offset+frameHeaderSize+int64(len(fr.Payload))]
				return nil
			}))
		}
		batch := func(first, last uint64) (string, []byte) {
			key := batchKey(root, first, last)
			require.False(t, have[key], "%s is one of the shipped batches", key)
			var body []byte
			for seq := first; seq <= last; seq++ {
				body = append(body, frames[seq]...)
			}
			return key, body
		}
		put := func(key string, body []byte) {
			require.NoError(t, tg.sink.Put(ctx, key, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true}))
		}
		ro := RestoreOptions{Prefix: tg.prefix, Tenant: "acme"}
		var te *TamperError

		// The same records shipped twice with other bounds (a failed
		// upload retried after a restart): reported, not refused.
		a, body := batch(0, 48)
		put(a, body)
		b, body := batch(121, 218)
		put(b, body)
		cs, err := l.VerifyBackup(ctx)
		require.NoError(t, err)
		require.Equal(t, &BackupReport{Sink: SinkName(0, tg.sink), Synced: true, SyncPercentage: 100, LocalRecords: 300, BackupRecords: 300, Redundant: []string{a, b}}, cs.Backup)
		require.Equal(t, []string{a, b}, cs.Redundant)
		rep, err := VerifyBackupWith(ctx, tg.sink, ro, VerifyOptions{})
		require.NoError(t, err)
		require.Equal(t, l.Head(), rep.Head)
		require.Equal(t, []string{a, b}, rep.Redundant)
		got, err := RestoreBackup(ctx, tg.sink, t.TempDir(), ro)
		require.NoError(t, err)
		require.Equal(t, l.Head(), got)

		// More records than the backup holds.
		beyond := ro
		beyond.Records = 301
		_, err = VerifyBackup(ctx, tg.sink, beyond)
		require.ErrorIs(t, err, ErrBeyondBackup)
		require.ErrorContains(t, err, "the backup holds 300 records (seq 0 to 299)")
		got, err = RestoreBackup(ctx, tg.sink, t.TempDir(), beyond)
		require.ErrorIs(t, err, ErrBeyondBackup)
		require.Equal(t, l.Head(), got, "what the backup holds is restored")

		// An overlapping batch whose frames differ is tampering.
		c, body := batch(200, 249)
		body[len(body)-3] ^= 1
		put(c, body)
		_, err = VerifyBackup(ctx, tg.sink, ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, c, te.Segment)
		_, err = RestoreBackup(ctx, tg.sink, t.TempDir(), ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, c, te.Segment)
		cs, err = l.VerifyBackup(ctx)
		require.ErrorAs(t, err, &te)
		require.Equal(t, c, te.Segment)
		require.False(t, cs.Backup.Synced)
		require.Equal(t, []SeqRange{{200, 249}}, cs.Backup.Mismatched)
		tg.del(t, c)

		// A batch after the end of the local log.
		f := batchKey(root, 300, 300)
		put(f, frames[299])
		cs, err = l.VerifyBackup(ctx)
		require.ErrorAs(t, err, &te)
		require.Equal(t, f, te.Segment)
		require.False(t, cs.Backup.Synced)
		require.Equal(t, []string{f}, cs.Backup.Foreign)
		require.Equal(t, uint64(300), cs.Backup.BackupRecords)
		_, err = VerifyBackup(ctx, tg.sink, ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, f, te.Segment)
		tg.del(t, f)

		// A name the format does not give, under the log's root.
		j := root + "notes/readme"
		put(j, []byte("not a batch"))
		cs, err = l.VerifyBackup(ctx)
		require.ErrorAs(t, err, &te)
		require.Equal(t, j, te.Segment)
		require.False(t, cs.Backup.Synced)
		require.Equal(t, []string{j}, cs.Backup.Junk)
		_, err = VerifyBackup(ctx, tg.sink, ro)
		require.ErrorAs(t, err, &te)
		require.Equal(t, j, te.Segment)
		got, err = RestoreBackup(ctx, tg.sink, t.TempDir(), ro)
		require.NoError(t, err, "a stray object does not block a restore")
		require.Equal(t, l.Head(), got)
	})

	t.Run("one shipper per log", func(t *testing.T) {
		tg := newTarget(t)
		dir := t.TempDir()
		l := openT(t, dir, opts(tg))
		_, err := l.Info("x", nil)
		require.NoError(t, err)
		require.NoError(t, l.SyncBackup(ctx))
		// A copy of the directory, its BACKUP cursor included, is the same
		// log; while the original runs it must not ship to the same place.
		c, err := Open(copyLiveDir(t, dir), opts(tg))
		require.NoError(t, err, "Open does not wait for the store")
		_, err = c.Info("only in the copy", nil)
		require.NoError(t, err)
		require.ErrorIs(t, c.SyncBackup(ctx), ErrBackupLeased)
		st := c.BackupStatus()
		require.ErrorIs(t, st.LastError, ErrBackupLeased)
		require.False(t, st.Connected)
		require.ErrorIs(t, c.Close(), ErrBackupLeased)

		_, err = l.Info("y", nil)
		require.NoError(t, err)
		require.NoError(t, l.SyncBackup(ctx))
		require.NoError(t, l.Close())
		// Closed, the original released its lease: reopened, the directory
		// takes it at once.
		l = openT(t, dir, opts(tg))
		require.NoError(t, l.SyncBackup(ctx))
		require.True(t, l.BackupStatus().Connected)
		require.NoError(t, l.Close())

		// Another log (another replica of the service) may share the
		// prefix: its objects are under its own log ID.
		other := openT(t, t.TempDir(), opts(tg))
		_, err = other.Info("y", nil)
		require.NoError(t, err)
		require.NoError(t, other.SyncBackup(ctx))
		require.NoError(t, other.Close())
		_, err = VerifyBackup(ctx, tg.sink, RestoreOptions{Prefix: tg.prefix, Tenant: "acme"})
		require.ErrorContains(t, err, "set RestoreOptions.LogID")
		for _, want := range []*ImmutableLogger{l, other} {
			got, err := VerifyBackup(ctx, tg.sink, RestoreOptions{Prefix: tg.prefix, Tenant: "acme", LogID: want.LogID()})
			require.NoError(t, err)
			require.Equal(t, want.Head(), got.Head)
		}
	})
}

func TestTenantEraseReachesBackup(t *testing.T) {
	ctx := context.Background()
	sink, err := file.New(ctx, file.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	ts := openTenantsT(t, t.TempDir(), Options{EncryptionKey: testKey(3), Backup: sink, BackupPrefix: "t"})
	defer ts.Close()
	tl, err := ts.Get(ctx, "acme")
	require.NoError(t, err)
	_, err = tl.Audit("login", Fields{"user": "ann"})
	require.NoError(t, err)
	require.NoError(t, tl.SyncBackup(ctx))
	root := tl.backups.sinks[0].root
	require.NoError(t, tl.Close())

	// Before the erasure, the backup restores readable records.
	_, err = RestoreBackup(ctx, sink, t.TempDir(), RestoreOptions{Prefix: "t", Tenant: "acme", Log: Options{EncryptionKey: testKey(3)}})
	require.NoError(t, err)

	require.NoError(t, ts.Erase(ctx, "acme"))
	require.Equal(t, []uint64{0, 1}, headerRevisions(t, sink, root))
	hb, err := latestHeader(ctx, sink, root)
	require.NoError(t, err)
	h, _, err := parseHeader(hb, "backup")
	require.NoError(t, err)
	require.True(t, erasedAll(h.Encryption), "the backup's newest HEADER holds no wrapped key")

	_, err = RestoreBackup(ctx, sink, t.TempDir(), RestoreOptions{Prefix: "t", Tenant: "acme", Log: Options{EncryptionKey: testKey(3)}})
	require.ErrorIs(t, err, ErrErased)
	sys, err := ts.System().Read(ctx, Filter{Search: "tenant data keys erased"})
	require.NoError(t, err)
	require.Len(t, sys, 1)
	require.Equal(t, true, sys[0].Metadata["backupHeaderUpdated"])
}

func TestTileBatches(t *testing.T) {
	for _, tc := range []struct {
		name             string
		refs             [][2]uint64
		tiles, redundant []string
	}{
		{"tiled", [][2]uint64{{0, 9}, {10, 19}}, []string{"0-9", "10-19"}, nil},
		{"same start: the longest", [][2]uint64{{0, 9}, {10, 14}, {10, 19}, {20, 29}}, []string{"0-9", "10-19", "20-29"}, []string{"10-14"}},
		{"within two tiles", [][2]uint64{{0, 9}, {5, 14}, {10, 19}}, []string{"0-9", "10-19"}, []string{"5-14"}},
		{"overlap goes on", [][2]uint64{{0, 9}, {5, 24}, {10, 19}}, []string{"0-9", "10-19", "5-24"}, nil},
		{"gap", [][2]uint64{{0, 9}, {20, 29}, {20, 24}}, []string{"0-9", "20-29"}, []string{"20-24"}},
		{"not from 0", [][2]uint64{{5, 9}}, []string{"5-9"}, nil},
		{"largest seq", [][2]uint64{{0, math.MaxUint64}, {math.MaxUint64, math.MaxUint64}}, []string{fmt.Sprint("0-", uint64(math.MaxUint64))}, []string{fmt.Sprint(uint64(math.MaxUint64), "-", uint64(math.MaxUint64))}},
		{"none", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var refs []batchRef
			for _, r := range tc.refs {
				refs = append(refs, batchRef{key: fmt.Sprintf("%d-%d", r[0], r[1]), first: r[0], last: r[1]})
			}
			sortBatches(refs)
			tiles, redundant := tileBatches(refs)
			keys := func(rs []batchRef) []string {
				var ks []string
				for _, r := range rs {
					ks = append(ks, r.key)
				}
				return ks
			}
			require.Equal(t, tc.tiles, keys(tiles))
			require.Equal(t, tc.redundant, keys(redundant))
		})
	}
}
