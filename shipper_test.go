package treeoflife

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/file"
	"github.com/treeoflife/treeoflife/internal/sha256x2"
)

// faultySink fails the Puts of batches that start at seq failFrom, failPuts
// of them (counting down), as an outage of one request after another would.
type faultySink struct {
	backup.Sink
	failFrom uint64
	failPuts atomic.Int64
}

var errInjected = errors.New("injected: store unavailable")

func (f *faultySink) Put(ctx context.Context, key string, body []byte, sum [32]byte, opts backup.PutOptions) error {
	if strings.Contains(key, "/batches/"+padSeq(f.failFrom)+"-") && f.failPuts.Add(-1) >= 0 {
		return errInjected
	}
	return f.Sink.Put(ctx, key, body, sum, opts)
}

func padSeq(n uint64) string {
	s := strconv.FormatUint(n, 10)
	return strings.Repeat("0", 20-len(s)) + s
}

func newFileSink(t *testing.T) *file.Sink {
	t.Helper()
	s, err := file.New(context.Background(), file.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	return s
}

// requireTiling checks that the backup's batches are exactly want.
func requireTiling(t *testing.T, sink backup.Sink, root string, want ...[2]uint64) {
	t.Helper()
	refs, err := listBatches(context.Background(), sink, root)
	require.NoError(t, err)
	var got [][2]uint64
	for _, r := range refs {
		got = append(got, [2]uint64{r.first, r.last})
	}
	require.Equal(t, want, got, "the batches tile the log: no gap, no overlap")
}

// TestShipperTailNeverPastAGap: the first batch cannot be put when the
// logger closes; Close must not put the partial batch after it, or the
// batches shipped after reopening would overlap it ("no batch starting at
// seq 1500").
func TestShipperTailNeverPastAGap(t *testing.T) {
	ctx := context.Background()
	fsink := &faultySink{Sink: newFileSink(t), failFrom: 0}
	fsink.failPuts.Store(1 << 40)
	o := Options{Backup: fsink, BackupBatchSize: 100, BackupCloseTimeout: 300 * time.Millisecond}
	dir := t.TempDir()
	l := openT(t, dir, o)
	root := l.backups.sinks[0].root
	logN(t, l, 150)
	err := l.Close()
	require.ErrorContains(t, err, "backup incomplete at close")
	require.ErrorIs(t, err, errInjected)
	requireTiling(t, fsink, root) // nothing: the tail waits for the batch before it

	fsink.failPuts.Store(0)
	l = openT(t, dir, o)
	logN(t, l, 50)
	require.NoError(t, l.SyncBackup(ctx))
	head := l.Head()
	require.NoError(t, l.Close())
	requireTiling(t, fsink, root, [2]uint64{0, 99}, [2]uint64{100, 199})

	rep, err := VerifyBackup(ctx, fsink, RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, head, rep.Head)
	got, err := RestoreBackup(ctx, fsink, filepath.Join(t.TempDir(), "restored"), RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, head, got)
}

// TestShipperRetriesTheSameRanges: a batch fails a few times while the
// batches after it land; the retry puts the same range, and the cursor
// moves over all of them only once the failed one is in.
func TestShipperRetriesTheSameRanges(t *testing.T) {
	ctx := context.Background()
	fsink := &faultySink{Sink: newFileSink(t), failFrom: 100}
	fsink.failPuts.Store(3)
	l := openT(t, t.TempDir(), Options{Backup: fsink, BackupBatchSize: 100})
	logN(t, l, 450)
	require.NoError(t, l.SyncBackup(ctx))
	st := l.BackupStatus()
	require.Equal(t, uint64(450), st.Shipped)
	require.True(t, st.Connected)
	requireTiling(t, fsink, l.backups.sinks[0].root, [2]uint64{0, 99}, [2]uint64{100, 199}, [2]uint64{200, 299}, [2]uint64{300, 399}, [2]uint64{400, 449})
	require.NoError(t, l.Close())
}

// TestShipperAdoptsBatchesAfterAHole: a crash during a round of parallel
// Puts left the second and third batches in the backup but not the first.
// The shipper puts the first, adopts the others as they are (the third is
// short), and continues after them.
func TestShipperAdoptsBatchesAfterAHole(t *testing.T) {
	ctx := context.Background()
	sink := newFileSink(t)
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	logN(t, l, 350)
	root := backupRoot("", l.LogID(), "")
	v, _ := l.durableView()
	for _, r := range [][2]uint64{{100, 200}, {200, 250}} {
		body, _, err := batchBody(v, r[0], r[1], nil, 0)
		require.NoError(t, err)
		require.NoError(t, sink.Put(ctx, batchKey(root, r[0], r[1]-1), body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true}))
	}
	require.NoError(t, l.Close())

	l = openT(t, dir, Options{Backup: sink, BackupBatchSize: 100})
	require.NoError(t, l.SyncBackup(ctx))
	head := l.Head()
	require.NoError(t, l.Close())
	requireTiling(t, sink, root, [2]uint64{0, 99}, [2]uint64{100, 199}, [2]uint64{200, 249}, [2]uint64{250, 349})
	got, err := VerifyBackup(ctx, sink, RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, head, got.Head)

	// A batch in the backup that differs from the local records is a
	// conflict, never adopted.
	other := newFileSink(t)
	odir := t.TempDir()
	require.NoError(t, os.CopyFS(odir, os.DirFS(dir)))
	require.NoError(t, os.Remove(filepath.Join(odir, lockFile)))
	require.NoError(t, os.Remove(filepath.Join(odir, backupCursorFile)))
	body, _, err := batchBody(v, 0, 10, nil, 0)
	require.NoError(t, err)
	body[len(body)-3] ^= 1
	require.NoError(t, other.Put(ctx, batchKey(root, 0, 9), body, sha256.Sum256(body), backup.PutOptions{}))
	l = openT(t, odir, Options{Backup: other, BackupBatchSize: 100})
	require.ErrorIs(t, l.SyncBackup(ctx), ErrBackupConflict)
	require.ErrorIs(t, l.BackupStatus().LastError, ErrBackupConflict)
	require.Error(t, l.Close())
	requireTiling(t, other, root, [2]uint64{0, 9})
}

