package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
)

const checkpointHelp = `usage: treeoflife checkpoint [--key-file FILE | --key-env VAR] DIR

checkpoint verifies the log and prints its CHECKPOINT: what an auditor
keeps as an anchor for verify --anchor. With a signing key it opens the
log (which must not be open elsewhere), writes a new checkpoint of every
record, signed, and prints that.

flags:
  --key-file FILE  sign with the private key in FILE (from treeoflife keygen)
  --key-env VAR    sign with the private key in the environment variable VAR

exit status: 0 printed, 1 tampering found, 2 any other error.

examples:
  treeoflife checkpoint /var/log/audit > anchor-2026-11-22
  treeoflife checkpoint --key-file /etc/audit/checkpoint.key /var/log/audit
`

// checkpoint prints the CHECKPOINT of a verified log: what an auditor keeps
// as an anchor. With a signing key (--key-file, or --key-env naming an
// environment variable) it opens the log, which must not be open
// elsewhere, writes a new signed checkpoint of every record and prints that.
func checkpoint(ctx context.Context, c *cli, args []string) error {
	w := c.stdout
	fs := newFlags("checkpoint")
	keyFile := fs.String("key-file", "", "sign with the private key in `FILE`")
	keyEnv := fs.String("key-env", "", "sign with the private key in the environment variable `VAR`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: checkpoint takes one log directory", errUsage)
	}
	dir := fs.Arg(0)
	if *keyFile != "" && *keyEnv != "" {
		return fmt.Errorf("%w: --key-file and --key-env are exclusive", errUsage)
	}
	var signer note.Signer
	var err error
	switch {
	case *keyFile != "":
		signer, err = treeoflife.LoadSigningKey(*keyFile)
	case *keyEnv != "":
		signer, err = treeoflife.SigningKeyFromEnv(*keyEnv)
	}
	if err != nil {
		return err
	}
	if _, err := treeoflife.VerifyDir(ctx, dir); err != nil {
		return err
	}
	if signer == nil {
		b, err := os.ReadFile(filepath.Join(dir, "CHECKPOINT"))
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	l, err := treeoflife.Open(dir, treeoflife.Options{Signer: signer, CheckpointInterval: -1})
	if err != nil {
		return err
	}
	b, cerr := l.Checkpoint(ctx)
	if err := l.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return cerr
	}
	_, err = w.Write(b)
	return err
}
