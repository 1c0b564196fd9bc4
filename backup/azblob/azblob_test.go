package azblob

// These tests run against Azurite, the Azure Storage emulator:
// scripts/test.sh installs it with npm, starts azurite-blob and sets
// TOL_AZURE_ENDPOINT (its blob service URL, with the well-known development
// account devstoreaccount1). Without TOL_AZURE_ENDPOINT they skip, unless
// TOL_REQUIRE_INTEGRATION=1, when they fail.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/backuptest"
)

// Azurite's development account: a public, documented name and key that
// work only against the emulator.
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func integrationEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("%s is not set, and TOL_REQUIRE_INTEGRATION=1 requires the Azure tests to run (scripts/test.sh installs Azurite with npm: is npm missing?)", name)
		}
		t.Skipf("%s is not set: run scripts/test.sh to test against Azurite (it needs npm)", name)
	}
	return v
}

func randomName(t *testing.T, prefix string) string {
	var b [4]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return prefix + hex.EncodeToString(b[:])
}

func connectionString(endpoint string) string {
	return "DefaultEndpointsProtocol=http;AccountName=" + devAccount + ";AccountKey=" + devKey + ";BlobEndpoint=" + endpoint + ";"
}

// testConfig returns a Config for Azurite's container (TOL_AZURE_CONTAINER,
// default tol-test), creating the container if needed.
func testConfig(t *testing.T) Config {
	t.Helper()
	endpoint := integrationEnv(t, "TOL_AZURE_ENDPOINT")
	name := os.Getenv("TOL_AZURE_CONTAINER")
	if name == "" {
		name = "tol-test"
	}
	cfg := Config{Container: name, Account: devAccount, AccountKey: devKey, Endpoint: endpoint}
	createContainer(t, cfg)
	return cfg
}

func createContainer(t *testing.T, cfg Config) {
	t.Helper()
	s := newTestSink(t, cfg)
	_, err := s.Client().Create(t.Context(), nil)
	if bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		err = nil
	}
	require.NoError(t, err, "creating container %q", cfg.Container)
}

func newTestSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(t.Context(), cfg)
	require.NoError(t, err)
	return s
}

func TestSink(t *testing.T) {
	cfg := testConfig(t)
	backuptest.RunSinkTests(t, func(t *testing.T) backup.Sink { return newTestSink(t, cfg) })
}

func TestSinkWithPrefix(t *testing.T) {
	cfg := testConfig(t)
	cfg.Prefix = randomName(t, "prefixed-") + "/logs/"
	backuptest.RunSinkTests(t, func(t *testing.T) backup.Sink { return newTestSink(t, cfg) })
}

// roundTrip puts and reads back one object through s.
func roundTrip(t *testing.T, s *Sink) {
	t.Helper()
	key := randomName(t, "roundtrip/")
	body := []byte("one batch")
	require.NoError(t, s.Put(t.Context(), key, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true, Metadata: map[string]string{"first-seq": "7"}}))
	rc, info, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, body, got)
	require.Equal(t, map[string]string{"first-seq": "7"}, info.Metadata)
}

// TestCredentials connects with each kind of credential Config takes: a
// connection string and a SAS token (the conformance suite uses the
// account key).
func TestCredentials(t *testing.T) {
	cfg := testConfig(t)
	t.Run("ConnectionString", func(t *testing.T) {
		roundTrip(t, newTestSink(t, Config{Container: cfg.Container, ConnectionString: connectionString(cfg.Endpoint)}))
	})
	t.Run("SASToken", func(t *testing.T) {
		u, err := newTestSink(t, cfg).Client().GetSASURL(
			sas.ContainerPermissions{Read: true, Write: true, Create: true, List: true},
			time.Now().Add(time.Hour), nil)
		require.NoError(t, err)
		_, token, ok := strings.Cut(u, "?")
		require.True(t, ok, "SAS URL %q has no query", u)
		roundTrip(t, newTestSink(t, Config{Container: cfg.Container, Endpoint: cfg.Endpoint, SASToken: "?" + token}))
	})
	t.Run("WrongKey", func(t *testing.T) {
		bad := cfg
		bad.AccountKey = strings.Repeat("A", len(devKey)-2) + "=="
		s := newTestSink(t, bad)
		body := []byte("x")
		err := s.Put(t.Context(), randomName(t, "wrongkey/"), body, sha256.Sum256(body), backup.PutOptions{})
		require.Error(t, err)
		require.NotErrorIs(t, err, backup.ErrExist)
		require.Contains(t, err.Error(), "403")
	})
}

// TestStoreChecksMD5 sends a wrong Content-MD5 with a body whose SHA-256 is
// right, which only the store can notice.
func TestStoreChecksMD5(t *testing.T) {
	s := newTestSink(t, testConfig(t))
	key := randomName(t, "wrong-md5/")
	body := []byte("body whose MD5 is sent wrong")
	wrong := md5.Sum(body)
	wrong[0] ^= 1
	err := s.put(t.Context(), key, body, wrong[:], sha256.Sum256(body), backup.PutOptions{})
	require.ErrorIs(t, err, backup.ErrChecksum)
	_, err = s.Stat(t.Context(), key)
	require.ErrorIs(t, err, backup.ErrNotExist)
}

