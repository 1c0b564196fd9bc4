package treeoflife

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	_ "github.com/treeoflife/treeoflife/backup/file" // registers BACKUP_PROVIDER=file
)

func TestOptionsFromEnv(t *testing.T) {
	ctx := context.Background()
	t.Setenv("ENABLE_CLOUD_BACKUP", "")
	o, err := OptionsFromEnv(ctx)
	require.NoError(t, err)
	require.Nil(t, o.Backup, "backup is off unless enabled")
	for _, v := range []string{"0", "false", "No", "OFF", " off "} {
		t.Setenv("ENABLE_CLOUD_BACKUP", v)
		o, err := OptionsFromEnv(ctx)
		require.NoError(t, err, v)
		require.Nil(t, o.Backup, v)
	}
	for _, v := range []string{"enabled", "y", "2", "tru"} {
		t.Setenv("ENABLE_CLOUD_BACKUP", v)
		_, err := OptionsFromEnv(ctx)
		require.ErrorIs(t, err, ErrInvalidOptions, v)
		require.ErrorContains(t, err, "ENABLE_CLOUD_BACKUP", v)
	}
	t.Setenv("BACKUP_PROVIDER", "file")
	t.Setenv("BACKUP_DIR", t.TempDir())
	for _, v := range []string{"1", "true", "YES", "On"} {
		t.Setenv("ENABLE_CLOUD_BACKUP", v)
		o, err := OptionsFromEnv(ctx)
		require.NoError(t, err, v)
		require.NotNil(t, o.Backup, v)
	}

	t.Setenv("ENABLE_CLOUD_BACKUP", "true")
	t.Setenv("BACKUP_PROVIDER", "file")
	t.Setenv("BACKUP_DIR", t.TempDir())
	t.Setenv("BACKUP_BATCH_SIZE", "250")
	t.Setenv("BACKUP_PREFIX", "prod")
	o, err = OptionsFromEnv(ctx)
	require.NoError(t, err)
	require.NotNil(t, o.Backup)
	require.Equal(t, 250, o.BackupBatchSize)
	require.Equal(t, "prod", o.BackupPrefix)

	l := openT(t, t.TempDir(), o)
	_, err = l.Revenue("Payment received", Fields{"amount": 9900})
	require.NoError(t, err)
	require.NoError(t, l.SyncBackup(ctx))
	require.Equal(t, uint64(1), l.BackupStatus().Shipped)
	require.NoError(t, l.Close())

	for name, env := range map[string][2]string{
		"unknown provider":   {"BACKUP_PROVIDER", "ftp"},
		"no provider":        {"BACKUP_PROVIDER", ""},
		"bad batch size":     {"BACKUP_BATCH_SIZE", "lots"},
		"negative batch":     {"BACKUP_BATCH_SIZE", "-5"},
		"provider misconfig": {"BACKUP_DIR", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(env[0], env[1])
			_, err := OptionsFromEnv(ctx)
			require.ErrorIs(t, err, ErrInvalidOptions)
		})
	}
}
