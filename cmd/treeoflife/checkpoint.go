package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife"
)

// checkpoint prints the CHECKPOINT of a verified log: what an auditor keeps
// as an anchor. With a signing key (--key-file, or --key-env naming an
// environment variable) it opens the log, which must not be open
// elsewhere, writes a new signed checkpoint of every record and prints that.
func checkpoint(ctx context.Context, args []string, w io.Writer) error {
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