// TestStoredAttributes reads what Put stored with the SDK directly: the
// MD5, the SHA-256 and user metadata under Azure names, the content type.
func TestStoredAttributes(t *testing.T) {
	cfg := testConfig(t)
	s := newTestSink(t, cfg)
	key := randomName(t, "attrs/")
	body := []byte("stored attributes")
	sum := sha256.Sum256(body)
	require.NoError(t, s.Put(t.Context(), key, body, sum, backup.PutOptions{Metadata: map[string]string{"last-seq": "9"}}))

	p, err := s.Client().NewBlobClient(key).GetProperties(t.Context(), nil)
	require.NoError(t, err)
	m := md5.Sum(body)
	require.Equal(t, m[:], p.ContentMD5)
	require.Equal(t, "application/octet-stream", *p.ContentType)
	require.Equal(t, map[string]string{"last-seq": "9", "tol-sha256": hex.EncodeToString(sum[:])}, fromAzure(p.Metadata))
	var names []string
	for k := range p.Metadata {
		names = append(names, strings.ToLower(k))
	}
	require.ElementsMatch(t, []string{"last_seq", "tol_sha256"}, names, "Azure metadata names hold no '-'")
}

// TestGetDetectsDamage overwrites a blob behind the sink's back with a body
// that does not match the SHA-256 in its metadata.
func TestGetDetectsDamage(t *testing.T) {
	s := newTestSink(t, testConfig(t))
	key := randomName(t, "damaged/")
	body := []byte("original body")
	sum := sha256.Sum256(body)
	require.NoError(t, s.Put(t.Context(), key, body, sum, backup.PutOptions{}))

	_, err := s.Client().NewBlockBlobClient(key).Upload(t.Context(),
		streaming.NopCloser(bytes.NewReader([]byte("tampered body"))),
		&blockblob.UploadOptions{Metadata: map[string]*string{"tol_sha256": to.Ptr(hex.EncodeToString(sum[:]))}})
	require.NoError(t, err)

	rc, _, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	_, err = io.ReadAll(rc)
	require.ErrorIs(t, err, backup.ErrChecksum)
	require.NoError(t, rc.Close())
}

func TestConfigErrors(t *testing.T) {
	key := Config{Container: "c", Account: "a", AccountKey: devKey}
	with := func(f func(*Config)) Config { c := key; f(&c); return c }
	tests := []struct {
		want string
		cfg  Config
	}{
		{"Config.Container", Config{}},
		{"no credential", Config{Container: "c", Account: "a"}},
		{"only one", with(func(c *Config) { c.SASToken = "sig=x" })},
		{"Config.Account", Config{Container: "c", AccountKey: devKey}},
		{"Config.ConnectionString excludes", Config{Container: "c", ConnectionString: connectionString("http://x"), Endpoint: "http://x"}},
		{"Config.Account or Config.Endpoint", Config{Container: "c", SASToken: "sig=x"}},
		{"Config.Prefix", with(func(c *Config) { c.Prefix = "x" })},
		{"Config.ImmutabilityMode", with(func(c *Config) { c.ImmutabilityMode = "Forever"; c.ImmutabilityPeriod = time.Hour })},
		{"Config.ImmutabilityPeriod", with(func(c *Config) { c.ImmutabilityMode = ImmutabilityLocked })},
		{"Config.ImmutabilityPeriod", with(func(c *Config) { c.ImmutabilityPeriod = time.Hour })},
		{"Config.MaxAttempts", with(func(c *Config) { c.MaxAttempts = -2 })},
	}
	for _, tc := range tests {
		_, err := New(t.Context(), tc.cfg)
		require.ErrorContains(t, err, tc.want, "%+v", tc.cfg)
	}
	c := key
	require.NoError(t, c.setDefaults())
	require.Equal(t, "https://a.blob.core.windows.net", c.Endpoint)
}

