// Command backup ships a log to the backup the environment names, waits
// until the backup holds every record, verifies the backup, and restores it
// into a new directory, which it verifies again.
//
//	ENABLE_CLOUD_BACKUP=1 BACKUP_PROVIDER=s3 S3_BUCKET=my-company-logs S3_REGION=eu-west-1 go run ./examples/backup
//	ENABLE_CLOUD_BACKUP=1 BACKUP_PROVIDER=s3 S3_BUCKET=test S3_ENDPOINT=http://127.0.0.1:9000 go run ./examples/backup   # MinIO or any S3-compatible store
//	ENABLE_CLOUD_BACKUP=1 BACKUP_PROVIDER=azure AZURE_STORAGE_CONTAINER=logs AZURE_STORAGE_CONNECTION_STRING='...' go run ./examples/backup
//	ENABLE_CLOUD_BACKUP=1 BACKUP_PROVIDER=file BACKUP_DIR=/mnt/backup go run ./examples/backup
//
// Credentials come from the SDKs' standard chains (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, a profile, an instance role), or for Azure from
// AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN. The log and the
// restored copy go to a new temporary directory, removed on exit; the
// objects stay in the backup, under a prefix of their own.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/treeoflife/treeoflife"
	_ "github.com/treeoflife/treeoflife/backup/azblob" // BACKUP_PROVIDER=azure
	_ "github.com/treeoflife/treeoflife/backup/file"   // BACKUP_PROVIDER=file
	_ "github.com/treeoflife/treeoflife/backup/s3"     // BACKUP_PROVIDER=s3
)

func main() {
	ctx := context.Background()
	opts, err := treeoflife.OptionsFromEnv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if opts.Backup == nil {
		log.Fatal("no backup configured: set ENABLE_CLOUD_BACKUP=1 and BACKUP_PROVIDER (see the command's doc)")
	}
	dir, err := os.MkdirTemp("", "treeoflife-backup")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(ctx, os.Stdout, dir, opts); err != nil {
		log.Fatal(err)
	}
}

// run logs to dir/logs with opts (whose Backup is set), then restores the
// backup into dir/restored.
func run(ctx context.Context, w io.Writer, dir string, opts treeoflife.Options) error {
	sink := opts.Backup
	logger, err := treeoflife.Open(filepath.Join(dir, "logs"), opts)
	if err != nil {
		return err
	}
	defer logger.Close()
	for i := range 25 {
		if _, err := logger.Revenue("Payment received", treeoflife.Fields{"amount": 100 * (i + 1), "currency": "USD"}); err != nil {
			return err
		}
	}
	// SyncBackup returns when the backup holds every record committed so
	// far (the shipper runs in the background; this only waits for it).
	if err := logger.SyncBackup(ctx); err != nil {
		return err
	}
	st := logger.BackupStatus()
	fmt.Fprintf(w, "shipped %d records, lag %d\n", st.Shipped, st.LagRecords)

	// Download every batch and check it against the local chain.
	cmp, err := logger.VerifyBackup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "backup synced %v: %d of %d records\n", cmp.Backup.Synced, cmp.Backup.BackupRecords, cmp.Backup.LocalRecords)
	logID, local := logger.LogID(), logger.Head()
	if err := logger.Close(); err != nil {
		return err
	}

	// An auditor, or the machine that replaces a lost one: only the backup.
	ro := treeoflife.RestoreOptions{Prefix: opts.BackupPrefix, LogID: logID}
	rep, err := treeoflife.VerifyBackup(ctx, sink, ro)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "backup verified: %d records, same head as the log: %v\n", rep.Head.Size, rep.Head == local)

	restored := filepath.Join(dir, "restored")
	head, err := treeoflife.RestoreBackup(ctx, sink, restored, ro)
	if err != nil {
		return err
	}
	rep, err = treeoflife.VerifyDir(ctx, restored)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "restored %d records, verified %d, same head: %v\n", head.Size, rep.Head.Size, rep.Head == local)
	if rep.Head != local {
		return errors.New("the restored log differs from the original")
	}
	return nil
}
