package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/treeoflife/treeoflife"
)

const restoreHelp = `usage: treeoflife restore [-prefix P] [-log ID] [-tenant T] [-records N] [-until TIME] DIR

restore rebuilds a log directory from its backup, verifying every record
on the way, and prints the restored head. DIR must not hold a log. The
backend comes from the environment, as for verify-backup; the key of an
encrypted log from TOL_ENCRYPTION_KEY.

flags:
  -prefix P       the log's BackupPrefix (default $BACKUP_PREFIX)
  -log ID         the log ID, when the prefix holds several logs
  -tenant T       the log's tenant
  -records N      only the first N records
  -until TIME     stop before the first entry stamped after TIME (RFC 3339)

exit status: 0 restored, 1 tampering found in the backup, 2 any other error.

examples:
  BACKUP_PROVIDER=file BACKUP_DIR=/mnt/backup treeoflife restore /var/log/audit.restored
  BACKUP_PROVIDER=s3 S3_BUCKET=audit treeoflife restore -until 2026-11-22T09:00:00Z /tmp/audit
`

func restore(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("restore")
	o := backupFlags(fs)
	until := fs.String("until", "", "stop before the first entry stamped after this RFC 3339 `time`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: restore takes the directory to restore into", errUsage)
	}
	if *until != "" {
		t, err := time.Parse(time.RFC3339Nano, *until)
		if err != nil {
			return fmt.Errorf("%w: -until %q is not an RFC 3339 time (2026-11-22T09:00:00Z)", errUsage, *until)
		}
		o.UpToTime = t
	}
	if os.Getenv("TOL_ENCRYPTION_KEY") != "" {
		key, err := treeoflife.KeyFromEnv("TOL_ENCRYPTION_KEY")
		if err != nil {
			return err
		}
		o.Log.EncryptionKey = key
	}
	sink, err := openSink(ctx)
	if err != nil {
		return err
	}
	// The restore reports no count as it goes: the progress line shows
	// the bytes written so far.
	dir := fs.Arg(0)
	p := c.startProgress("restoring (bytes written)", 0)
	stop := make(chan struct{})
	if p != nil {
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					p.set("restoring (bytes written)", dirBytes(dir))
				}
			}
		}()
	}
	h, err := treeoflife.RestoreBackup(ctx, sink, dir, *o)
	close(stop)
	p.end()
	if err != nil {
		return err
	}
	printHead(c.stdout, "restored "+dir, h)
	return nil
}

// dirBytes is the size of the regular files in dir.
func dirBytes(dir string) int64 {
	des, _ := os.ReadDir(dir)
	var n int64
	for _, de := range des {
		if fi, err := os.Stat(filepath.Join(dir, de.Name())); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}
