// Command treeoflife reads, verifies, exports and restores treeoflife logs
// and their backups. It works on a log that a service is writing (it takes
// no lock and never writes to the log's directory, except checkpoint with a
// key, restore and repair) and on a copy of one. It needs no key to verify:
// the hash chain covers the stored (sealed) bytes.
//
//	treeoflife verify [--json] [flags] DIR|ROOT...  verify logs (a tenants ROOT: _system and every tenant)
//	treeoflife stats [--json] DIR                   entries per level, size, time range, head
//	treeoflife read [--level L] [--since T] [--until T] [--limit N] DIR
//	                                                the newest entries, as JSON lines
//	treeoflife search [-n N] DIR TEXT               entries containing TEXT, ignoring case
//	treeoflife query [--limit N] DIR 'QUERY'        entries a MongoDB-style JSON query matches
//	treeoflife tail [-f] [-n N] DIR                 the last entries; with -f, follow new ones
//	treeoflife export --format F --out FILE DIR     jsonl, csv, es-bulk (Elasticsearch) or parquet
//	treeoflife checkpoint DIR                       print (or, with a signing key, write) a checkpoint
//	treeoflife verify-backup [flags]                verify a backup in S3, GCS or a directory
//	treeoflife restore [flags] DIR                  rebuild a log directory from a backup
//	treeoflife repair DIR                           cut a damaged last segment
//	treeoflife keygen --name N --out FILE           a new checkpoint signing key
//	treeoflife prove DIR SEQ [--out FILE]           a receipt of record SEQ
//	treeoflife verify-receipt --key PUB FILE        check a receipt offline
//	treeoflife witness keygen|serve [flags]         run a C2SP tlog-witness
//	treeoflife serve [--addr A] DIR|ROOT            the web dashboard (127.0.0.1:8080)
//	treeoflife import --from OLD_DIR NEW_DIR        import the original system's logs
//
// Every command prints its help, with examples, for -h. Flags may come
// before or after the arguments; "--" ends them. Entries are printed as
// JSON lines, in the stored field names (see treeoflife.Entry). Times are
// RFC 3339 (2026-11-22T09:00:00Z), a date (2026-11-22, UTC), or a duration
// before now (90m, 24h).
//
// The backup commands take the backend from the environment, as
// treeoflife.OptionsFromEnv does: BACKUP_PROVIDER (s3, gcs, azure or file)
// and its variables (S3_BUCKET, S3_REGION, S3_ENDPOINT; GCS_BUCKET,
// GCS_PROJECT_ID; AZURE_STORAGE_CONTAINER, AZURE_STORAGE_CONNECTION_STRING or
// AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY; BACKUP_DIR), BACKUP_PREFIX;
// credentials from the SDKs' standard chains.
// restore and repair read the key of an encrypted log from
// TOL_ENCRYPTION_KEY. The reading commands (read, search, query, tail,
// export, stats) read an encrypted log with the key in TOL_ENCRYPTION_KEY
// or the passphrase in TOL_PASSPHRASE; without one they print its sizes
// only (stats) or say that the key is needed. verify needs no key.
//
// On a terminal, verify, restore and export draw their progress on stderr;
// otherwise they print only their results.
//
// # Exit status
//
// As grep's:
//
//	0  success: verified, or read, search or query found entries
//	1  read, search or query found no entry; tampering found; a receipt
//	   that does not verify; legacy records that do not match their chain
//	2  anything else: bad usage (unknown flag, bad time, malformed query),
//	   a directory that is not a log, an export file that exists,
//	   unreadable files, no access to the bucket
//
// An error is one line on stderr; stdout holds only results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/treeoflife/treeoflife"
	_ "github.com/treeoflife/treeoflife/backup/azblob"
	_ "github.com/treeoflife/treeoflife/backup/file"
	_ "github.com/treeoflife/treeoflife/backup/gcs"
	_ "github.com/treeoflife/treeoflife/backup/s3"
)

func main() { os.Exit(mainStatus()) }

// mainStatus runs the command line and returns the exit status.
func mainStatus() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, progress: isTerminal(os.Stdout) && isTerminal(os.Stderr)}
	return c.run(ctx, os.Args[1:])
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// cli is one run of the command: where it writes, and whether it draws
// progress on stderr.
type cli struct {
	stdout, stderr io.Writer
	progress       bool
}

// A command is one of treeoflife's commands.
type command struct {
	name    string
	summary string // one line, for the command list
	help    string // printed for -h: usage, what it does, flags, examples
	run     func(ctx context.Context, c *cli, args []string) error
}

// commands lists the commands, in the order help shows them.
var commands []*command

