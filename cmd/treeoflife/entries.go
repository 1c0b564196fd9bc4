package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife"
)

// What the reading commands (read, search, query, tail, export) share: the
// filter flags, opening a log, and printing entries.

// filterFlags are the flags that narrow the entries read.
type filterFlags struct {
	level, since, until string
	limit               int
}

// addFilterFlags defines --level, --since, --until and --limit (with its
// default) on fs.
func addFilterFlags(fs *flag.FlagSet, limit int) *filterFlags {
	ff := &filterFlags{}
	fs.StringVar(&ff.level, "level", "", "keep entries at these `LEVELS` (comma-separated: info,warn,error,critical,audit,security,revenue,system)")
	fs.StringVar(&ff.since, "since", "", "keep entries at or after `TIME`")
	fs.StringVar(&ff.until, "until", "", "keep entries before `TIME`")
	fs.IntVar(&ff.limit, "limit", limit, "at most `N` entries")
	return ff
}

// filter turns the flags into a Filter; a bad value is a usage error.
func (ff *filterFlags) filter(now time.Time) (treeoflife.Filter, error) {
	var f treeoflife.Filter
	if ff.limit < 0 {
		return f, fmt.Errorf("%w: --limit %d is negative", errUsage, ff.limit)
	}
	f.Limit = ff.limit
	if ff.level != "" {
		for _, name := range strings.Split(ff.level, ",") {
			lv, err := treeoflife.ParseLevel(strings.TrimSpace(name))
			if err != nil {
				return f, fmt.Errorf("%w: --level: unknown level %q", errUsage, name)
			}
			f.Levels = append(f.Levels, lv)
		}
	}
	var err error
	if f.Since, err = parseTime("since", ff.since, now); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", ff.until, now); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		return f, fmt.Errorf("%w: --since %s is after --until %s", errUsage, ff.since, ff.until)
	}
	return f, nil
}

// parseTime parses the value of a time flag: RFC 3339, a date (UTC), or a
// duration before now. "" is the zero time.
func parseTime(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%w: --%s %q is not a time: want RFC 3339 (2026-11-22T09:00:00Z), a date (2026-11-22) or a duration before now (90m)", errUsage, flagName, s)
}

// openReader opens the log in dir for reading. A tenants root is not a
// log: the error names the logs under it. An encrypted log is opened with
// the key in TOL_ENCRYPTION_KEY or the passphrase in TOL_PASSPHRASE, when
// one is set, so that its entries can be read; a log that is not encrypted
// ignores them.
func openReader(dir string) (*treeoflife.Reader, error) {
	r, err := treeoflife.OpenReader(dir)
	if errors.Is(err, treeoflife.ErrNotLog) && isTenantsRoot(dir) {
		return nil, fmt.Errorf("%s is a tenants root, not a log: name %s or %s", dir,
			filepath.Join(dir, "_system"), filepath.Join(dir, "tenants", "ID"))
	}
	if err != nil || !r.Encrypted() {
		return r, err
	}
	var opts treeoflife.ReaderOptions
	switch {
	case os.Getenv("TOL_ENCRYPTION_KEY") != "":
		if opts.EncryptionKey, err = treeoflife.KeyFromEnv("TOL_ENCRYPTION_KEY"); err != nil {
			r.Close()
			return nil, err
		}
	case os.Getenv("TOL_PASSPHRASE") != "":
		opts.Passphrase = os.Getenv("TOL_PASSPHRASE")
	default:
		return r, nil // Stats and Verify need no key; reading entries says so
	}
	r.Close()
	return treeoflife.OpenReaderWith(dir, opts)
}

// isTenantsRoot reports whether dir is the root of treeoflife.OpenTenants.
func isTenantsRoot(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "HEADER")); err == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "_system", "HEADER"))
	return err == nil
}

// entryWriter prints entries as JSON lines.
type entryWriter struct {
	w *bufio.Writer
	n int
}

func newEntryWriter(w io.Writer) *entryWriter { return &entryWriter{w: bufio.NewWriter(w)} }

func (ew *entryWriter) write(e treeoflife.Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ew.n++
	ew.w.Write(b)
	return ew.w.WriteByte('\n')
}

// done flushes, and turns no entry at all into errNoMatch.
func (ew *entryWriter) done() error {
	if err := ew.w.Flush(); err != nil {
		return err
	}
	if ew.n == 0 {
		return errNoMatch
	}
	return nil
}

// printEntries prints es, or returns errNoMatch when there are none.
func printEntries(w io.Writer, es []treeoflife.Entry) error {
	ew := newEntryWriter(w)
	for _, e := range es {
		if err := ew.write(e); err != nil {
			return err
		}
	}
	return ew.done()
}
