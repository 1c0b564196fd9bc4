package tolbench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable writes rows as an aligned, human-readable table.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "row\twriters\tentries\tseconds\tentries/s\tp50 ms\tp99 ms\tB/entry\talloc B/entry\tallocs/entry\theap peak MiB\tRSS peak MiB\tload\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.3f\t%s\t%s\t%s\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t%.1f\t\n",
			r.Name, r.Writers, thousands(float64(r.Entries)), r.Seconds, thousands(r.EntriesPerSec),
			ms(r.P50ms), ms(r.P99ms), r.BytesPerEntry, r.AllocBytesPerEntry, r.AllocsPerEntry,
			r.HeapPeakMiB, r.PeakRSSMiB, r.Load1)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Note)
		}
		if r.P99ms > 0 {
			fmt.Fprintf(w, "  %s: p99.9 %.3f ms, max %.3f ms\n", r.Name, r.P999ms, r.Maxms)
		}
		if r.CloseMs >= 1 {
			fmt.Fprintf(w, "  %s: final flush/Close %.1f ms (in seconds)\n", r.Name, r.CloseMs)
		}
	}
	return nil
}

// WriteJSON writes one JSON object per row per line.
func WriteJSON(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// A Target is one of the performance goals of treeoflife (see README.md).
type Target struct {
	Name string
	Got  string
	Pass bool
}

// Targets checks rows against the goals. A goal whose rows did not run is
// left out.
func Targets(rows []Row) []Target {
	by := map[string]Row{}
	for _, r := range rows {
		by[r.Name] = r
	}
	var ts []Target
	rate := func(row string, min float64) {
		if r, ok := by[row]; ok {
			ts = append(ts, Target{
				Name: fmt.Sprintf("%s >= %s entries/s", row, thousands(min)),
				Got:  thousands(r.EntriesPerSec),
				Pass: r.EntriesPerSec >= min,
			})
		}
	}
	rate(RowBuffered, 1_000_000)
	if b, ok := by[RowBuffered]; ok {
		if s, ok := by[RowSlog]; ok {
			ts = append(ts, Target{
				Name: fmt.Sprintf("%s within 2x of %s", RowBuffered, RowSlog),
				Got:  fmt.Sprintf("slog rate / treeoflife rate = %.2f", s.EntriesPerSec/b.EntriesPerSec),
				Pass: b.EntriesPerSec*2 >= s.EntriesPerSec,
			})
		}
	}
	rate(RowSync, 100_000)
	if r, ok := by[RowSync]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s p99 <= 5 ms", RowSync),
			Got:  fmt.Sprintf("%.3f ms", r.P99ms),
			Pass: r.P99ms <= 5,
		})
	}
	rate(RowVerify, 1_000_000)
	if r, ok := by[RowRSS]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s peak RSS <= 64 MiB (%s entries)", RowRSS, thousands(float64(r.Entries))),
			Got:  fmt.Sprintf("%.1f MiB", r.PeakRSSMiB),
			Pass: r.PeakRSSMiB > 0 && r.PeakRSSMiB <= 64,
		})
	}
	return ts
}

// WriteTargets writes one line per target: PASS or FAIL, the goal, the result.
func WriteTargets(w io.Writer, ts []Target) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range ts {
		verdict := "PASS"
		if !t.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", verdict, t.Name, t.Got)
	}
	return tw.Flush()
}