// gatedSink is an object store that is down: every call waits for gate to
// be closed, then fails until up is set.
type gatedSink struct {
	backup.Sink
	gate chan struct{}
	up   atomic.Bool
}

func (g *gatedSink) wait(ctx context.Context) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !g.up.Load() {
		return errInjected
	}
	return nil
}

func (g *gatedSink) Put(ctx context.Context, key string, body []byte, sum [32]byte, opts backup.PutOptions) error {
	if err := g.wait(ctx); err != nil {
		return err
	}
	return g.Sink.Put(ctx, key, body, sum, opts)
}

func (g *gatedSink) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if err := g.wait(ctx); err != nil {
		return nil, backup.ObjectInfo{}, err
	}
	return g.Sink.Get(ctx, key)
}

func (g *gatedSink) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if err := g.wait(ctx); err != nil {
		return backup.ObjectInfo{}, err
	}
	return g.Sink.Stat(ctx, key)
}

func (g *gatedSink) List(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	return func(yield func(backup.ObjectInfo, error) bool) {
		if err := g.wait(ctx); err != nil {
			yield(backup.ObjectInfo{}, err)
			return
		}
		for info, err := range g.Sink.List(ctx, prefix) {
			if !yield(info, err) {
				return
			}
		}
	}
}

// TestShipperCutsBatchesAtBatchBytes: a batch ends with the record that
// brings it to BackupBatchBytes, before BackupBatchSize records; a batch
// the backup holds already is adopted whole, however large; with two
// sinks, each gets a complete backup whether it prepared a batch or took it
// from the other.
func TestShipperCutsBatchesAtBatchBytes(t *testing.T) {
	ctx := context.Background()
	const n, limit = 350, 1000
	sinks := []backup.Sink{newFileSink(t), newFileSink(t)}
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	logN(t, l, n)
	root := backupRoot("", l.LogID(), "")
	v, _ := l.durableView()
	held, _, err := batchBody(v, 100, 200, nil, 0)
	require.NoError(t, err)
	require.Greater(t, len(held), limit)
	require.NoError(t, sinks[0].Put(ctx, batchKey(root, 100, 199), held, sha256.Sum256(held), backup.PutOptions{IfNotExists: true}))
	require.NoError(t, l.Close())

	l = openT(t, dir, Options{Backups: sinks, BackupBatchSize: 100, BackupBatchBytes: limit})
	defer l.Close()
	require.NoError(t, l.SyncBackup(ctx))
	head := l.Head()
	v, _ = l.durableView()
	size := func(from, to uint64) int {
		b, end, err := batchBody(v, from, to, nil, 0)
		require.NoError(t, err)
		require.Equal(t, to, end)
		return len(b)
	}
	for i, sink := range sinks {
		refs, err := listBatches(ctx, sink, root)
		require.NoError(t, err)
		next := uint64(0)
		for k, r := range refs {
			require.Equal(t, next, r.first, "sink %d: the batches tile the log", i)
			next = r.last + 1
			if i == 0 && r.first == 100 {
				require.Equal(t, uint64(199), r.last, "the batch the backup held is adopted whole")
				continue
			}
			require.Less(t, size(r.first, r.last), limit, "sink %d: batch %d-%d goes on past the record that filled it", i, r.first, r.last)
			if k < len(refs)-1 && !(i == 0 && next == 100) {
				require.GreaterOrEqual(t, size(r.first, next), limit, "sink %d: batch %d-%d ends before it is full", i, r.first, r.last)
			}
		}
		require.Equal(t, uint64(n), next)
		got, err := VerifyBackup(ctx, sink, RestoreOptions{})
		require.NoError(t, err)
		require.Equal(t, head, got.Head)
	}

	for _, o := range []Options{{BackupBatchBytes: -1}, {BackupBatchSize: -1}, {BackupInterval: -1}} {
		o.Backup = sinks[0]
		_, err := Open(t.TempDir(), o)
		require.ErrorIs(t, err, ErrInvalidOptions)
	}
}

