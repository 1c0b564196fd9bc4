package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/treeoflife/treeoflife"
)

const proveHelp = `usage: treeoflife prove [--out FILE] DIR SEQ

prove prints the receipt of record SEQ: the record, its Merkle inclusion
proof and the log's signed CHECKPOINT, which must cover the record. Anyone
holding the public key checks it offline with verify-receipt. It opens the
log read-only: the writer may be running.

flags:
  --out FILE  write the receipt to FILE instead of stdout

examples:
  treeoflife prove /var/log/audit 1234 > receipt-1234.json
  treeoflife verify-receipt --key audit.pub receipt-1234.json
`

// prove prints the receipt of one record of a log on disk, against the
// log's CHECKPOINT (which must be signed and cover the record). It opens
// the log read-only: the writer may be running.
func prove(ctx context.Context, c *cli, args []string) error {
	w := c.stdout
	fs := newFlags("prove")
	out := fs.String("out", "", "write the receipt to `FILE` instead of stdout")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: prove takes a log directory and a sequence number", errUsage)
	}
	seq, err := strconv.ParseUint(pos[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a sequence number", errUsage, pos[1])
	}
	r, err := treeoflife.OpenReader(pos[0])
	if err != nil {
		return err
	}
	defer r.Close()
	rc, err := r.Receipt(ctx, seq)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if *out == "" {
		_, err = w.Write(b)
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}