func init() {
	commands = []*command{
		{"verify", "verify logs, or every log under a tenants root", verifyHelp, verify},
		{"stats", "entries per level, size, time range and head of a log", statsHelp, stats},
		{"read", "the newest entries, filtered by level and time", readHelp, read},
		{"search", "entries containing a text, ignoring case", searchHelp, search},
		{"query", "entries a MongoDB-style JSON query matches", queryHelp, query},
		{"tail", "the last entries; with -f, follow new ones", tailHelp, tail},
		{"export", "write entries as jsonl, csv, Elasticsearch bulk NDJSON or Parquet", exportHelp, export},
		{"checkpoint", "print (or, with a signing key, write) a log's checkpoint", checkpointHelp, checkpoint},
		{"verify-backup", "verify a backup in S3, GCS or a directory", verifyBackupHelp, verifyBackup},
		{"restore", "rebuild a log directory from a backup", restoreHelp, restore},
		{"repair", "cut a damaged last segment (never run by Open)", repairHelp, repair},
		{"keygen", "a new checkpoint signing key", keygenHelp, keygen},
		{"prove", "a receipt of one record (signed CHECKPOINT)", proveHelp, prove},
		{"verify-receipt", "check a receipt offline", verifyReceiptHelp, verifyReceipt},
		{"witness", "run a C2SP tlog-witness (keygen, serve)", witnessHelp, witnessCmd},
		{"serve", "the web dashboard of a log or a tenants root", serveHelp, serve},
		{"import", "import the original system's logs (JSON, encrypted, rotated)", importHelp, importCmd},
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usage is the command list, printed by help and with no arguments.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: treeoflife COMMAND [flags] [args]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-15s %s\n", c.name, c.summary)
	}
	b.WriteString(`
"treeoflife COMMAND -h" prints a command's flags and examples.
Exit status: 0 success; 1 no entry found (read, search, query), tampering
found, or a receipt not verified; 2 bad usage or any other error.
`)
	return b.String()
}

// Errors that decide the exit status.
var (
	// errUsage is bad usage: exit status 2, with a pointer to -h.
	errUsage = errors.New("usage")
	// errNoMatch is a read, search or query that found nothing: exit
	// status 1 and no message, as grep.
	errNoMatch = errors.New("no matching entry")
)

// exitStatus is an error already reported on stderr: run exits with it
// and prints nothing more.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run runs the command in args and returns the exit status.
func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage())
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if cmd := lookup(rest[0]); cmd != nil {
				fmt.Fprint(c.stdout, cmd.help)
				return 0
			}
		}
		fmt.Fprint(c.stdout, usage())
		return 0
	}
	cmd := lookup(name)
	if cmd == nil {
		return c.fail(fmt.Errorf("%w: unknown command %q (treeoflife help lists them)", errUsage, name), "")
	}
	if wantsHelp(rest) {
		fmt.Fprint(c.stdout, cmd.help)
		return 0
	}
	return c.fail(cmd.run(ctx, c, rest), name)
}

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// fail reports err, if any, as one line on stderr and returns the exit
// status for it.
func (c *cli) fail(err error, cmd string) int {
	code, line := describe(err, cmd)
	if line != "" {
		fmt.Fprintln(c.stderr, line)
	}
	return code
}

// describe returns the exit status for err and the line that reports it.
func describe(err error, cmd string) (int, string) {
	var st exitStatus
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &st):
		return int(st), ""
	case errors.Is(err, errNoMatch):
		return 1, ""
	case errors.Is(err, treeoflife.ErrTampered):
		return 1, "TAMPERED: " + message(err)
	case errors.Is(err, errNotVerified):
		return 1, "NOT VERIFIED: " + strings.Replace(message(err), errNotVerified.Error()+": ", "", 1)
	case errors.Is(err, errUsage):
		msg := strings.TrimPrefix(message(err), "usage: ")
		if cmd != "" {
			if !strings.HasPrefix(msg, cmd+" ") {
				msg = cmd + ": " + msg
			}
			msg = fmt.Sprintf("%s (treeoflife %s -h)", msg, cmd)
		}
		return 2, "treeoflife: " + msg
	case errors.Is(err, treeoflife.ErrKeyRequired):
		msg := strings.Replace(message(err), "; open the Reader with its key (OpenReaderWith)", "", 1)
		return 2, "treeoflife: " + msg + "; set TOL_ENCRYPTION_KEY (or TOL_PASSPHRASE) to read it"
	}
	return 2, "treeoflife: " + message(err)
}

// message is err's text without the package prefixes that wrapping
// repeats ("treeoflife: open: treeoflife: ...").
func message(err error) string {
	return strings.ReplaceAll(err.Error(), "treeoflife: ", "")
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run; -h by the command's help
	return fs
}

// parse parses args with flags that may come before, between or after the
// positional arguments, which fs.Args returns afterwards. "--" ends the
// flags.
func parse(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func printHead(w io.Writer, what string, h treeoflife.Head) {
	fmt.Fprintf(w, "%s: OK, %d records\n  chain head  %s\n  merkle root %s\n", what, h.Size, h.Chain, h.Root)
}
