package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/treeoflife/treeoflife"
)

const statsHelp = `usage: treeoflife stats [--json] DIR

stats prints what the log's indexes say, without reading its records:
the number of entries per level, segments, bytes on disk, the oldest and
newest timestamps and the head (size, chain value, Merkle root). The head
is computed, not verified: that is treeoflife verify.

flags:
  --json   print one JSON object instead of text

examples:
  treeoflife stats /var/log/audit
  treeoflife stats --json /var/log/audit | jq .levels
`

// statsJSON is what stats --json prints.
type statsJSON struct {
	Dir      string            `json:"dir"`
	Entries  uint64            `json:"entries"`
	Segments int               `json:"segments"`
	Bytes    int64             `json:"bytes"`
	Oldest   *time.Time        `json:"oldest,omitempty"`
	Newest   *time.Time        `json:"newest,omitempty"`
	Levels   map[string]uint64 `json:"levels"`
	Unknown  uint64            `json:"unknown,omitempty"` // records whose level and time need the key
	Head     treeoflife.Head   `json:"head"`
	FirstSeq uint64            `json:"firstSeq,omitempty"` // where the local log begins after local retention
}

func stats(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("stats")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: stats takes one log directory", errUsage)
	}
	r, err := openReader(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Stats(ctx)
	if err != nil {
		return err
	}
	w := c.stdout
	if *asJSON {
		out := statsJSON{Dir: r.Dir(), Entries: st.TotalEntries, Segments: st.Segments, Bytes: st.Bytes, Levels: map[string]uint64{}, Head: st.Head}
		if !st.Oldest.IsZero() {
			out.Oldest, out.Newest = &st.Oldest, &st.Newest
		}
		out.Unknown, out.FirstSeq = st.Unknown, st.FirstSeq
		for lv, n := range st.Levels {
			out.Levels[lv.String()] = n
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "%s: %d entries in %d segment(s), %d bytes\n", r.Dir(), st.TotalEntries, st.Segments, st.Bytes)
	if st.TotalEntries > 0 {
		fmt.Fprintf(w, "  oldest %s\n  newest %s\n", statsTime(st.Oldest), statsTime(st.Newest))
	}
	for _, lv := range treeoflife.Levels() {
		if n := st.Levels[lv]; n > 0 {
			fmt.Fprintf(w, "  %-8s %d\n", lv, n)
		}
	}
	if st.FirstSeq > 0 {
		fmt.Fprintf(w, "  records 0 to %d were removed locally by retention (in the backup only); the local log begins at %d\n", st.FirstSeq-1, st.FirstSeq)
	}
	if st.Unknown > 0 {
		fmt.Fprintf(w, "  %-8s %d (encrypted and not yet indexed: level and time need the key; oldest and newest leave them out)\n", "unknown", st.Unknown)
	}
	_, err = fmt.Fprintf(w, "  chain head  %s\n  merkle root %s\n", st.Head.Chain, st.Head.Root)
	return err
}

// statsTime formats a time from Stats, whose zero means "not known".
func statsTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.Format(time.RFC3339Nano)
}
