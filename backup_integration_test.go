package treeoflife

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup/s3"
)

// These tests run the shipper against real servers: MinIO for S3 and
// fake-gcs-server for GCS, started by scripts/test.sh. Without their
// endpoints they skip, unless TOL_REQUIRE_INTEGRATION=1 makes that a failure.

func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("%s is not set, and TOL_REQUIRE_INTEGRATION=1 requires this test", name)
		}
		t.Skipf("%s is not set: run scripts/test.sh to test against real servers", name)
	}
	return v
}

func randomPrefix(t *testing.T) string {
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "t-" + hex.EncodeToString(b[:])
}

func s3Sink(t *testing.T, endpoint, bucket string, objectLock bool) *s3.Sink {
	t.Helper()
	cfg := s3.Config{Bucket: bucket, Endpoint: endpoint, Region: os.Getenv("AWS_REGION"), UsePathStyle: true}
	if objectLock {
		cfg.ObjectLockMode = "COMPLIANCE"
		cfg.ObjectLockRetention = 24 * time.Hour
	}
	s, err := s3.New(context.Background(), cfg)
	require.NoError(t, err)
	in := &awss3.CreateBucketInput{Bucket: aws.String(bucket)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	_, err = s.Client().CreateBucket(context.Background(), in)
	var owned *types.BucketAlreadyOwnedByYou
	if !errors.As(err, &owned) {
		require.NoError(t, err)
	}
	return s
}

func TestShipperS3(t *testing.T) {
	endpoint := requireEnv(t, "TOL_S3_ENDPOINT")
	bucket := requireEnv(t, "TOL_S3_BUCKET")
	runShipperSuite(t, func(t *testing.T) backupTarget {
		s := s3Sink(t, endpoint, bucket, false)
		return backupTarget{sink: s, prefix: randomPrefix(t), del: func(t *testing.T, key string) {
			_, err := s.Client().DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			require.NoError(t, err)
		}}
	})
}

// TestRetentionS3 runs the local retention suite against MinIO: segments
// removed only once the bucket holds and has been checked against them.
func TestRetentionS3(t *testing.T) {
	endpoint := requireEnv(t, "TOL_S3_ENDPOINT")
	bucket := requireEnv(t, "TOL_S3_BUCKET")
	runRetentionSuite(t, func(t *testing.T) backupTarget {
		return backupTarget{sink: s3Sink(t, endpoint, bucket, false), prefix: randomPrefix(t)}
	})
}

func TestShipperGCS(t *testing.T) {
	endpoint := requireEnv(t, "TOL_GCS_ENDPOINT")
	bucket := requireEnv(t, "TOL_GCS_BUCKET")
	runShipperSuite(t, func(t *testing.T) backupTarget {
		s := gcsTestSink(t, endpoint, bucket)
		return backupTarget{sink: s, prefix: randomPrefix(t), del: func(t *testing.T, key string) {
			require.NoError(t, s.Client().Bucket(bucket).Object(key).Delete(context.Background()))
		}}
	})
}

// TestShipperObjectLock ships to a bucket with Object Lock: the shipped
// batches cannot be deleted, even with the credentials that wrote them.
func TestShipperObjectLock(t *testing.T) {
	endpoint := requireEnv(t, "TOL_S3_ENDPOINT")
	bucket := "tol-lock-" + randomPrefix(t)[2:]
	s := s3Sink(t, endpoint, bucket, true)
	ctx := context.Background()
	l := openT(t, t.TempDir(), Options{Backup: s, BackupBatchSize: 50})
	for i := 0; i < 120; i++ {
		_, err := l.Audit("access granted", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.SyncBackup(ctx))
	refs, err := listBatches(ctx, s, l.backups.sinks[0].root)
	require.NoError(t, err)
	require.Len(t, refs, 3)
	head, err := s.Client().HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(refs[0].key)})
	require.NoError(t, err)
	require.Equal(t, types.ObjectLockModeCompliance, head.ObjectLockMode)
	_, err = s.Client().DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(refs[0].key), VersionId: head.VersionId})
	require.Error(t, err, "a locked batch cannot be deleted")
	_, err = s.Client().HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(refs[0].key), VersionId: head.VersionId})
	require.NoError(t, err, "the batch is still there")
	require.NoError(t, l.Close())
}

