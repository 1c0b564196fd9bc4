package treeoflife

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
)

// TestBackupsShipToEverySink: three sinks each get a complete backup, with
// their own status, cursor and verification report.
func TestBackupsShipToEverySink(t *testing.T) {
	ctx := context.Background()
	a, b, c := newFileSink(t), newFileSink(t), newFileSink(t)
	dir := t.TempDir()
	l := openT(t, dir, Options{Backup: a, Backups: []backup.Sink{b, c}, BackupBatchSize: 100})
	logN(t, l, 250)
	require.NoError(t, l.SyncBackup(ctx))
	st := l.BackupStatus()
	require.True(t, st.Enabled)
	require.True(t, st.Connected)
	require.Equal(t, uint64(250), st.Shipped)
	require.Zero(t, st.LagRecords)
	require.NoError(t, st.LastError)
	require.Len(t, st.Sinks, 3)
	var objects int64
	for i, sink := range []backup.Sink{a, b, c} {
		ss := st.Sinks[i]
		require.Equal(t, SinkName(i, sink), ss.Name)
		require.Equal(t, "file://"+filepath.ToSlash(sink.(interface{ Dir() string }).Dir()), ss.Name)
		require.Equal(t, uint64(250), ss.Shipped)
		require.True(t, ss.Connected)
		require.GreaterOrEqual(t, ss.UploadedObjects, int64(3))
		objects += ss.UploadedObjects
		requireTiling(t, sink, l.backups.sinks[i].root, [2]uint64{0, 99}, [2]uint64{100, 199}, [2]uint64{200, 249})
	}
	require.Equal(t, objects, st.UploadedObjects)

	rep, err := l.VerifyBackup(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Backups, 3)
	for i, br := range rep.Backups {
		require.Equal(t, st.Sinks[i].Name, br.Sink)
		require.True(t, br.Synced, "%+v", br)
	}
	require.Same(t, &rep.Backups[0], rep.Backup)
	require.NoError(t, l.Close())

	// BACKUP holds a cursor per sink, by name.
	cur, err := readBackupCursors(dir)
	require.NoError(t, err)
	require.Len(t, cur.Sinks, 3)
	for _, ss := range st.Sinks {
		require.Equal(t, uint64(250), cur.Sinks[ss.Name].Shipped, ss.Name)
	}
	require.Equal(t, uint64(250), cur.Shipped)

	// Reopened with a sink fewer and the order changed, each sink keeps
	// its own cursor.
	l = openT(t, dir, Options{Backup: c, Backups: []backup.Sink{a}, BackupBatchSize: 100})
	logN(t, l, 10)
	require.NoError(t, l.SyncBackup(ctx))
	requireTiling(t, c, l.backups.sinks[0].root, [2]uint64{0, 99}, [2]uint64{100, 199}, [2]uint64{200, 249}, [2]uint64{250, 259})
	require.NoError(t, l.Close())
	requireTiling(t, b, l.backups.sinks[0].root, [2]uint64{0, 99}, [2]uint64{100, 199}, [2]uint64{200, 249})
}

// TestBackupsOlderCursor: a BACKUP file of an older version, with one
// cursor and no names, is used by a logger with a single sink.
func TestBackupsOlderCursor(t *testing.T) {
	ctx := context.Background()
	a := newFileSink(t)
	dir := t.TempDir()
	l := openT(t, dir, Options{Backup: a, BackupBatchSize: 100})
	logN(t, l, 150)
	require.NoError(t, l.SyncBackup(ctx))
	root := l.backups.sinks[0].root
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, backupCursorFile), []byte(`{"root":"`+root+`","shipped":150}`+"\n"), 0o644))
	cur, err := readBackupCursors(dir)
	require.NoError(t, err)
	require.Nil(t, cur.Sinks)

	l = openT(t, dir, Options{Backup: a, BackupBatchSize: 100})
	require.Equal(t, uint64(150), l.backups.sinks[0].savedShipped, "the older cursor is the single sink's")
	require.NoError(t, l.Close())
	l = openT(t, dir, Options{Backup: a, Backups: []backup.Sink{newFileSink(t)}, BackupBatchSize: 100})
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, backupCursorFile), []byte(`{"root":"`+root+`","shipped":150}`+"\n"), 0o644))
	l = openT(t, dir, Options{Backup: a, Backups: []backup.Sink{newFileSink(t)}, BackupBatchSize: 100})
	for _, s := range l.backups.sinks {
		require.Zero(t, s.savedShipped, "with several sinks, a cursor without a name belongs to none")
	}
	require.NoError(t, l.SyncBackup(ctx))
	require.NoError(t, l.Close())
}

