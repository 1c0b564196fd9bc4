package treeoflife

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/gcs"
)

// gcsSink returns a sink on the fake-gcs-server of scripts/test.sh.
func gcsSink(t *testing.T) *gcs.Sink {
	t.Helper()
	endpoint := requireEnv(t, "TOL_GCS_ENDPOINT")
	bucket := requireEnv(t, "TOL_GCS_BUCKET")
	return gcsTestSink(t, endpoint, bucket)
}

// killOnGet kills a MinIO server (SIGKILL) when the restore asks for the
// batch that starts at seq from, and then asks it: a server lost in the
// middle of a restore.
type killOnGet struct {
	backup.Sink
	from string // the batch key's first seq, padded
	once sync.Once
	kill func()
}

func (k *killOnGet) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if strings.Contains(key, "/batches/"+k.from+"-") {
		k.once.Do(k.kill)
	}
	return k.Sink.Get(ctx, key)
}

// TestBackupsMinIOKilled ships to three sinks on real servers: a MinIO of
// the test's own, the second MinIO of scripts/test.sh and fake-gcs-server.
// The test's MinIO is killed (SIGKILL) while records are logged: the log
// keeps accepting them, the other sinks keep shipping them, the dead sink's
// status shows its error and lag, and Health names it. Started again on
// the same data, it catches up. Then a restore from it, killed again in
// the middle, falls back to the other MinIO.
func TestBackupsMinIOKilled(t *testing.T) {
	m := newOwnMinIO(t)
	endpoint2 := requireEnv(t, "TOL_S3_ENDPOINT2")
	srv := m.start(t)
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	killable := s3Sink(t, m.endpoint(), "killed", false)
	other := s3Sink(t, endpoint2, "tol-region-2", false)
	g := gcsSink(t)
	prefix := randomPrefix(t)

	ctx := context.Background()
	l := openT(t, t.TempDir(), Options{Backups: []backup.Sink{killable, other, g}, BackupPrefix: prefix,
		BackupBatchSize: 100, Durability: DurabilityBuffered})
	names := []string{SinkName(0, killable), SinkName(1, other), SinkName(2, g)}
	var logged, target atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Revenue("sale", Fields{"w": w, "i": i}); err != nil {
					t.Error(err)
					return
				}
				if n := logged.Add(1); target.Load() > 0 && n >= target.Load() {
					once.Do(func() { close(reached) })
				}
			}
		}()
	}
	waitFor(t, l, func(st BackupStatus) bool { return st.Shipped >= 500 })
	require.NoError(t, srv.Process.Kill())
	srv.Wait()
	target.Store(logged.Load() + 3000) // keep logging while the server is down
	<-reached

	// The other sinks keep up with the log; the dead one fails and lags.
	require.NoError(t, l.Sync(ctx))
	n := l.Head().Size
	waitFor(t, l, func(st BackupStatus) bool {
		return st.Sinks[1].Shipped >= n && st.Sinks[2].Shipped >= n && st.Sinks[0].LastError != nil
	})
	st := l.BackupStatus()
	require.Less(t, st.Sinks[0].Shipped, n, "the killed server holds less than the log")
	require.Greater(t, st.Sinks[0].LagRecords, uint64(0))
	require.Error(t, st.Sinks[0].LastError)
	require.Less(t, st.Shipped, n, "the aggregate is what every sink holds")
	var se *SinkError
	require.ErrorAs(t, st.LastError, &se)
	require.Equal(t, names[0], se.Sink)
	h := l.Health()
	require.Equal(t, HealthDegraded, h.Status)
	reasons := strings.Join(h.Reasons, "\n")
	require.Contains(t, reasons, "the backup to "+names[0]+" is failing")
	require.NotContains(t, reasons, names[1])
	require.NotContains(t, reasons, names[2])

	srv = m.start(t)
	close(stop)
	wg.Wait()
	require.NoError(t, l.SyncBackup(ctx))
	st = l.BackupStatus()
	require.Equal(t, l.Head().Size, st.Shipped)
	for i, ss := range st.Sinks {
		require.Equal(t, names[i], ss.Name)
		require.Zero(t, ss.LagRecords, ss.Name)
		require.NoError(t, ss.LastError, ss.Name)
	}
	rep, err := l.VerifyBackup(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Backups, 3)
	for _, br := range rep.Backups {
		require.True(t, br.Synced, "%+v", br)
	}
	want := l.Head()
	logID := l.LogID()
	require.NoError(t, l.Close())

	// Restore from the killable server, which dies in the middle: the
	// other MinIO completes it from where it stopped.
	dead := &killOnGet{Sink: killable, from: padSeq(1000), kill: func() {
		srv.Process.Kill()
		srv.Wait()
	}}
	dir := t.TempDir()
	head, err := RestoreBackup(ctx, dead, dir, RestoreOptions{Prefix: prefix, LogID: logID, Fallback: []backup.Sink{other, g}})
	require.NoError(t, err)
	require.Equal(t, want, head)
	cur, err := readBackupCursors(dir)
	require.NoError(t, err)
	require.NotContains(t, cur.Sinks, "backup-1", "the sink that died holds no cursor")
	require.Equal(t, want.Size, cur.Sinks[names[1]].Shipped)
	require.Equal(t, want.Size, cur.Sinks[names[2]].Shipped)
	r := openT(t, dir, Options{})
	_, err = r.Verify(ctx)
	require.NoError(t, err)
	require.NoError(t, r.Close())
}
