package main

import (
	"context"
	"fmt"
	"os"

	"github.com/treeoflife/treeoflife"
)

const repairHelp = `usage: treeoflife repair DIR

repair is for a log that Open refuses as damaged when the damage is in the
records of its last segment (bit rot, a disk that lost fsynced bytes, an
edit). It cuts that segment at the first damaged frame, moves every byte
from there on to DIR/repair/<segment>.<offset>.cut, reopens the log and
records what it cut (the segment, the offset, the number and range of the
records) as a SYSTEM entry, which it prints.

It refuses damage in a sealed segment, in a segment header, or in records
that CHECKPOINT covers: those records were durable and anchored, and only a
backup has them (treeoflife restore rebuilds the log from it; restoring only
the missing part from a backup is not implemented). A crash's torn or
unsynced tail needs no repair: Open repairs it by itself. repair never runs
unless asked. It reads TOL_ENCRYPTION_KEY for an encrypted log.

exit status: 0 repaired or nothing to repair, 2 refused or any other error.

examples:
  treeoflife repair /var/log/audit
`

// repair cuts the damaged tail of a log's last segment (treeoflife.Repair).
func repair(_ context.Context, c *cli, args []string) error {
	w := c.stdout
	pos, err := parseInterspersed(newFlags("repair"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: repair takes one log directory (treeoflife repair -h)", errUsage)
	}
	var opts treeoflife.Options
	if os.Getenv("TOL_ENCRYPTION_KEY") != "" {
		if opts.EncryptionKey, err = treeoflife.KeyFromEnv("TOL_ENCRYPTION_KEY"); err != nil {
			return err
		}
	}
	rep, err := treeoflife.Repair(pos[0], opts)
	if err != nil {
		return err
	}
	if rep.Segment == "" {
		fmt.Fprintf(w, "%s: nothing to repair (the log opens)\n", pos[0])
		return nil
	}
	fmt.Fprintf(w, "%s: cut %s at offset %d (%s)\n", pos[0], rep.Segment, rep.Offset, rep.Reason)
	if rep.Records > 0 {
		fmt.Fprintf(w, "records cut: %d (seq %d to %d)\n", rep.Records, rep.FirstSeq, rep.LastSeq)
	} else {
		fmt.Fprintf(w, "records cut: 0\n")
	}
	fmt.Fprintf(w, "bytes moved: %d, to %s\n", rep.Bytes, rep.Saved)
	fmt.Fprintf(w, "recorded as SYSTEM entry %d (%s)\n", rep.Entry.Seq, rep.Entry.Hash)
	return nil
}
