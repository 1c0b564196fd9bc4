package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/legacyimport"
)

const importHelp = `usage: treeoflife import --from OLD_DIR [--passphrase-env VAR] [--allow-broken] NEW_DIR

import copies the logs of the original Tree of Life system (its JavaScript
and Python ImmutableLogger) into treeoflife logs at NEW_DIR: JSON lines,
AES-256-GCM and older AES-256-CBC encrypted lines, gzipped rotated
archives. Every record keeps its id, timestamp, level, message, metadata,
hostname, pid and tenant, and carries its place in the original hash chain
(index, hash, previousHash and the original line) under "legacy".

OLD_DIR is a log directory (immutable.log, archives, blockchain.json) or a
directory of tenant folders (OLD_DIR/default, OLD_DIR/customer-abc). Tenant
folders, and a log whose lines carry a tenantId, become tenants of a
tenants root at NEW_DIR (NEW_DIR/tenants/<id>); a log without a tenant
becomes a plain log in NEW_DIR.

Every line is checked against blockchain.json first: the block's hash is
SHA-256 of the line, and each previousHash is the hash before it. A record
that does not match is reported with its index, and nothing is imported,
unless --allow-broken is given: then it is imported and marked
"broken":true. A directory that is not a legacy log, and a wrong
passphrase (named with the first line it cannot decrypt), are refused
before anything is written.

Running import again resumes: records already in NEW_DIR (checked one by
one against the legacy lines) are skipped, so nothing is imported twice.

flags:
  --from DIR             the original system's log directory (required)
  --passphrase-env VAR   read the passphrase of encrypted lines from the
                         environment variable VAR
  --allow-broken         import records that do not match the chain,
                         marked as broken

exit status: 0 imported (or nothing left to import); 1 records that do not
match the chain were found (refused, or imported with --allow-broken);
2 anything else (usage, not a legacy log, wrong passphrase).

examples:
  treeoflife import --from ./logs /var/log/audit
  LEGACY_KEY=... treeoflife import --from ./logs --passphrase-env LEGACY_KEY /var/log/audit
  treeoflife import --from ./logs --allow-broken /var/log/audit
  treeoflife verify /var/log/audit
`

func importCmd(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("import")
	from := fs.String("from", "", "legacy log directory")
	passEnv := fs.String("passphrase-env", "", "environment variable holding the passphrase")
	allowBroken := fs.Bool("allow-broken", false, "import broken records, marked")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" {
		return fmt.Errorf("%w: import needs --from OLD_DIR", errUsage)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: import takes one destination directory", errUsage)
	}
	opts := legacyimport.Options{AllowBroken: *allowBroken}
	if *passEnv != "" {
		p, ok := os.LookupEnv(*passEnv)
		if !ok || p == "" {
			return fmt.Errorf("%w: --passphrase-env %s: the variable is not set", errUsage, *passEnv)
		}
		opts.Passphrase = p
	}
	s, err := legacyimport.Import(ctx, *from, fs.Arg(0), opts)
	var be *legacyimport.BrokenError
	if errors.As(err, &be) {
		for _, b := range be.Broken {
			fmt.Fprintf(c.stdout, "BROKEN %srecord %d (%s): %s\n", tenantLabel(b.Tenant), b.Index, b.Where, b.Reason)
		}
		fmt.Fprintln(c.stderr, "treeoflife: "+message(err))
		return exitStatus(1)
	}
	if s.Logs != nil {
		printImportSummary(c.stdout, *from, fs.Arg(0), s)
	}
	if err != nil {
		return err
	}
	if s.Broken > 0 || s.Missing > 0 {
		fmt.Fprintf(c.stderr, "treeoflife: %d record(s) do not match the original chain and %d are missing from the files; the broken ones were imported, marked\n", s.Broken, s.Missing)
		return exitStatus(1)
	}
	return nil
}

func tenantLabel(t string) string {
	if t == "" {
		return ""
	}
	return fmt.Sprintf("tenant %q ", t)
}

// printImportSummary prints what the import did: per log, then records,
// per level, broken and the time range over all.
func printImportSummary(w io.Writer, from, to string, s legacyimport.Summary) {
	fmt.Fprintf(w, "imported %s into %s\n", from, to)
	for _, l := range s.Logs {
		checked := "checked against " + l.Checked
		if l.Checked == "" {
			checked = "no chain file to check against"
		}
		name := "log"
		if l.Tenant != "" {
			name = fmt.Sprintf("tenant %q", l.Tenant)
		}
		fmt.Fprintf(w, "  %s: %d records, %d imported, %d already there; %s; %s\n", name, l.Records, l.Imported, l.Skipped, checked, l.To)
		for _, b := range l.Broken {
			fmt.Fprintf(w, "    BROKEN record %d (%s): %s\n", b.Index, b.Where, b.Reason)
		}
		if l.Missing > 0 {
			fmt.Fprintf(w, "    MISSING %d record(s) of the chain after the last line\n", l.Missing)
		}
	}
	fmt.Fprintf(w, "records  %d (%d imported, %d already there)\n", s.Records, s.Imported, s.Skipped)
	fmt.Fprint(w, "levels  ")
	for _, lv := range treeoflife.Levels() {
		if n := s.Levels[lv]; n > 0 {
			fmt.Fprintf(w, " %s %d", lv, n)
		}
	}
	fmt.Fprintf(w, "\nbroken   %d\n", s.Broken)
	if !s.First.IsZero() {
		fmt.Fprintf(w, "time     %s .. %s\n", s.First.Format(time.RFC3339Nano), s.Last.Format(time.RFC3339Nano))
	}
}
