package s3

// These tests run against a real S3-compatible server: scripts/test.sh
// starts MinIO and sets TOL_S3_ENDPOINT, TOL_S3_BUCKET, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_REGION. Without TOL_S3_ENDPOINT they skip,
// unless TOL_REQUIRE_INTEGRATION=1, when they fail.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/backuptest"
)

func integrationEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("%s is not set, and TOL_REQUIRE_INTEGRATION=1 requires the S3 tests to run", name)
		}
		t.Skipf("%s is not set: run scripts/test.sh to test against MinIO", name)
	}
	return v
}

func randomName(t *testing.T, prefix string) string {
	var b [4]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return prefix + hex.EncodeToString(b[:])
}

// testConfig returns a Config for the test server's bucket, creating the
// bucket if needed.
func testConfig(t *testing.T) Config {
	t.Helper()
	endpoint := integrationEnv(t, "TOL_S3_ENDPOINT")
	cfg := Config{
		Bucket:       integrationEnv(t, "TOL_S3_BUCKET"),
		Endpoint:     endpoint,
		Region:       os.Getenv("AWS_REGION"),
		UsePathStyle: true,
	}
	createBucket(t, cfg, false)
	return cfg
}

func newTestSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(t.Context(), cfg)
	require.NoError(t, err)
	return s
}

func createBucket(t *testing.T, cfg Config, objectLock bool) {
	t.Helper()
	s := newTestSink(t, cfg)
	in := &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	_, err := s.client.CreateBucket(t.Context(), in)
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return
	}
	require.NoError(t, err, "creating bucket %q", cfg.Bucket)
}

func TestSink(t *testing.T) {
	cfg := testConfig(t)
	backuptest.RunSinkTests(t, func(t *testing.T) backup.Sink { return newTestSink(t, cfg) })
}

// TestSinkWithPrefix runs the suite again with Config.Prefix, which every
// method must add and List must strip.
func TestSinkWithPrefix(t *testing.T) {
	cfg := testConfig(t)
	cfg.Prefix = randomName(t, "prefixed-") + "/logs/"
	backuptest.RunSinkTests(t, func(t *testing.T) backup.Sink { return newTestSink(t, cfg) })
}

// TestStoreChecksWrongChecksum shows that the store, not the sink, refuses a
// body that does not match its x-amz-checksum-sha256.
func TestStoreChecksWrongChecksum(t *testing.T) {
	s := newTestSink(t, testConfig(t))
	key := randomName(t, "wrong-sum/")
	err := s.Put(t.Context(), key, []byte("body"), sha256.Sum256([]byte("other")), backup.PutOptions{})
	require.ErrorIs(t, err, backup.ErrChecksum)
	var apiErr smithy.APIError
	require.ErrorAs(t, err, &apiErr, "the refusal must come from the server")
	t.Logf("server said %s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
	// The request is signed with the caller's sum as x-amz-content-sha256
	// (payloadHash): had the SDK hashed the body itself, that header would
	// match and only the checksum header would be refused.
	require.Equal(t, "XAmzContentSHA256Mismatch", apiErr.ErrorCode())
}

func TestMultipart(t *testing.T) {
	cfg := testConfig(t)
	cfg.MultipartThreshold = MinPartSize + 1
	cfg.PartSize = MinPartSize
	s := newTestSink(t, cfg)

	body := make([]byte, 2*MinPartSize+12345) // three parts
	_, err := rand.Read(body)
	require.NoError(t, err)
	sum := sha256.Sum256(body)
	key := randomName(t, "multipart/") + "/big"
	md := map[string]string{"kind": "segment"}

	require.NoError(t, s.Put(t.Context(), key, body, sum, backup.PutOptions{IfNotExists: true, Metadata: md}))

	rc, info, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.True(t, bytes.Equal(body, got), "body round trip")
	require.Equal(t, sum[:], info.SHA256)
	require.Equal(t, md, info.Metadata, "the reserved SHA-256 key is not shown")
	require.Equal(t, int64(len(body)), info.Size)

	st, err := s.Stat(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, sum[:], st.SHA256)

	// Conditional create of an existing key, big or small.
	err = s.Put(t.Context(), key, body, sum, backup.PutOptions{IfNotExists: true})
	require.ErrorIs(t, err, backup.ErrExist)
	err = s.Put(t.Context(), key, []byte("small"), sha256.Sum256([]byte("small")), backup.PutOptions{IfNotExists: true})
	require.ErrorIs(t, err, backup.ErrExist)

	// A wrong SHA-256 is refused before anything is sent.
	err = s.Put(t.Context(), key+"-2", body, sha256.Sum256(nil), backup.PutOptions{})
	require.ErrorIs(t, err, backup.ErrChecksum)
	_, err = s.Stat(t.Context(), key+"-2")
	require.ErrorIs(t, err, backup.ErrNotExist)

	// Overwrite with a multipart body.
	body[0] ^= 1
	sum = sha256.Sum256(body)
	require.NoError(t, s.Put(t.Context(), key, body, sum, backup.PutOptions{}))
	st, err = s.Stat(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, sum[:], st.SHA256)

	// No upload is left open.
	ups, err := s.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(cfg.Bucket), Prefix: aws.String(key),
	})
	require.NoError(t, err)
	require.Empty(t, ups.Uploads)
}

