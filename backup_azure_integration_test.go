package treeoflife

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup/azblob"
)

// These tests run the shipper against Azurite, the Azure Storage emulator,
// which scripts/test.sh installs with npm and starts, setting
// TOL_AZURE_ENDPOINT. They use Azurite's development account, whose name and
// key are public and work only against the emulator.

const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

func azureSink(t *testing.T, cfg azblob.Config) *azblob.Sink {
	t.Helper()
	cfg.Endpoint = requireEnv(t, "TOL_AZURE_ENDPOINT")
	cfg.Account, cfg.AccountKey = "devstoreaccount1", azuriteKey
	if cfg.Container == "" {
		cfg.Container = "tol-shipper"
	}
	s, err := azblob.New(context.Background(), cfg)
	require.NoError(t, err)
	if _, err := s.Client().Create(context.Background(), nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		require.NoError(t, err)
	}
	return s
}

// TestShipperAzure runs the shipper suite (ship under concurrent writes,
// resume, verify, restore, tampering found) against Azure Blob Storage.
func TestShipperAzure(t *testing.T) {
	runShipperSuite(t, func(t *testing.T) backupTarget {
		s := azureSink(t, azblob.Config{})
		return backupTarget{sink: s, prefix: randomPrefix(t), del: func(t *testing.T, key string) {
			_, err := s.Client().NewBlobClient(key).Delete(context.Background(), nil)
			require.NoError(t, err)
		}}
	})
}

// TestShipperAzureRestore ships an encrypted log to Azure, restores it into
// a new directory with the key, and reads every record back.
func TestShipperAzureRestore(t *testing.T) {
	ctx := context.Background()
	s := azureSink(t, azblob.Config{})
	prefix := randomPrefix(t)
	key := make([]byte, 32)
	key[0] = 7
	l := openT(t, t.TempDir(), Options{Backup: s, BackupPrefix: prefix, BackupBatchSize: 50, EncryptionKey: key})
	for i := range 300 {
		_, err := l.Audit("azure record", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.SyncBackup(ctx))
	st, err := l.Stats(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	dir := t.TempDir() + "/restored"
	got, err := RestoreBackup(ctx, s, dir, RestoreOptions{Prefix: prefix, Log: Options{EncryptionKey: key}})
	require.NoError(t, err)
	require.Equal(t, st.Head, got)
	r := openT(t, dir, Options{EncryptionKey: key})
	n := 0
	for e, err := range r.Entries(ctx, Filter{}) {
		require.NoError(t, err)
		require.Equal(t, "azure record", e.Message)
		require.EqualValues(t, float64(n), e.Metadata["i"])
		n++
	}
	require.Equal(t, 300, n)
}
