package main

import (
	"context"
	"fmt"
	"time"

	"github.com/treeoflife/treeoflife"
)

const readHelp = `usage: treeoflife read [--level L] [--since T] [--until T] [--limit N] DIR

read prints the newest entries of the log, as JSON lines, oldest first:
at most --limit of them. It reads from the end of the log, skipping the
index blocks that hold no match, so a page costs the same whatever the size
of the log. The log must not be encrypted.

flags:
  --level LEVELS  only these levels, comma-separated (error,critical)
  --since TIME    only entries at or after TIME
  --until TIME    only entries before TIME
  --limit N       at most N entries, the newest (default 100)
TIME is RFC 3339 (2026-11-22T09:00:00Z), a date (2026-11-22, UTC) or a
duration before now (90m, 24h).

exit status: 0 entries found, 1 none, 2 error.

examples:
  treeoflife read /var/log/audit
  treeoflife read --level error,critical --since 24h /var/log/audit
  treeoflife read --since 2026-11-01 --until 2026-12-01 --limit 1000 /var/log/audit
`

func read(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("read")
	ff := addFilterFlags(fs, treeoflife.DefaultReadLimit)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: read takes one log directory", errUsage)
	}
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	if f.Limit == 0 {
		return fmt.Errorf("%w: --limit must be at least 1", errUsage)
	}
	r, err := openReader(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	es, err := r.Read(ctx, f)
	if err != nil {
		return err
	}
	return printEntries(c.stdout, es)
}
