package s3

import (
	"crypto/sha256"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife/backup"
)

// TestSinkFromAWSConfigAndClient: a sink built from the caller's aws.Config,
// or from the caller's own *s3.Client, reaches the same server and bucket as
// one built from Config's fields.
func TestSinkFromAWSConfigAndClient(t *testing.T) {
	base := testConfig(t)
	awsCfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"))
	require.NoError(t, err)
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(base.Endpoint)
		o.UsePathStyle = true
	})
	sinks := map[string]Config{
		"AWS":    {Bucket: base.Bucket, AWS: &awsCfg, Endpoint: base.Endpoint, UsePathStyle: true},
		"Client": {Bucket: base.Bucket, Client: client},
	}
	for name, cfg := range sinks {
		s, err := New(t.Context(), cfg)
		require.NoError(t, err, name)
		key := randomName(t, "cfg-"+name+"-")
		body := []byte("from " + name)
		require.NoError(t, s.Put(t.Context(), key, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true}), name)
		// Read back through a sink built from Config's own fields.
		rc, _, err := newTestSink(t, base).Get(t.Context(), key)
		require.NoError(t, err, name)
		got, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		require.Equal(t, body, got, name)
	}
	// The caller's config is copied, not changed: the sink's retryer and
	// region go into the copy.
	require.Nil(t, awsCfg.Retryer)
}

func TestConfigClientExcludesOtherSettings(t *testing.T) {
	client := s3.New(s3.Options{Region: "us-east-1"})
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Config.AWS", func(c *Config) { c.AWS = &aws.Config{} }},
		{"Config.Region", func(c *Config) { c.Region = "eu-west-1" }},
		{"Config.Region, Endpoint", func(c *Config) { c.Endpoint = "http://127.0.0.1:1" }},
		{"Config.MaxAttempts", func(c *Config) { c.MaxAttempts = 2 }},
	} {
		cfg := Config{Bucket: "b", Client: client}
		tc.edit(&cfg)
		_, err := New(t.Context(), cfg)
		require.ErrorContains(t, err, tc.field)
	}
	s, err := New(t.Context(), Config{Bucket: "b", Client: client})
	require.NoError(t, err)
	require.Same(t, client, s.client)
}