func TestBackupsOptions(t *testing.T) {
	a := newFileSink(t)
	_, err := Open(t.TempDir(), Options{Backup: a, Backups: []backup.Sink{a}})
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.ErrorContains(t, err, SinkName(0, a))
	_, err = Open(t.TempDir(), Options{Backups: []backup.Sink{a, nil}})
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.ErrorContains(t, err, "Backups[1] is nil")
	// Without String, sinks are named by their place.
	require.Equal(t, "backup-2", SinkName(1, &gatedSink{Sink: a}))
}

// heldSink is a store that takes requests and never answers them until
// the test releases it: every call waits on release (or its ctx).
type heldSink struct {
	backup.Sink
	release chan struct{}
}

func (h *heldSink) hold(ctx context.Context) error {
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *heldSink) Put(ctx context.Context, key string, body []byte, sum [32]byte, opts backup.PutOptions) error {
	if err := h.hold(ctx); err != nil {
		return err
	}
	return h.Sink.Put(ctx, key, body, sum, opts)
}

func (h *heldSink) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if err := h.hold(ctx); err != nil {
		return nil, backup.ObjectInfo{}, err
	}
	return h.Sink.Get(ctx, key)
}

func (h *heldSink) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if err := h.hold(ctx); err != nil {
		return backup.ObjectInfo{}, err
	}
	return h.Sink.Stat(ctx, key)
}

// TestBackupsHungSinkBlocksNothing: one of three sinks never answers. The
// others ship everything, the log accepts and syncs records, the hung
// sink's status and Health name it; once it answers it catches up.
func TestBackupsHungSinkBlocksNothing(t *testing.T) {
	// Long enough that no attempt of the file sinks that answer is
	// reported as not answering.
	old := backupSlowAttempt
	backupSlowAttempt = 500 * time.Millisecond
	t.Cleanup(func() { backupSlowAttempt = old })
	ctx := context.Background()
	a, c := newFileSink(t), newFileSink(t)
	h := &heldSink{Sink: newFileSink(t), release: make(chan struct{})}
	l := openT(t, t.TempDir(), Options{Backups: []backup.Sink{a, h, c}, BackupBatchSize: 100, BackupInterval: time.Millisecond})
	released := false
	defer func() {
		if !released {
			close(h.release)
		}
	}()
	for round := 1; round <= 3; round++ {
		logN(t, l, 100)
		require.NoError(t, l.Sync(ctx))
		n := l.Head().Size
		waitFor(t, l, func(st BackupStatus) bool { return st.Sinks[0].Shipped == n && st.Sinks[2].Shipped == n })
	}
	waitFor(t, l, func(st BackupStatus) bool { return errors.Is(st.Sinks[1].LastError, ErrBackupNotAnswering) })
	st := l.BackupStatus()
	require.Equal(t, "backup-2", st.Sinks[1].Name)
	require.False(t, st.Sinks[1].Connected)
	require.Equal(t, uint64(300), st.Sinks[1].LagRecords)
	require.Zero(t, st.Sinks[0].LagRecords)
	require.Zero(t, st.Sinks[2].LagRecords)
	require.NoError(t, st.Sinks[0].LastError)
	// The aggregate: what every sink holds, the worst lag, the error named.
	require.Zero(t, st.Shipped)
	require.Equal(t, uint64(300), st.LagRecords)
	require.False(t, st.Connected)
	var se *SinkError
	require.ErrorAs(t, st.LastError, &se)
	require.Equal(t, "backup-2", se.Sink)
	require.ErrorIs(t, st.LastError, ErrBackupNotAnswering)

	hr := l.Health()
	require.Equal(t, HealthDegraded, hr.Status)
	require.Len(t, hr.Backup.Sinks, 3)
	require.NotEmpty(t, hr.Backup.Sinks[1].Error)
	require.Empty(t, hr.Backup.Sinks[0].Error)
	require.Contains(t, strings.Join(hr.Reasons, "\n"), "the backup to backup-2 is failing")
	require.NotContains(t, strings.Join(hr.Reasons, "\n"), a.String())

	// SyncBackup waits for every sink: here, until its ctx ends.
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err := l.SyncBackup(sctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorAs(t, err, &se)
	require.Equal(t, "backup-2", se.Sink)

	close(h.release) // the store answers again
	released = true
	require.NoError(t, l.SyncBackup(ctx))
	st = l.BackupStatus()
	require.Equal(t, uint64(300), st.Shipped)
	require.True(t, st.Connected)
	require.NoError(t, st.LastError)
	require.Equal(t, HealthOK, l.Health().Status)
	requireTiling(t, h, l.backups.sinks[1].root, [2]uint64{0, 99}, [2]uint64{100, 199}, [2]uint64{200, 299})
	require.NoError(t, l.Close())
}

// TestBackupsCloseWithHungSink: Close ships what is left to the sinks that
// answer and gives up on the hung one at BackupCloseTimeout, naming it.
func TestBackupsCloseWithHungSink(t *testing.T) {
	setAttemptTimeout(t, time.Hour)
	a := newFileSink(t)
	h := &heldSink{Sink: newFileSink(t), release: make(chan struct{})}
	defer close(h.release)
	l := openT(t, t.TempDir(), Options{Backup: a, Backups: []backup.Sink{h}, BackupBatchSize: 1000, BackupInterval: time.Hour, BackupCloseTimeout: 2 * time.Second})
	logN(t, l, 150) // less than a batch: only Close ships it
	waitFor(t, l, func(st BackupStatus) bool { return st.Sinks[0].Connected })
	root := l.backups.sinks[0].root
	err := closeWithin(t, l, time.Minute)
	var se *SinkError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "backup-2", se.Sink)
	require.ErrorContains(t, err, "150 records not shipped")
	require.NotContains(t, err.Error(), a.String())
	requireTiling(t, a, root, [2]uint64{0, 149})
}