// TestObjectLockRefusesDelete puts an object with COMPLIANCE retention into
// a bucket created with Object Lock and checks that the store refuses to
// delete that version.
func TestObjectLockRefusesDelete(t *testing.T) {
	base := testConfig(t)
	cfg := base
	cfg.Bucket = randomName(t, "tol-lock-")
	createBucket(t, cfg, true)
	cfg.ObjectLockMode = ObjectLockCompliance
	// Long enough for the test; the version outlives the test by this much.
	cfg.ObjectLockRetention = 10 * time.Minute
	s := newTestSink(t, cfg)

	key := "checkpoints/00000001"
	body := []byte("signed checkpoint")
	start := time.Now()
	require.NoError(t, s.Put(t.Context(), key, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true}))

	head, err := s.client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
	require.NoError(t, err)
	require.Equal(t, types.ObjectLockModeCompliance, head.ObjectLockMode)
	require.NotNil(t, head.ObjectLockRetainUntilDate)
	require.WithinRange(t, *head.ObjectLockRetainUntilDate, start.Add(cfg.ObjectLockRetention-time.Minute), time.Now().Add(cfg.ObjectLockRetention+time.Minute))
	require.NotEmpty(t, aws.ToString(head.VersionId))

	// Deleting the version is refused, also with the governance bypass.
	for _, bypass := range []bool{false, true} {
		_, err = s.client.DeleteObject(t.Context(), &s3.DeleteObjectInput{
			Bucket:                    aws.String(cfg.Bucket),
			Key:                       aws.String(key),
			VersionId:                 head.VersionId,
			BypassGovernanceRetention: aws.Bool(bypass),
		})
		require.Error(t, err, "deleting a COMPLIANCE-retained version must fail (bypass=%v)", bypass)
		var apiErr smithy.APIError
		require.ErrorAs(t, err, &apiErr)
		// AWS says AccessDenied; MinIO says InvalidRequest to the bypass.
		require.Contains(t, []string{"AccessDenied", "InvalidRequest"}, apiErr.ErrorCode(), apiErr.ErrorMessage())
		t.Logf("delete (bypass=%v) refused: %s: %s", bypass, apiErr.ErrorCode(), apiErr.ErrorMessage())
		_, err = s.client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key), VersionId: head.VersionId})
		require.NoError(t, err, "the version must still exist")
	}

	// Shortening the retention is refused too.
	_, err = s.client.PutObjectRetention(t.Context(), &s3.PutObjectRetentionInput{
		Bucket:    aws.String(cfg.Bucket),
		Key:       aws.String(key),
		VersionId: head.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(time.Second))},
	})
	require.Error(t, err, "shortening COMPLIANCE retention must fail")

	// A plain DELETE only adds a delete marker; the version is still there.
	_, err = s.client.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
	require.NoError(t, err)
	out, err := s.client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key), VersionId: head.VersionId})
	require.NoError(t, err)
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	require.NoError(t, err)
	require.Equal(t, body, got)
}

// TestSSE needs a server with a KMS (scripts/test.sh gives MinIO a static
// key and sets TOL_S3_SSE=1).
func TestSSE(t *testing.T) {
	cfg := testConfig(t)
	if os.Getenv("TOL_S3_SSE") != "1" {
		t.Skip("TOL_S3_SSE is not 1: the server may have no KMS for SSE-S3")
	}
	cfg.SSE = SSES3
	s := newTestSink(t, cfg)
	key := randomName(t, "sse/")
	body := []byte("encrypted at rest")
	require.NoError(t, s.Put(t.Context(), key, body, sha256.Sum256(body), backup.PutOptions{}))
	head, err := s.client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
	require.NoError(t, err)
	require.Equal(t, types.ServerSideEncryptionAes256, head.ServerSideEncryption)
	rc, _, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, body, got)
}

