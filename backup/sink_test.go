package backup_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
)

func TestSentinelsMatchIOFS(t *testing.T) {
	err := fmt.Errorf("s3: get %q: %w", "k", backup.ErrNotExist)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, err, backup.ErrNotExist)
	require.NotErrorIs(t, err, backup.ErrExist)

	err = fmt.Errorf("s3: put %q: %w", "k", backup.ErrExist)
	require.ErrorIs(t, err, fs.ErrExist)
	require.NotErrorIs(t, err, fs.ErrNotExist)
	require.False(t, errors.Is(backup.ErrChecksum, fs.ErrNotExist))
}

func TestValidateKey(t *testing.T) {
	good := []string{
		"a", "a/b", "seg/00000000000000000001-00000000000000001000.tolb",
		"tenant-42/checkpoints/0001", "x.y", "a..b", "with:colon=and+plus~", strings.Repeat("k", backup.MaxKeyLen),
	}
	for _, k := range good {
		require.NoError(t, backup.ValidateKey(k), "%q", k)
	}
	bad := []string{
		"", "/a", "a/", "a//b", ".", "..", "../a", "a/..", "a/../b", "./a", "a/.b", ".hidden",
		"sp ace", "tab\t", "nl\n", "back\\slash", "ünicode", "del\x7f", strings.Repeat("k", backup.MaxKeyLen+1),
	}
	for _, k := range bad {
		require.ErrorIs(t, backup.ValidateKey(k), backup.ErrInvalidKey, "%q", k)
	}
}

func TestValidateMetadata(t *testing.T) {
	require.NoError(t, backup.ValidateMetadata(nil))
	require.NoError(t, backup.ValidateMetadata(map[string]string{
		"first-seq": "1", "log-id": "0123abcd", "note": "Printable ASCII, spaces too: ~!@#$%^&*()",
		"empty": "",
	}))
	bad := []map[string]string{
		{"": "v"}, {"Upper": "v"}, {"under_score": "v"}, {"9lives": "v"}, {"-dash": "v"},
		{strings.Repeat("k", backup.MaxMetadataKeyLen+1): "v"},
		{backup.ReservedMetadataPrefix + "sha256": "v"},
		{"k": "tab\t"}, {"k": "ünicode"}, {"k": "nl\n"},
		{"a": strings.Repeat("v", backup.MaxMetadataLen)},
	}
	for _, md := range bad {
		require.ErrorIs(t, backup.ValidateMetadata(md), backup.ErrInvalidMetadata, "%q", md)
	}
}
