package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// verify verifies log directories, each against its own files and the
// local CHECKPOINT and, with --key, against signed checkpoints: the local
// one and those of the anchors.
//
//	--key PUB          a public key (vkey) or a file holding one; repeat for
//	                   a rotated key and for witnesses
//	--anchor WHERE     a saved signed checkpoint (a file), the backup
//	                   ("backup", from BACKUP_PROVIDER and its variables,
//	                   or s3://BUCKET/PREFIX, gs://BUCKET/PREFIX,
//	                   file:///DIR/PREFIX), or a witness (http(s)://…)
//	--require-signed   fail unless every record is covered by a trusted
//	                   checkpoint
func verify(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("verify")
	trust := trustFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: verify needs at least one log directory", errUsage)
	}
	opts, err := trust(ctx)
	if err != nil {
		return err
	}
	var firstErr error
	for _, dir := range fs.Args() {
		rep, err := treeoflife.VerifyDirWith(ctx, dir, opts)
		if err != nil {
			// Go on with the other directories; tampering wins the exit status.
			fmt.Fprintf(w, "%s: FAILED: %v\n", dir, err)
			if firstErr == nil || errors.Is(err, treeoflife.ErrTampered) && !errors.Is(firstErr, treeoflife.ErrTampered) {
				firstErr = fmt.Errorf("%s: %w", dir, err)
			}
			continue
		}
		printHead(w, dir, rep.Head)
		printAnchors(w, rep, opts)
	}
	return firstErr
}

// trustFlags defines the flags that say what a verification trusts, and
// returns the function that turns them into VerifyOptions after parsing.
func trustFlags(fs *flag.FlagSet) func(ctx context.Context) (treeoflife.VerifyOptions, error) {
	var keys, anchors listFlag
	fs.Var(&keys, "key", "trusted public `key` (vkey, or a file holding one); repeatable")
	fs.Var(&anchors, "anchor", "where trusted checkpoints are (`FILE`, backup, s3://, gs://, file://, http(s)://); repeatable")
	requireSigned := fs.Bool("require-signed", false, "fail unless every record is covered by a trusted checkpoint")
	witnessKey := fs.String("witness-key", "", "the witness's cosignature `key`, for http(s) anchors")
	return func(ctx context.Context) (treeoflife.VerifyOptions, error) {
		var opts treeoflife.VerifyOptions
		if len(keys) > 0 {
			var vkeys []string
			for _, k := range keys {
				vkeys = append(vkeys, readKeyArg(k))
			}
			vs, err := treeoflife.NewVerifiers(vkeys...)
			if err != nil {
				return opts, fmt.Errorf("%w: --key: %v", errUsage, err)
			}
			opts.Verifiers = vs
		}
		for _, a := range anchors {
			anchor, err := parseAnchor(ctx, a, *witnessKey)
			if err != nil {
				return opts, fmt.Errorf("%w: --anchor %s: %v", errUsage, a, err)
			}
			opts.Anchors = append(opts.Anchors, anchor)
		}
		opts.RequireSigned = *requireSigned
		if (len(opts.Anchors) > 0 || opts.RequireSigned) && opts.Verifiers == nil {
			return opts, fmt.Errorf("%w: --anchor and --require-signed need --key", errUsage)
		}
		return opts, nil
	}
}

// printAnchors prints the checkpoints a verification compared and how much
// of the log they cover.
func printAnchors(w io.Writer, rep treeoflife.VerifyReport, opts treeoflife.VerifyOptions) {
	for _, c := range rep.Checkpoints {
		switch {
		case c.Missing:
			fmt.Fprintf(w, "  %s: no checkpoint of this log\n", c.Source)
		case c.Trusted:
			fmt.Fprintf(w, "  %s: %d records, signed by %s\n", c.Source, c.Size, strings.Join(c.Signers, ", "))
		default:
			fmt.Fprintf(w, "  %s: %d records, not signed by a trusted key\n", c.Source, c.Size)
		}
	}
	if opts.Verifiers != nil {
		if rep.Unanchored > 0 {
			fmt.Fprintf(w, "  unanchored: records %d to %d are covered by no trusted checkpoint\n", rep.Anchored, rep.Head.Size-1)
		} else {
			fmt.Fprintf(w, "  anchored: every record is covered by a trusted checkpoint\n")
		}
	}
}

// readKeyArg returns a key given on the command line, or the contents of
// the file it names.
func readKeyArg(k string) string {
	if b, err := os.ReadFile(k); err == nil {
		return strings.TrimSpace(string(b))
	}
	return k
}

// parseAnchor turns an --anchor value into an anchor.
func parseAnchor(ctx context.Context, a, witnessKey string) (treeoflife.Anchor, error) {
	if a == "backup" {
		sink, err := openSink(ctx)
		if err != nil {
			return nil, err
		}
		return treeoflife.BackupAnchor{Sink: sink, Prefix: os.Getenv("BACKUP_PREFIX")}, nil
	}
	u, err := url.Parse(a)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // a Windows drive letter is a file
		return treeoflife.AnchorFile(a), nil
	}
	switch u.Scheme {
	case "s3", "gs", "file":
		backend := map[string]struct{ provider, env string }{
			"s3": {"s3", "S3_BUCKET"}, "gs": {"gcs", "GCS_BUCKET"}, "file": {"file", "BACKUP_DIR"},
		}[u.Scheme]
		provider, env := backend.provider, backend.env
		where, prefix := u.Host, strings.Trim(u.Path, "/")
		if u.Scheme == "file" {
			// file:///DIR: the directory sink's root; no prefix.
			where, prefix = u.Path, ""
		}
		// The backends read their settings from the environment.
		os.Setenv(env, where)
		sink, err := backup.Open(ctx, provider)
		if err != nil {
			return nil, err
		}
		return treeoflife.BackupAnchor{Sink: sink, Prefix: prefix}, nil
	case "http", "https":
		return newWitnessAnchor(a, witnessKey)
	}
	return nil, fmt.Errorf("unknown anchor scheme %q", u.Scheme)
}
