package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/treeoflife/treeoflife"
)

// prove prints the receipt of one record of a log on disk, against the
// log's CHECKPOINT (which must be signed and cover the record). It opens
// the log read-only: the writer may be running.
func prove(ctx context.Context, args []string, w io.Writer) error {
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
		return fmt.Errorf("%w: sequence number %q", errUsage, pos[1])
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
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
