package s3

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife/backup"
)

// TestDeleteInObjectLockBucket: in a bucket with Object Lock (hence
// versioning), a mutable object is deleted with every version, so that
// nothing of it can be read again, while a retained object still refuses.
func TestDeleteInObjectLockBucket(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bucket = randomName(t, "tol-lock-")
	createBucket(t, cfg, true)
	cfg.ObjectLockMode = ObjectLockCompliance
	cfg.ObjectLockRetention = 10 * time.Minute
	s := newTestSink(t, cfg)
	ctx := t.Context()

	key := "tenant-keys/acme"
	for _, v := range []string{"key v1", "key v2", "key v3"} {
		require.NoError(t, s.Put(ctx, key, []byte(v), sha256.Sum256([]byte(v)), backup.PutOptions{Mutable: true}))
	}
	out, err := s.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(key)})
	require.NoError(t, err)
	require.Len(t, out.Versions, 3, "a versioned bucket keeps every version")

	require.NoError(t, s.Delete(ctx, key))
	out, err = s.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(key)})
	require.NoError(t, err)
	require.Empty(t, out.Versions, "no version left")
	require.Empty(t, out.DeleteMarkers, "no delete marker left")
	_, err = s.Stat(ctx, key)
	require.ErrorIs(t, err, backup.ErrNotExist)

	// A batch under retention cannot be deleted.
	locked := "batches/0-9"
	require.NoError(t, s.Put(ctx, locked, []byte("frames"), sha256.Sum256([]byte("frames")), backup.PutOptions{IfNotExists: true}))
	require.Error(t, s.Delete(ctx, locked))
	_, err = s.Stat(ctx, locked)
	require.NoError(t, err, "the retained object is still there")
}