// TestShipperOpenWhileStoreDown: Open returns while the store does not
// answer, records are logged, the outage shows in BackupStatus, and
// everything ships once the store is back.
func TestShipperOpenWhileStoreDown(t *testing.T) {
	ctx := context.Background()
	g := &gatedSink{Sink: newFileSink(t), gate: make(chan struct{})}
	dir := t.TempDir()
	opened := make(chan *ImmutableLogger, 1)
	go func() {
		l, err := Open(dir, Options{Backup: g, BackupBatchSize: 100})
		if err != nil {
			t.Error(err)
		}
		opened <- l
	}()
	var l *ImmutableLogger
	select {
	case l = <-opened:
	case <-time.After(10 * time.Second):
		close(g.gate)
		t.Fatal("Open waits for the object store")
	}
	require.NotNil(t, l)
	logN(t, l, 250)
	st := l.BackupStatus()
	require.False(t, st.Connected)
	require.Equal(t, uint64(250), st.LagRecords)

	close(g.gate) // the store now answers, with errors
	waitFor(t, l, func(st BackupStatus) bool { return errors.Is(st.LastError, errInjected) })
	st = l.BackupStatus()
	require.ErrorIs(t, st.LastError, errInjected)
	require.False(t, st.Connected)
	require.WithinDuration(t, time.Now(), st.LastErrorTime, 2*time.Second)

	g.up.Store(true)
	require.NoError(t, l.SyncBackup(ctx))
	st = l.BackupStatus()
	require.True(t, st.Connected)
	require.NoError(t, st.LastError)
	require.Equal(t, uint64(250), st.Shipped)
	requireTiling(t, g, l.backups.sinks[0].root, [2]uint64{0, 99}, [2]uint64{100, 199}, [2]uint64{200, 249})
	require.NoError(t, l.Close())
}

// TestShipperReportsAStoreThatDoesNotAnswer: a store that takes requests
// and never answers shows in BackupStatus after backupSlowAttempt, long
// before an attempt times out.
func TestShipperReportsAStoreThatDoesNotAnswer(t *testing.T) {
	old := backupSlowAttempt
	backupSlowAttempt = 50 * time.Millisecond
	t.Cleanup(func() { backupSlowAttempt = old })
	g := &gatedSink{Sink: newFileSink(t), gate: make(chan struct{})}
	l := openT(t, t.TempDir(), Options{Backup: g, BackupBatchSize: 100})
	logN(t, l, 10)
	waitFor(t, l, func(st BackupStatus) bool { return st.LastError != nil })
	st := l.BackupStatus()
	require.ErrorIs(t, st.LastError, ErrBackupNotAnswering)
	require.False(t, st.Connected)
	require.Equal(t, uint64(10), st.LagRecords)

	g.up.Store(true)
	close(g.gate) // the store answers again
	require.NoError(t, l.SyncBackup(context.Background()))
	require.NoError(t, l.BackupStatus().LastError)
	require.NoError(t, l.Close())
}

