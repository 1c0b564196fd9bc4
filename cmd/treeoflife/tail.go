package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/treeoflife/treeoflife"
)

const tailHelp = `usage: treeoflife tail [-f] [-n N] [--level L] [--query 'QUERY'] DIR

tail prints the last N entries of the log as JSON lines, oldest first.
With -f it then follows the log: it prints each new entry once the writer
(another process, which tail does not disturb) has written it completely,
polling every 200 ms, until interrupted (exit status 0). The log must not
be encrypted.

flags:
  -f              follow the log
  -n N            start with the last N matching entries (default 10;
                  0 with -f: only new ones)
  --level LEVELS  only these levels, comma-separated (error,critical)
  --query QUERY   only entries this JSON query matches (see query -h)

examples:
  treeoflife tail /var/log/audit
  treeoflife tail -f /var/log/audit
  treeoflife tail -f -n 0 --level security,critical /var/log/audit
  treeoflife tail -f --query '{"metadata.user":"u_1"}' /var/log/audit | jq .message
`

func tail(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("tail")
	follow := fs.Bool("f", false, "follow the log")
	n := fs.Int("n", 10, "start with the last `N` entries")
	level := fs.String("level", "", "only these `LEVELS`")
	q := fs.String("query", "", "only entries this JSON `QUERY` matches")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: tail takes one log directory", errUsage)
	}
	if *n < 0 {
		return fmt.Errorf("%w: -n %d is negative", errUsage, *n)
	}
	ff := filterFlags{level: *level}
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	if *q != "" {
		if f.Query, err = treeoflife.ParseQuery(*q); err != nil {
			return err
		}
	}
	r, err := openReader(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	if !*follow {
		if *n == 0 {
			return nil
		}
		f.Limit = *n
		es, err := r.Read(ctx, f)
		if err != nil {
			return err
		}
		ew := newEntryWriter(c.stdout)
		for _, e := range es {
			if err := ew.write(e); err != nil {
				return err
			}
		}
		return ew.w.Flush()
	}
	if *n == 0 {
		st, err := r.Stats(ctx)
		if err != nil {
			return err
		}
		f.FromSeq = st.Head.Size
	}
	f.Limit = *n
	ew := newEntryWriter(c.stdout)
	for e, err := range r.Tail(ctx, f) {
		if err != nil {
			return err
		}
		if err := ew.write(e); err != nil {
			return err
		}
		// Each entry as it comes, not when a buffer fills.
		if err := ew.w.Flush(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