// TestDeleteMarkersAreTampering removes the newest batch and the
// checkpoints that cover it with plain DELETEs on a bucket with Object Lock,
// which only hide them behind delete markers: the backup then lists as a
// shorter one, with no checkpoint beyond its batches. Reading the versions
// shows the deletion, and every check reports it, naming the object.
func TestDeleteMarkersAreTampering(t *testing.T) {
	endpoint := requireEnv(t, "TOL_S3_ENDPOINT")
	bucket := "tol-lock-" + randomPrefix(t)[2:]
	s := s3Sink(t, endpoint, bucket, true)
	ctx := context.Background()
	dir := t.TempDir()
	l := openT(t, dir, Options{Backup: s, BackupBatchSize: 50})
	for i := 0; i < 120; i++ {
		_, err := l.Audit("access granted", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close()) // ships a checkpoint of every record
	l = openT(t, dir, Options{Backup: s, BackupBatchSize: 50})
	defer l.Close()
	root := l.backups.sinks[0].root
	refs, err := listBatches(ctx, s, root)
	require.NoError(t, err)
	last := refs[len(refs)-1]
	del := func(key string) {
		_, err := s.Client().DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		require.NoError(t, err)
	}
	ro := RestoreOptions{LogID: l.LogID()}
	head, err := VerifyBackup(ctx, s, ro)
	require.NoError(t, err)
	require.Equal(t, l.Head(), head.Head)

	del(last.key)
	var covering []string
	for info, err := range s.List(ctx, root+"checkpoints/") {
		require.NoError(t, err)
		if n, ok := parseCheckpointKey(root, info.Key); ok && n > last.first {
			covering = append(covering, info.Key)
		}
	}
	require.NotEmpty(t, covering)
	for _, k := range covering {
		del(k)
	}
	var te *TamperError
	_, err = VerifyBackup(ctx, s, ro)
	require.ErrorAs(t, err, &te)
	require.Equal(t, last.key, te.Segment)
	require.Equal(t, last.first, te.Seq)
	require.ErrorContains(t, err, "deleted: a delete marker hides it")
	_, err = VerifyBackupWith(ctx, s, ro, VerifyOptions{})
	require.ErrorAs(t, err, &te)
	require.Equal(t, last.key, te.Segment)
	_, err = RestoreBackup(ctx, s, t.TempDir(), ro)
	require.ErrorAs(t, err, &te)
	require.Equal(t, last.key, te.Segment)
	cs, err := l.VerifyBackup(ctx)
	require.ErrorAs(t, err, &te)
	require.Equal(t, last.key, te.Segment)
	require.Equal(t, []SeqRange{{last.first, last.last}}, cs.Backup.Missing)

	// A deleted checkpoint alone is found as well.
	_, err = s.Client().PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(last.key), Body: strings.NewReader("")})
	require.NoError(t, err, "an object put again over the marker is not hidden any more")
	hidden, err := hiddenKeys(ctx, s, root)
	require.NoError(t, err)
	require.Equal(t, covering, hidden)
}

// hiddenKeys lists the keys under root that ListDeleted reports.
func hiddenKeys(ctx context.Context, s *s3.Sink, root string) ([]string, error) {
	var keys []string
	for info, err := range s.ListDeleted(ctx, root) {
		if err != nil {
			return nil, err
		}
		keys = append(keys, info.Key)
	}
	return keys, nil
}

// ownMinIO is a MinIO server of a test's own (TOL_MINIO_BIN), on a fixed
// loopback address and data directory, so that it can be killed and
// started again on the same data.
type ownMinIO struct {
	bin, addr, data string
}

func newOwnMinIO(t *testing.T) *ownMinIO {
	bin := requireEnv(t, "TOL_MINIO_BIN")
	requireEnv(t, "TOL_S3_ENDPOINT")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return &ownMinIO{bin: bin, addr: addr, data: t.TempDir()}
}

func (m *ownMinIO) endpoint() string { return "http://" + m.addr }

// start starts the server and returns once it listens.
func (m *ownMinIO) start(t *testing.T) *exec.Cmd {
	cmd := exec.Command(m.bin, "server", "--address", m.addr, "--console-address", "127.0.0.1:0", m.data)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+os.Getenv("AWS_ACCESS_KEY_ID"),
		"MINIO_ROOT_PASSWORD="+os.Getenv("AWS_SECRET_ACCESS_KEY"), "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	// MinIO prints its API address once it listens.
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "API: ") {
			ready = true
			break
		}
	}
	require.True(t, ready, "minio did not start")
	go func() {
		for sc.Scan() {
		}
	}()
	return cmd
}

// TestShipperSurvivesMinIORestart kills a MinIO server of its own
// (SIGKILL) while records are being logged and shipped, starts it again on
// the same data, and checks that the backup catches up with no gap and no
// duplicate batch.
func TestShipperSurvivesMinIORestart(t *testing.T) {
	m := newOwnMinIO(t)
	start := func() *exec.Cmd { return m.start(t) }
	srv := start()
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	endpoint := m.endpoint()
	sink := s3Sink(t, endpoint, "restart", false)

	ctx := context.Background()
	l := openT(t, t.TempDir(), Options{Backup: sink, BackupBatchSize: 100, Durability: DurabilityBuffered})
	// After the kill, the writers close reached once target records have
	// been logged in all.
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
	// Kill the server once some batches are confirmed and more are queued.
	waitFor(t, l, func(st BackupStatus) bool { return st.Shipped >= 500 })
	require.NoError(t, srv.Process.Kill())
	srv.Wait()
	target.Store(logged.Load() + 2000) // keep logging while the server is down
	<-reached
	srv = start()
	close(stop)
	wg.Wait()
	require.NoError(t, l.SyncBackup(ctx))
	st := l.BackupStatus()
	require.Equal(t, l.Head().Size, st.Shipped)
	require.Zero(t, st.LagRecords)
	cs, err := l.VerifyBackup(ctx)
	require.NoError(t, err)
	require.True(t, cs.Backup.Synced, "%+v", cs)
	refs, err := listBatches(ctx, sink, l.backups.sinks[0].root)
	require.NoError(t, err)
	next := uint64(0)
	for _, r := range refs {
		require.Equal(t, next, r.first, "no gap and no duplicate batch")
		next = r.last + 1
	}
	require.Equal(t, l.Head().Size, next)
	require.NoError(t, l.Close())
}

// waitFor waits on the shippers' progress notifications until cond holds.
func waitFor(t *testing.T, l *ImmutableLogger, cond func(BackupStatus) bool) {
	t.Helper()
	for {
		var cases []reflect.SelectCase
		for _, s := range l.backups.sinks {
			s.mu.Lock()
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.progress)})
			s.mu.Unlock()
		}
		if cond(l.BackupStatus()) {
			return
		}
		reflect.Select(cases)
	}
}
