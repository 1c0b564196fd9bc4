package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/azblob"
)

// TestAzureBackup runs the backup commands against Azurite, configured as
// an operator would: BACKUP_PROVIDER=azure with the Azure variables, and an
// az://CONTAINER/PREFIX anchor. scripts/test.sh starts Azurite and sets
// TOL_AZURE_ENDPOINT (with the emulator's public development account).
func TestAzureBackup(t *testing.T) {
	endpoint := os.Getenv("TOL_AZURE_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("TOL_AZURE_ENDPOINT is not set, and TOL_REQUIRE_INTEGRATION=1 requires the Azure tests to run (is npm missing?)")
		}
		t.Skip("TOL_AZURE_ENDPOINT is not set: run scripts/test.sh to test against Azurite")
	}
	const devKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	ctx := t.Context()
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	prefix := "cli-" + hex.EncodeToString(b[:])
	sink, err := azblob.New(ctx, azblob.Config{Container: "tol-cli", Account: "devstoreaccount1", AccountKey: devKey, Endpoint: endpoint})
	require.NoError(t, err)
	if _, err := sink.Client().Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		require.NoError(t, err)
	}

	skey, vkey, err := treeoflife.GenerateSigningKey("cli-azure")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	dir := t.TempDir()
	l, err := treeoflife.Open(dir, treeoflife.Options{Signer: signer, Backup: sink, BackupPrefix: prefix, BackupBatchSize: 10})
	require.NoError(t, err)
	for i := range 25 {
		_, err := l.Audit("event "+strconv.Itoa(i), nil)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	t.Setenv("BACKUP_PROVIDER", "azure")
	t.Setenv("BACKUP_PREFIX", prefix)
	t.Setenv("AZURE_STORAGE_CONTAINER", "tol-cli")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="+devKey+";BlobEndpoint="+endpoint+";")

	code, out, stderr := runCLI(t, "verify-backup", "--key", vkey)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "OK, 25 records")

	restored := filepath.Join(t.TempDir(), "restored")
	code, out, stderr = runCLI(t, "restore", restored)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "OK, 25 records")

	code, out, stderr = runCLI(t, "verify", "--key", vkey, "--anchor", "az://tol-cli/"+prefix, "--require-signed", dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "OK, 25 records")
	require.Contains(t, out, "backup "+prefix+": 25 records, signed by cli-azure")

	// The anchor is read from the container the URL names.
	code, _, stderr = runCLI(t, "verify", "--key", vkey, "--anchor", "az://no-such-container/"+prefix, dir)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "ContainerNotFound")
}
