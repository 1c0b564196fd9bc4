package sinkutil

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
)

func TestVerifyingReader(t *testing.T) {
	body := []byte("the body of an object")
	sum := sha256.Sum256(body)
	open := func(b []byte) io.ReadCloser { return io.NopCloser(iotest.OneByteReader(bytes.NewReader(b))) }

	got, err := io.ReadAll(VerifyingReader(open(body), sum[:], int64(len(body)), "t"))
	require.NoError(t, err)
	require.Equal(t, body, got)

	damaged := bytes.Clone(body)
	damaged[3] ^= 1
	_, err = io.ReadAll(VerifyingReader(open(damaged), sum[:], int64(len(body)), "t"))
	require.ErrorIs(t, err, backup.ErrChecksum)

	_, err = io.ReadAll(VerifyingReader(open(body[:5]), sum[:], int64(len(body)), "t"))
	require.ErrorIs(t, err, backup.ErrChecksum, "short body")

	// Without a checksum the reader is returned as is.
	rc := open(body)
	require.Equal(t, rc, VerifyingReader(rc, nil, 0, "t"))
}

// sdkBody fails at the end of the body with its own checksum error, as the
// AWS SDK and the GCS library do, instead of returning io.EOF.
type sdkBody struct {
	r   io.Reader
	err error
}

func (b *sdkBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, b.err
	}
	return n, err
}

func (b *sdkBody) Close() error { return nil }

func TestVerifyingReaderMapsSDKChecksumErrors(t *testing.T) {
	body := []byte("the body of an object")
	sum := sha256.Sum256(body)
	sdkErr := errors.New("checksum did not match")

	damaged := bytes.Clone(body)
	damaged[0] ^= 1
	_, err := io.ReadAll(VerifyingReader(&sdkBody{bytes.NewReader(damaged), sdkErr}, sum[:], int64(len(body)), "t"))
	require.ErrorIs(t, err, backup.ErrChecksum)
	require.ErrorIs(t, err, sdkErr)

	// A body that matches keeps the SDK's error: something else went wrong.
	_, err = io.ReadAll(VerifyingReader(&sdkBody{bytes.NewReader(body), sdkErr}, sum[:], int64(len(body)), "t"))
	require.ErrorIs(t, err, sdkErr)
	require.NotErrorIs(t, err, backup.ErrChecksum)
}

func TestMetadataHelpers(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	md := StoredMetadata(map[string]string{"a": "1"}, sum)
	require.Equal(t, sum[:], SumFromMetadata(md))
	require.Equal(t, map[string]string{"a": "1"}, UserMetadata(md))
	require.Nil(t, UserMetadata(map[string]string{SHA256MetadataKey: "x"}))
	require.Nil(t, SumFromMetadata(map[string]string{SHA256MetadataKey: "not hex"}))
	require.Equal(t, sum[:], SumFromMetadata(map[string]string{"Tol-Sha256": md[SHA256MetadataKey]}), "S3 may change the case")
}