// copyLiveDir copies the directory of a running logger, as a backup tool
// would, without its LOCK. The shipper replaces BACKUP meanwhile (a
// temporary file, then a rename), so a copy that met the temporary file is
// made again.
func copyLiveDir(t *testing.T, dir string) string {
	t.Helper()
	for {
		cp := t.TempDir()
		err := os.CopyFS(cp, os.DirFS(dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, os.Remove(filepath.Join(cp, lockFile)))
		return cp
	}
}

// setLeaseTiming shortens the lease for a test.
func setLeaseTiming(t *testing.T, ttl, renew time.Duration) {
	oldTTL, oldRenew := backupLeaseTTL, backupLeaseRenew
	backupLeaseTTL, backupLeaseRenew = ttl, renew
	t.Cleanup(func() { backupLeaseTTL, backupLeaseRenew = oldTTL, oldRenew })
}

// TestBackupLeaseExpiresAndIsRenewed: a lease left by a logger that died is
// taken once it expires; a running logger renews its own, so that a copy
// of its directory is refused however long it runs; Close releases it.
func TestBackupLeaseExpiresAndIsRenewed(t *testing.T) {
	setLeaseTiming(t, 600*time.Millisecond, 100*time.Millisecond)
	ctx := context.Background()
	sink := newFileSink(t)
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	logN(t, l, 10)
	root := backupRoot("", l.LogID(), "")
	require.NoError(t, l.Close())

	// The lease of a logger that died a moment ago.
	dead, _ := json.Marshal(leaseBody{Token: "0123456789abcdef0123456789abcdef", Expires: time.Now().Add(backupLeaseTTL)})
	require.NoError(t, sink.Put(ctx, root+"LEASE", dead, sha256.Sum256(dead), backup.PutOptions{IfNotExists: true, Mutable: true}))
	l = openT(t, dir, Options{Backup: sink})
	waitFor(t, l, func(st BackupStatus) bool { return st.Connected })
	require.NoError(t, l.SyncBackup(ctx))

	// Several lease lifetimes later, a copy of the running log's directory
	// is still refused.
	time.Sleep(3 * backupLeaseTTL)
	c := openT(t, copyLiveDir(t, dir), Options{Backup: sink})
	require.ErrorIs(t, c.SyncBackup(ctx), ErrBackupLeased)
	require.ErrorIs(t, c.Close(), ErrBackupLeased)

	// Closed, the original releases the lease: the next Open takes it at
	// once, and the LEASE names nothing but a token and an expiry.
	require.NoError(t, l.Close())
	lb, _, ok, err := l.backups.sinks[0].readLease(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, l.backups.sinks[0].token, lb.Token)
	require.False(t, lb.Expires.After(time.Now()), "released")
	body, err := getObject(ctx, sink, root+"LEASE")
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(body, &fields))
	require.Len(t, fields, 2, "%s", body)
	l = openT(t, dir, Options{Backup: sink})
	require.NoError(t, l.SyncBackup(ctx))
	require.NotEqual(t, lb.Token, l.backups.sinks[0].token, "a token per Open")
	require.NoError(t, l.Close())
}

// TestBatchLeaves: the leaf hashes and last chain value batchLeaves finds
// in a batch body are those of its frames, for odd and even counts, one
// frame, none, and payloads longer than sha256x2.PairMax; the body is left
// as it was.
func TestBatchLeaves(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	for i := range 7 {
		_, err := l.Log(context.Background(), LevelInfo, "m", Fields{"pad": strings.Repeat("x", i*300)})
		require.NoError(t, err)
	}
	v, _ := l.durableView()
	var pair sha256x2.Pair
	for from := uint64(0); from <= 7; from++ {
		for to := from; to <= 7; to++ {
			body, _, err := batchBody(v, from, to, nil, 0)
			require.NoError(t, err)
			orig := bytes.Clone(body)
			var want []Hash
			var wantLast Hash
			require.NoError(t, walkBatch(body, func(fr *frame) error {
				want = append(want, leafHash(fr.Payload))
				wantLast = fr.Chain
				return nil
			}))
			got, last := batchLeaves(body, []Hash{{1}}, &pair)
			require.Equal(t, append([]Hash{{1}}, want...), got, "records %d to %d", from, to)
			require.Equal(t, wantLast, last)
			require.Equal(t, orig, body)
		}
	}
	require.NoError(t, l.Close())
}
