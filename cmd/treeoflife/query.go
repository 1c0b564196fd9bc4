package main

import (
	"context"
	"fmt"
	"time"

	"github.com/treeoflife/treeoflife"
)

const queryHelp = `usage: treeoflife query [--limit N] [--level L] [--since T] [--until T] DIR 'QUERY'

query prints the entries that QUERY matches, as JSON lines, oldest first.
QUERY is a MongoDB-style filter document in JSON (see treeoflife.Query):
fields by their stored names (seq, id, timestamp, level, message,
hostname, pid, tenantId, and metadata.KEY, dotted), values meaning $eq, or
operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $regex $contains
$not, and $and $or $nor $not over query documents. A malformed query is an error before anything is read. The
log must not be encrypted.

flags:
  --limit N       at most N entries, the first (default 0: all)
  --level LEVELS  only these levels, comma-separated (error,critical)
  --since TIME    only entries at or after TIME
  --until TIME    only entries before TIME

exit status: 0 entries found, 1 none, 2 error (a malformed query too).

examples:
  treeoflife query /var/log/audit '{"level":"REVENUE","metadata.amount":{"$gte":1000}}'
  treeoflife query /var/log/audit '{"$or":[{"level":"SECURITY"},{"message":{"$regex":"^login"}}]}'
  treeoflife query --since 24h --limit 50 /var/log/audit '{"metadata.user":"u_1"}'
`

func query(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("query")
	ff := addFilterFlags(fs, 0)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: query takes a log directory and a JSON query", errUsage)
	}
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	if f.Query, err = treeoflife.ParseQuery(fs.Arg(1)); err != nil {
		return err
	}
	r, err := openReader(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	ew := newEntryWriter(c.stdout)
	for e, err := range r.Entries(ctx, f) {
		if err != nil {
			ew.w.Flush()
			return err
		}
		if err := ew.write(e); err != nil {
			return err
		}
	}
	return ew.done()
}