// setAttemptTimeout sets backupAttemptTimeout for one test.
func setAttemptTimeout(t *testing.T, d time.Duration) {
	old := backupAttemptTimeout
	backupAttemptTimeout = d
	t.Cleanup(func() { backupAttemptTimeout = old })
}

// closeWithin closes l and fails the test if Close has not returned after
// limit (a watchdog far beyond any BackupCloseTimeout the tests set, and
// far below the attempt timeout they set: a Close that waits for an
// attempt's own timeout would hang).
func closeWithin(t *testing.T, l *ImmutableLogger, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatal("Close does not honour BackupCloseTimeout")
		return nil
	}
}

// headerFailingSink fails every Put of a HEADER revision at once.
type headerFailingSink struct{ backup.Sink }

func (f headerFailingSink) Put(ctx context.Context, key string, body []byte, sum [32]byte, opts backup.PutOptions) error {
	if strings.Contains(key, "/headers/") {
		return errInjected
	}
	return f.Sink.Put(ctx, key, body, sum, opts)
}

// TestBackupCloseWhileHeaderFails: while the shipper connects and its
// HEADER upload keeps failing, Close returns after BackupCloseTimeout, not
// after the attempt's own timeout (an hour here).
func TestBackupCloseWhileHeaderFails(t *testing.T) {
	setAttemptTimeout(t, time.Hour)
	l := openT(t, t.TempDir(), Options{Backup: headerFailingSink{newFileSink(t)}, BackupCloseTimeout: 50 * time.Millisecond})
	logN(t, l, 5)
	waitFor(t, l, func(st BackupStatus) bool { return errors.Is(st.LastError, errInjected) })
	require.False(t, l.BackupStatus().Connected)
	err := closeWithin(t, l, time.Minute)
	require.ErrorIs(t, err, errInjected)
	require.ErrorContains(t, err, "5 records not shipped")
}

// failingGets fails every Get of a batch that starts at or after from.
type failingGets struct {
	backup.Sink
	from uint64
}

func (f failingGets) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if i := strings.Index(key, "/batches/"); i >= 0 && key[i+len("/batches/"):i+len("/batches/")+20] >= padSeq(f.from) {
		return nil, backup.ObjectInfo{}, errInjected
	}
	return f.Sink.Get(ctx, key)
}

