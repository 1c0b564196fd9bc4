package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const verifyHelp = `usage: treeoflife verify [--json] [--key PUB]... [--anchor WHERE]... [--require-signed] DIR|ROOT...

verify checks each log from its files: every record against the hash
chain, every segment and index, and the local CHECKPOINT. A tenants ROOT
(the directory given to treeoflife.OpenTenants) stands for its system log
(ROOT/_system) and every tenant's log (ROOT/tenants/ID). With --key, it
also checks the log against signed checkpoints: the local one and those of
the anchors, so that a log rolled back or rewritten as a whole is caught.
It takes no lock: the writer may be running.

flags:
  --json            print one JSON object: {"ok":..., "logs":[...]}
  --key PUB         a trusted public key (vkey) or a file holding one;
                    repeat for a rotated key and for witnesses
  --anchor WHERE    trusted checkpoints: a saved checkpoint FILE, the
                    backup ("backup", from BACKUP_PROVIDER and its
                    variables, or s3://BUCKET/PREFIX, gs://BUCKET/PREFIX,
                    az://CONTAINER/PREFIX, file:///DIR), or a witness
                    (http(s)://...); repeatable
  --witness-key PUB the witness's cosignature key, for http(s) anchors
  --require-signed  fail unless every record is covered by a trusted
                    checkpoint

Each log verified prints its head; each log that fails prints one line on
stderr, starting with TAMPERED when its records were changed.

exit status: 0 every log verified, 1 tampering found in one, 2 any other
error (not a log, unreadable, a bad flag).

examples:
  treeoflife verify /var/log/audit
  treeoflife verify --json /var/lib/app/tenants-root
  treeoflife verify --key audit.pub --anchor backup --require-signed /var/log/audit
`

// verifiedLog is one log in the output of verify --json.
type verifiedLog struct {
	Dir         string                        `json:"dir"`
	OK          bool                          `json:"ok"`
	Tampered    bool                          `json:"tampered,omitempty"`
	Error       string                        `json:"error,omitempty"`
	Head        *treeoflife.Head              `json:"head,omitempty"`
	Anchored    *uint64                       `json:"anchored,omitempty"`
	Unanchored  *uint64                       `json:"unanchored,omitempty"`
	Checkpoints []treeoflife.CheckpointReport `json:"checkpoints,omitempty"`
}

// verify verifies logs, each against its own files and the local
// CHECKPOINT and, with --key, against signed checkpoints: the local one and
// those of the anchors.
func verify(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("verify")
	asJSON := fs.Bool("json", false, "print JSON")
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
	var dirs []string
	for _, dir := range fs.Args() {
		ds, err := expandRoot(dir)
		if err != nil {
			return err
		}
		dirs = append(dirs, ds...)
	}
	p := c.startProgress("verifying", int64(len(dirs)))
	var logs []verifiedLog
	status := 0
	for i, dir := range dirs {
		p.set("verifying "+dir, int64(i))
		rep, err := treeoflife.VerifyDirWith(ctx, dir, opts)
		if err != nil {
			// Go on with the other logs; tampering wins the exit status.
			code, line := describe(fmt.Errorf("%s: %w", dir, err), "")
			if status == 0 || code == 1 {
				status = code
			}
			p.end()
			fmt.Fprintln(c.stderr, line)
			p = c.startProgress("verifying", int64(len(dirs)))
			logs = append(logs, verifiedLog{Dir: dir, Tampered: code == 1, Error: message(err)})
			continue
		}
		if *asJSON {
			logs = append(logs, verifiedJSON(dir, rep, opts))
			continue
		}
		p.end()
		printHead(c.stdout, dir, rep.Head)
		printAnchors(c.stdout, rep, opts)
		p = c.startProgress("verifying", int64(len(dirs)))
	}
	p.end()
	if *asJSON {
		b, err := json.MarshalIndent(struct {
			OK   bool          `json:"ok"`
			Logs []verifiedLog `json:"logs"`
		}{status == 0, logs}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s\n", b)
	}
	if status != 0 {
		return exitStatus(status)
	}
	return nil
}

func verifiedJSON(dir string, rep treeoflife.VerifyReport, opts treeoflife.VerifyOptions) verifiedLog {
	v := verifiedLog{Dir: dir, OK: true, Head: &rep.Head}
	if opts.Verifiers != nil {
		v.Anchored, v.Unanchored = &rep.Anchored, &rep.Unanchored
	}
	v.Checkpoints = rep.Checkpoints
	return v
}

// expandRoot returns the logs that dir stands for: itself, or for a tenants
// root its system log and every tenant's log, sorted.
func expandRoot(dir string) ([]string, error) {
	if !isTenantsRoot(dir) {
		return []string{dir}, nil
	}
	dirs := []string{filepath.Join(dir, "_system")}
	des, err := os.ReadDir(filepath.Join(dir, "tenants"))
	if errors.Is(err, os.ErrNotExist) {
		return dirs, nil
	}
	if err != nil {
		return nil, err
	}
	for _, de := range des {
		if de.IsDir() && treeoflife.ValidateTenantID(de.Name()) == nil {
			dirs = append(dirs, filepath.Join(dir, "tenants", de.Name()))
		}
	}
	return dirs, nil
}

// trustFlags defines the flags that say what a verification trusts, and
// returns the function that turns them into VerifyOptions after parsing.
func trustFlags(fs *flag.FlagSet) func(ctx context.Context) (treeoflife.VerifyOptions, error) {
	var keys, anchors listFlag
	fs.Var(&keys, "key", "trusted public `key` (vkey, or a file holding one); repeatable")
	fs.Var(&anchors, "anchor", "where trusted checkpoints are (`FILE`, backup, s3://, gs://, az://, file://, http(s)://); repeatable")
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
	case "s3", "gs", "az", "file":
		backend := map[string]struct{ provider, env string }{
			"s3": {"s3", "S3_BUCKET"}, "gs": {"gcs", "GCS_BUCKET"},
			"az": {"azure", "AZURE_STORAGE_CONTAINER"}, "file": {"file", "BACKUP_DIR"},
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