func TestConfigErrors(t *testing.T) {
	ok := Config{Bucket: "b", Endpoint: "http://127.0.0.1:1", Region: "us-east-1"}
	tests := []struct {
		field string
		edit  func(*Config)
	}{
		{"Config.Bucket", func(c *Config) { c.Bucket = "" }},
		{"Config.Prefix", func(c *Config) { c.Prefix = "no-slash" }},
		{"Config.Prefix", func(c *Config) { c.Prefix = "../up/" }},
		{"Config.SSE", func(c *Config) { c.SSE = "rot13" }},
		{"Config.KMSKeyID", func(c *Config) { c.SSE = SSES3; c.KMSKeyID = "k" }},
		{"Config.ObjectLockMode", func(c *Config) { c.ObjectLockMode = "FOREVER"; c.ObjectLockRetention = time.Hour }},
		{"Config.ObjectLockRetention", func(c *Config) { c.ObjectLockMode = ObjectLockCompliance }},
		{"Config.ObjectLockRetention", func(c *Config) { c.ObjectLockRetention = time.Hour }},
		{"Config.PartSize", func(c *Config) { c.PartSize = 1 << 20 }},
		{"Config.MaxAttempts", func(c *Config) { c.MaxAttempts = -1 }},
	}
	for _, tc := range tests {
		cfg := ok
		tc.edit(&cfg)
		_, err := New(t.Context(), cfg)
		require.ErrorContains(t, err, tc.field)
	}
	s, err := New(t.Context(), Config{Bucket: "b", Prefix: "a/b/", SSE: SSEKMS, KMSKeyID: "k", ObjectLockMode: ObjectLockGovernance, ObjectLockRetention: time.Hour})
	require.NoError(t, err)
	require.Equal(t, int64(DefaultMultipartThreshold), s.cfg.MultipartThreshold)

	// The prefix counts against the key length.
	long := strings.Repeat("k", backup.MaxKeyLen-2)
	err = s.Put(t.Context(), long, nil, sha256.Sum256(nil), backup.PutOptions{})
	require.ErrorIs(t, err, backup.ErrInvalidKey)
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("S3_BUCKET", "logs")
	t.Setenv("S3_REGION", "eu-west-1")
	t.Setenv("S3_ENDPOINT", "http://127.0.0.1:9000")
	t.Setenv("S3_FORCE_PATH_STYLE", "")
	t.Setenv("S3_SSE", "aws:kms")
	t.Setenv("S3_KMS_KEY_ID", "alias/logs")
	t.Setenv("S3_OBJECT_LOCK_MODE", "COMPLIANCE")
	t.Setenv("S3_OBJECT_LOCK_RETENTION", "2160h")
	cfg, err := ConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, Config{
		Bucket: "logs", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000", UsePathStyle: true,
		SSE: SSEKMS, KMSKeyID: "alias/logs", ObjectLockMode: ObjectLockCompliance, ObjectLockRetention: 2160 * time.Hour,
	}, cfg)

	s, err := backup.Open(t.Context(), Type)
	require.NoError(t, err)
	require.Equal(t, "logs", s.(*Sink).Bucket())

	t.Setenv("S3_FORCE_PATH_STYLE", "false")
	cfg, err = ConfigFromEnv()
	require.NoError(t, err)
	require.False(t, cfg.UsePathStyle)

	t.Setenv("S3_OBJECT_LOCK_RETENTION", "90 days")
	_, err = ConfigFromEnv()
	require.ErrorContains(t, err, "S3_OBJECT_LOCK_RETENTION")

	t.Setenv("S3_BUCKET", "")
	_, err = backup.Open(t.Context(), Type)
	require.ErrorContains(t, err, "S3_BUCKET")
}

// closedPort returns the address of a loopback port that nothing listens
// on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestOutageFailsFast checks the retry settings: a Put to a store that is
// down returns its error well within 3s (the SDK retries once or twice, a
// short wait apart), so that the shipper reports the outage at once.
func TestOutageFailsFast(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "outage")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "outage-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	s := newTestSink(t, Config{Bucket: "down", Endpoint: "http://" + closedPort(t), UsePathStyle: true})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	body := []byte("record")
	err := s.Put(ctx, "batches/1", body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true})
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Put returned only when the deadline passed: %v", err)
	_, err = s.Stat(ctx, "batches/1")
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Stat returned only when the deadline passed: %v", err)
}

// TestListDeleted deletes objects in a bucket with Object Lock (hence
// versioning), where a plain DELETE adds a delete marker: List no longer
// shows them, ListDeleted does. An object deleted and put again, and one
// never deleted, are not listed; a sink with a prefix strips it.
func TestListDeleted(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bucket = randomName(t, "tol-versions-")
	createBucket(t, cfg, true)
	cfg.Prefix = "p/"
	s := newTestSink(t, cfg)
	ctx := t.Context()
	body := []byte("batch")
	for _, k := range []string{"b/1", "b/2", "b/3", "b/4"} {
		require.NoError(t, s.Put(ctx, k, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true}))
	}
	del := func(key string) {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(cfg.Prefix + key)})
		require.NoError(t, err)
	}
	del("b/2")
	del("b/4")
	del("b/3")
	require.NoError(t, s.Put(ctx, "b/3", body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true}))
	del("b/none") // a delete marker for a key that never held data

	var got []string
	for info, err := range s.ListDeleted(ctx, "b/") {
		require.NoError(t, err)
		require.Equal(t, int64(len(body)), info.Size)
		got = append(got, info.Key)
	}
	require.Equal(t, []string{"b/2", "b/4"}, got)

	// On a bucket without versioning, a deleted object is gone.
	plain := newTestSink(t, testConfig(t))
	k := randomName(t, "unversioned/")
	require.NoError(t, plain.Put(ctx, k, body, sha256.Sum256(body), backup.PutOptions{}))
	_, err := plain.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(plain.cfg.Bucket), Key: aws.String(k)})
	require.NoError(t, err)
	for _, err := range plain.ListDeleted(ctx, k) {
		require.NoError(t, err)
		t.Fatal("an unversioned bucket keeps no deleted object")
	}
}