// TestRestoreFallback: a restore that fails mid-way on one sink continues
// from the records restored, from another sink; a sink that lacks records
// is completed from the next.
func TestRestoreFallback(t *testing.T) {
	ctx := context.Background()
	a, b := newFileSink(t), newFileSink(t)
	l := openT(t, t.TempDir(), Options{Tenant: "acme", Backup: a, Backups: []backup.Sink{b}, BackupBatchSize: 100})
	logN(t, l, 350)
	require.NoError(t, l.SyncBackup(ctx))
	want := l.Head()
	root := l.backups.sinks[0].root
	require.NoError(t, l.Close())
	opts := RestoreOptions{Tenant: "acme"}

	t.Run("a sink fails mid-restore", func(t *testing.T) {
		broken := failingGets{Sink: a, from: 200}
		dir := t.TempDir()
		// Alone, it restores what it can and fails.
		head, err := RestoreBackup(ctx, broken, dir, opts)
		require.ErrorIs(t, err, errInjected)
		require.Equal(t, uint64(200), head.Size)
		// With a fallback, the same directory is completed from the other
		// sink, from the records already restored.
		head, err = RestoreBackup(ctx, broken, dir, RestoreOptions{Tenant: "acme", Fallback: []backup.Sink{b}})
		require.NoError(t, err)
		require.Equal(t, want, head)
		cur, err := readBackupCursors(dir)
		require.NoError(t, err)
		require.Equal(t, map[string]backupCursor{SinkName(1, b): {Root: root, Shipped: 350}}, cur.Sinks, "only the sink that completed")
		r := openT(t, dir, Options{Tenant: "acme", Backup: broken, Backups: []backup.Sink{b}})
		_, err = r.Verify(ctx)
		require.NoError(t, err)
		require.NoError(t, r.Close())
	})

	t.Run("a sink lacks records", func(t *testing.T) {
		short := newFileSink(t)
		copyBackup(t, a, short, root, 200) // it lagged: batches up to record 199
		dir := t.TempDir()
		head, err := RestoreBackup(ctx, short, dir, RestoreOptions{Tenant: "acme", Fallback: []backup.Sink{b}})
		require.NoError(t, err)
		require.Equal(t, want, head)
		cur, err := readBackupCursors(dir)
		require.NoError(t, err)
		require.Equal(t, uint64(200), cur.Sinks[SinkName(0, short)].Shipped, "the short sink's cursor is where it ends")
		require.Equal(t, uint64(350), cur.Sinks[SinkName(1, b)].Shipped)
	})

	t.Run("every sink fails", func(t *testing.T) {
		dir := t.TempDir()
		head, err := RestoreBackup(ctx, failingGets{Sink: a, from: 100}, dir, RestoreOptions{Tenant: "acme", Fallback: []backup.Sink{failingGets{Sink: b, from: 300}}})
		require.ErrorIs(t, err, errInjected)
		require.Equal(t, uint64(300), head.Size)
		var se *SinkError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "backup-1", se.Sink)
		require.ErrorContains(t, err, "backup sink backup-2")
	})
}

// copyBackup copies HEADER revisions and the batches that end before
// records from one sink to another.
func copyBackup(t *testing.T, from, to backup.Sink, root string, records uint64) {
	t.Helper()
	ctx := context.Background()
	for info, err := range from.List(ctx, root) {
		require.NoError(t, err)
		if _, last, ok := parseBatchKey(root, info.Key); ok && last >= records {
			continue
		}
		if !strings.Contains(info.Key, "/headers/") && !strings.Contains(info.Key, "/batches/") {
			continue
		}
		body, err := getObject(ctx, from, info.Key)
		require.NoError(t, err)
		require.NoError(t, to.Put(ctx, info.Key, body, sha256.Sum256(body), backup.PutOptions{}))
	}
}

// TestBackupsShareBatches: the sinks ship the same batches, prepared once
// when the sinks go at the same pace, and each sink's backup is complete
// and verifies whether it prepared a batch or took it from another.
func TestBackupsShareBatches(t *testing.T) {
	ctx := context.Background()
	sinks := []backup.Sink{newFileSink(t), newFileSink(t), newFileSink(t)}
	l := openT(t, t.TempDir(), Options{Backups: sinks, BackupBatchSize: 10})
	logN(t, l, 2000)
	require.NoError(t, l.SyncBackup(ctx))
	rep, err := l.VerifyBackup(ctx)
	require.NoError(t, err)
	for _, br := range rep.Backups {
		require.True(t, br.Synced, "%+v", br)
	}
	l.backups.batches.mu.Lock()
	shared := l.backups.batches.shared
	l.backups.batches.mu.Unlock()
	t.Logf("%d of %d batches taken from another sink", shared, 2*200)
	require.NoError(t, l.Close())
}
