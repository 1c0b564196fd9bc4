package main

import (
	"context"
	"fmt"
	"time"
)

const searchHelp = `usage: treeoflife search [-n N] [--level L] [--since T] [--until T] DIR TEXT

search prints the newest entries whose message, level, or metadata keys or
values contain TEXT, ignoring case, as JSON lines, oldest first. The id,
timestamp, hostname, pid and tenantId are not searched: use query. The log
must not be encrypted.

flags:
  -n, --limit N   at most N entries, the newest (default 100)
  --level LEVELS  only these levels, comma-separated (error,critical)
  --since TIME    only entries at or after TIME
  --until TIME    only entries before TIME
TIME is RFC 3339 (2026-11-22T09:00:00Z), a date (2026-11-22, UTC) or a
duration before now (90m, 24h).

exit status: 0 entries found, 1 none, 2 error.

examples:
  treeoflife search /var/log/audit cus_42
  treeoflife search -n 10 --level revenue --since 24h /var/log/audit refund
  treeoflife search /var/log/audit -- -1
`

func search(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("search")
	ff := addFilterFlags(fs, 100)
	fs.IntVar(&ff.limit, "n", 100, "at most `N` entries, the newest")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: search takes a log directory and a text", errUsage)
	}
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	if fs.Arg(1) == "" {
		return fmt.Errorf("%w: search needs a text that is not empty", errUsage)
	}
	if f.Limit == 0 {
		return fmt.Errorf("%w: -n must be at least 1", errUsage)
	}
	r, err := openReader(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	f.Search = fs.Arg(1)
	es, err := r.Read(ctx, f)
	if err != nil {
		return err
	}
	return printEntries(c.stdout, es)
}