func TestConfigFromEnv(t *testing.T) {
	for _, v := range []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN"} {
		t.Setenv(v, "")
	}
	t.Setenv("AZURE_STORAGE_CONTAINER", "logs")
	t.Setenv("AZURE_STORAGE_ACCOUNT", devAccount)
	t.Setenv("AZURE_STORAGE_KEY", devKey)
	t.Setenv("AZURE_STORAGE_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1")
	t.Setenv("AZURE_STORAGE_IMMUTABILITY_MODE", "Locked")
	t.Setenv("AZURE_STORAGE_IMMUTABILITY_PERIOD", "61368h")
	t.Setenv("AZURE_STORAGE_LEGAL_HOLD", "true")
	cfg, err := ConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, Config{
		Container: "logs", Account: devAccount, AccountKey: devKey,
		Endpoint:         "http://127.0.0.1:10000/devstoreaccount1",
		ImmutabilityMode: ImmutabilityLocked, ImmutabilityPeriod: 61368 * time.Hour, LegalHold: true,
	}, cfg)

	s, err := backup.Open(t.Context(), Type)
	require.NoError(t, err)
	require.Equal(t, "logs", s.(*Sink).Container())

	t.Setenv("AZURE_STORAGE_LEGAL_HOLD", "maybe")
	_, err = ConfigFromEnv()
	require.ErrorContains(t, err, "AZURE_STORAGE_LEGAL_HOLD")
	t.Setenv("AZURE_STORAGE_LEGAL_HOLD", "")
	t.Setenv("AZURE_STORAGE_IMMUTABILITY_PERIOD", "7y")
	_, err = ConfigFromEnv()
	require.ErrorContains(t, err, "AZURE_STORAGE_IMMUTABILITY_PERIOD")
	t.Setenv("AZURE_STORAGE_IMMUTABILITY_PERIOD", "")
	t.Setenv("AZURE_STORAGE_IMMUTABILITY_MODE", "")

	// A connection string takes the place of the account variables.
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", connectionString("http://127.0.0.1:10000/devstoreaccount1"))
	cfg, err = ConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, Config{Container: "logs", ConnectionString: connectionString("http://127.0.0.1:10000/devstoreaccount1")}, cfg)
	_, err = New(t.Context(), cfg)
	require.NoError(t, err)

	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	t.Setenv("AZURE_STORAGE_KEY", "")
	_, err = ConfigFromEnv()
	require.ErrorContains(t, err, "AZURE_STORAGE_KEY")

	t.Setenv("AZURE_STORAGE_CONTAINER", "")
	_, err = backup.Open(t.Context(), Type)
	require.ErrorContains(t, err, "AZURE_STORAGE_CONTAINER")
}

// TestOutageFailsFast checks the retry settings: a Put to a store that is
// down returns its error well within 3s (the SDK retries once or twice, a
// short wait apart), so that the shipper reports the outage at once.
func TestOutageFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s := newTestSink(t, Config{Container: "down", Account: devAccount, AccountKey: devKey, Endpoint: "http://" + addr + "/" + devAccount})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	body := []byte("record")
	err = s.Put(ctx, "batches/1", body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true})
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Put returned only when the deadline passed: %v", err)
	_, err = s.Stat(ctx, "batches/1")
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Stat returned only when the deadline passed: %v", err)
}

// TestProtectionNotApplied checks the sink against a store that ignores
// immutability policies and legal holds, as Azurite does: the first
// protected Put fails with ErrNotProtected, every later one fails before
// storing anything, and Mutable Puts (the lease) go on.
func TestProtectionNotApplied(t *testing.T) {
	cfg := testConfig(t)
	for name, set := range map[string]func(*Config){
		"Immutability": func(c *Config) { c.ImmutabilityMode, c.ImmutabilityPeriod = ImmutabilityUnlocked, time.Hour },
		"LegalHold":    func(c *Config) { c.LegalHold = true },
	} {
		t.Run(name, func(t *testing.T) {
			c := cfg
			set(&c)
			s := newTestSink(t, c)
			body := []byte("batch")
			first, second := randomName(t, "protect/"), randomName(t, "protect/")
			err := s.Put(t.Context(), first, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true})
			require.ErrorIs(t, err, ErrNotProtected)
			err = s.Put(t.Context(), second, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true})
			require.ErrorIs(t, err, ErrNotProtected)
			_, err = s.Stat(t.Context(), second)
			require.ErrorIs(t, err, backup.ErrNotExist, "a Put refused for want of protection stores nothing")
			roundTripMutable := randomName(t, "protect/lease-")
			require.NoError(t, s.Put(t.Context(), roundTripMutable, body, sha256.Sum256(body), backup.PutOptions{Mutable: true}))
		})
	}
}

// TestListDeletedWithoutVersions deletes a blob on Azurite, which keeps no
// versions: List no longer shows it and ListDeleted, which asks for
// versions and soft-deleted blobs, has nothing to yield.
func TestListDeletedWithoutVersions(t *testing.T) {
	cfg := testConfig(t)
	cfg.Prefix = randomName(t, "versions-") + "/"
	s := newTestSink(t, cfg)
	body := []byte("batch")
	for _, k := range []string{"b/1", "b/2"} {
		require.NoError(t, s.Put(t.Context(), k, body, sha256.Sum256(body), backup.PutOptions{IfNotExists: true}))
	}
	_, err := s.Client().NewBlobClient(cfg.Prefix+"b/2").Delete(t.Context(), nil)
	require.NoError(t, err)
	var live []string
	for info, err := range s.List(t.Context(), "b/") {
		require.NoError(t, err)
		live = append(live, info.Key)
	}
	require.Equal(t, []string{"b/1"}, live)
	for info, err := range s.ListDeleted(t.Context(), "b/") {
		require.NoError(t, err)
		t.Errorf("ListDeleted yielded %q on a store without versions", info.Key)
	}
}
