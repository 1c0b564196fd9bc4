package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup"
)

const verifyBackupHelp = `usage: treeoflife verify-backup [-prefix P] [-log ID] [-tenant T] [-records N] [--key PUB]... [--anchor WHERE]... [--require-signed]

verify-backup verifies a log's backup in S3, GCS, Azure Blob Storage or a
directory, from its batches alone: the chain of every record, and, with
--key, the signed checkpoints stored with it and those of the anchors (see
verify -h). The backend comes from the environment: BACKUP_PROVIDER (s3,
gcs, azure or file) and its variables (S3_BUCKET, S3_REGION, S3_ENDPOINT;
GCS_BUCKET, GCS_PROJECT_ID; AZURE_STORAGE_CONTAINER,
AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT with
AZURE_STORAGE_KEY; BACKUP_DIR).

flags:
  -prefix P       the log's BackupPrefix (default $BACKUP_PREFIX)
  -log ID         the log ID, when the prefix holds several logs
  -tenant T       the log's tenant
  -records N      only the first N records
  --key, --anchor, --witness-key, --require-signed   as for verify

exit status: 0 verified, 1 tampering found, 2 any other error.

examples:
  BACKUP_PROVIDER=file BACKUP_DIR=/mnt/backup treeoflife verify-backup
  BACKUP_PROVIDER=s3 S3_BUCKET=audit treeoflife verify-backup -prefix prod/ --key audit.pub
`

// backupFlags are the flags that select a log in a backup.
func backupFlags(fs *flag.FlagSet) *treeoflife.RestoreOptions {
	o := &treeoflife.RestoreOptions{}
	fs.StringVar(&o.Prefix, "prefix", os.Getenv("BACKUP_PREFIX"), "the log's BackupPrefix (default $BACKUP_PREFIX)")
	fs.StringVar(&o.LogID, "log", "", "the log ID, when the prefix holds several logs")
	fs.StringVar(&o.Tenant, "tenant", "", "the log's tenant")
	fs.Uint64Var(&o.Records, "records", 0, "only the first `N` records")
	return o
}

func openSink(ctx context.Context) (backup.Sink, error) {
	provider := strings.ToLower(strings.TrimSpace(os.Getenv("BACKUP_PROVIDER")))
	if provider == "" {
		return nil, errors.New("BACKUP_PROVIDER is not set (s3, gcs, azure or file)")
	}
	return backup.Open(ctx, provider)
}

func verifyBackup(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("verify-backup")
	o := backupFlags(fs)
	trust := trustFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: verify-backup takes no arguments", errUsage)
	}
	opts, err := trust(ctx)
	if err != nil {
		return err
	}
	sink, err := openSink(ctx)
	if err != nil {
		return err
	}
	rep, err := treeoflife.VerifyBackupWith(ctx, sink, *o, opts)
	if err != nil {
		return err
	}
	printHead(c.stdout, "backup", rep.Head)
	printAnchors(c.stdout, rep, opts)
	return nil
}
