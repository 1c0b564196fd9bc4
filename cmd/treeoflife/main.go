// Command treeoflife verifies, inspects and restores treeoflife logs and
// their backups. It needs no key to verify: the hash chain covers the stored
// (sealed) bytes.
//
//	treeoflife verify [flags] DIR...         verify log directories from disk, against signed checkpoints
//	treeoflife checkpoint DIR                print (or, with a signing key, write) a log's checkpoint
//	treeoflife stats DIR                     entries per level, size, time range, head
//	treeoflife search [-n N] DIR TEXT        entries containing TEXT (unencrypted logs)
//	treeoflife verify-backup [flags]         verify a backup in S3, GCS or a directory
//	treeoflife restore [flags] DIR           rebuild a log directory from a backup
//	treeoflife witness keygen|serve [flags]  run a C2SP tlog-witness (package witness)
//	treeoflife keygen --name N --out FILE    a new checkpoint signing key
//	treeoflife prove DIR SEQ [--out FILE]    a receipt of record SEQ (signed CHECKPOINT)
//	treeoflife verify-receipt --key PUB FILE check a receipt offline
//
// The backup commands take the backend from the environment, as
// treeoflife.OptionsFromEnv does: BACKUP_PROVIDER (s3, gcs or file) and its
// variables (S3_BUCKET, S3_REGION, S3_ENDPOINT; GCS_BUCKET, GCS_PROJECT_ID;
// BACKUP_DIR), BACKUP_PREFIX; credentials from the SDKs' standard chains.
// restore reads the key of an encrypted log from TOL_ENCRYPTION_KEY.
//
// Exit status: 0 when everything verified, 1 when tampering was found or a
// receipt does not verify, 2 for
// any other error (bad usage, unreadable files, no access to the bucket).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup"
	_ "github.com/treeoflife/treeoflife/backup/file"
	_ "github.com/treeoflife/treeoflife/backup/gcs"
	_ "github.com/treeoflife/treeoflife/backup/s3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  treeoflife verify [--key PUB]... [--anchor FILE|backup|s3://B/P|gs://B/P|http://WITNESS]... [--require-signed] DIR...
  treeoflife checkpoint [--key-file F | --key-env VAR] DIR
  treeoflife stats DIR
  treeoflife search [-n N] DIR TEXT
  treeoflife verify-backup [-prefix P] [-log ID] [-tenant T] [-records N] [--key PUB]... [--anchor WHERE]... [--require-signed]
  treeoflife restore [-prefix P] [-log ID] [-tenant T] [-records N] [-until RFC3339] DIR
  treeoflife witness keygen --out FILE NAME
  treeoflife witness serve --state DIR [--addr ADDR] --key-file FILE|--key-env VAR --log ORIGIN=VKEY...
  treeoflife keygen --name NAME --out FILE
  treeoflife prove DIR SEQ [--out FILE]
  treeoflife verify-receipt --key PUB [--key PUB2 ...] FILE
  treeoflife repair DIR                   cut a damaged last segment (see repair -h; never run by Open)

The backup commands read BACKUP_PROVIDER (s3, gcs, file) and its variables
from the environment; restore reads TOL_ENCRYPTION_KEY for an encrypted log.
Exit status: 0 verified, 1 tampering found or receipt not verified, 2 other errors.
`

// errUsage is a usage error: run prints the usage after it.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "verify":
		err = verify(ctx, rest, stdout)
	case "checkpoint":
		err = checkpoint(ctx, rest, stdout)
	case "stats":
		err = stats(ctx, rest, stdout)
	case "search":
		err = search(ctx, rest, stdout)
	case "verify-backup":
		err = verifyBackup(ctx, rest, stdout)
	case "restore":
		err = restore(ctx, rest, stdout)
	case "witness":
		err = witnessCmd(ctx, rest, stdout, stderr)
	case "keygen":
		err = keygen(rest, stdout)
	case "prove":
		err = prove(ctx, rest, stdout)
	case "verify-receipt":
		err = verifyReceipt(rest, stdout)
	case "repair":
		err = repair(ctx, rest, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "treeoflife: %v\n\n%s", err, usage)
		return 2
	case errors.Is(err, treeoflife.ErrTampered):
		fmt.Fprintf(stderr, "TAMPERED: %v\n", err)
		return 1
	case errors.Is(err, errNotVerified):
		fmt.Fprintf(stderr, "NOT VERIFIED: %v\n", err)
		return 1
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "treeoflife: ") {
		msg = "treeoflife: " + msg
	}
	fmt.Fprintln(stderr, msg)
	return 2
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, with the usage
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	return nil
}

func printHead(w io.Writer, what string, h treeoflife.Head) {
	fmt.Fprintf(w, "%s: OK, %d records\n  chain head  %s\n  merkle root %s\n", what, h.Size, h.Chain, h.Root)
}

func stats(ctx context.Context, args []string, w io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: stats takes one log directory", errUsage)
	}
	r, err := treeoflife.OpenReader(args[0])
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d entries in %d segment(s), %d bytes\n", r.Dir(), st.TotalEntries, st.Segments, st.Bytes)
	if st.TotalEntries > 0 {
		fmt.Fprintf(w, "  oldest %s\n  newest %s\n", st.Oldest.Format(time.RFC3339Nano), st.Newest.Format(time.RFC3339Nano))
	}
	for _, lv := range treeoflife.Levels {
		if n := st.Levels[lv]; n > 0 {
			fmt.Fprintf(w, "  %-8s %d\n", lv, n)
		}
	}
	fmt.Fprintf(w, "  chain head  %s\n  merkle root %s\n", st.Head.Chain, st.Head.Root)
	return nil
}

func search(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("search")
	n := fs.Int("n", 100, "print at most `N` entries, the newest")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: search takes a log directory and a text", errUsage)
	}
	r, err := treeoflife.OpenReader(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	es, err := r.Read(ctx, treeoflife.Filter{Search: fs.Arg(1), Limit: *n})
	if err != nil {
		return err
	}
	for _, e := range es {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", line)
	}
	return nil
}

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
		return nil, errors.New("BACKUP_PROVIDER is not set (s3, gcs or file)")
	}
	return backup.Open(ctx, provider)
}

func verifyBackup(ctx context.Context, args []string, w io.Writer) error {
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
	printHead(w, "backup", rep.Head)
	printAnchors(w, rep, opts)
	return nil
}

func restore(ctx context.Context, args []string, w io.Writer) error {
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
			return fmt.Errorf("%w: -until: %v", errUsage, err)
		}
		o.UpToTime = t
	}
	if os.Getenv("TOL_ENCRYPTION_KEY") != "" {
		key, err := treeoflife.KeyFromEnv("TOL_ENCRYPTION_KEY")
		if err != nil {
			return err
		}
		o.Options.EncryptionKey = key
	}
	sink, err := openSink(ctx)
	if err != nil {
		return err
	}
	h, err := treeoflife.RestoreFromCloud(ctx, sink, fs.Arg(0), *o)
	if err != nil {
		return err
	}
	printHead(w, "restored "+fs.Arg(0), h)
	return nil
}
