package treeoflife

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"

	"github.com/treeoflife/treeoflife/backup/azblob"
	"github.com/treeoflife/treeoflife/backup/gcs"
)

// Erasure is final on each real store: MinIO with Object Lock (so with
// versioning: the tenant key's every version is deleted, while the batches
// stay retained), fake-gcs-server, and Azurite.

func TestEraseIsFinalS3ObjectLock(t *testing.T) {
	endpoint := requireEnv(t, "TOL_S3_ENDPOINT")
	s := s3Sink(t, endpoint, "tol-erase-"+randomPrefix(t)[:8], true)
	testEraseIsFinal(t, s, randomPrefix(t))
}

func TestEraseIsFinalGCS(t *testing.T) {
	endpoint := requireEnv(t, "TOL_GCS_ENDPOINT")
	bucket := requireEnv(t, "TOL_GCS_BUCKET")
	s := gcsTestSink(t, endpoint, bucket)
	testEraseIsFinal(t, s, randomPrefix(t))
}

func TestEraseIsFinalAzure(t *testing.T) {
	testEraseIsFinal(t, azureSink(t, azblob.Config{}), randomPrefix(t))
}

// gcsTestSink is a sink on the fake-gcs-server bucket, which it creates if
// need be.
func gcsTestSink(t *testing.T, endpoint, bucket string) *gcs.Sink {
	t.Helper()
	s, err := gcs.New(context.Background(), gcs.Config{Bucket: bucket, Endpoint: endpoint})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	err = s.Client().Bucket(bucket).Create(context.Background(), "tol-test-project", nil)
	var gerr *googleapi.Error
	if !(errors.As(err, &gerr) && gerr.Code == http.StatusConflict) {
		require.NoError(t, err)
	}
	return s
}
