package tolbench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	tol "github.com/treeoflife/treeoflife"
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
		if r.PUTs > 0 {
			fmt.Fprintf(w, "  %s: backup max lag %.3f s (%s records), drain %.3f s, %s PUTs (%s batch objects), %.1f MiB uploaded\n",
				r.Name, r.MaxLagMs/1e3, thousands(float64(r.MaxLagRecords)), r.DrainMs/1e3, thousands(float64(r.PUTs)), thousands(float64(r.Batches)), float64(r.UploadedBytes)/(1<<20))
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
	Name string `json:"name"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
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
	rate(RowSync, 100_000)
	if r, ok := by[RowSync]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s p99 <= 2 ms", RowSync),
			Got:  fmt.Sprintf("%.3f ms", r.P99ms),
			Pass: r.P99ms <= 2,
		})
	}
	rate(RowVerify, 1_000_000)
	if r, ok := by[RowReadPage]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s p99 <= 10 ms", RowReadPage),
			Got:  fmt.Sprintf("%.3f ms", r.P99ms),
			Pass: r.P99ms <= 10,
		})
	}
	// Search over 1M entries in <= 0.5 s, as a rate, so that it holds for
	// any -n.
	if r, ok := by[RowSearch]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s >= 2,000,000 entries/s (1M in <= 0.5 s)", RowSearch),
			Got:  fmt.Sprintf("%s entries/s, %.3f s for %s", thousands(r.EntriesPerSec), r.Seconds, thousands(float64(r.Entries))),
			Pass: r.EntriesPerSec >= 2_000_000,
		})
	}
	rate(RowEntries, 1_200_000)
	rate(RowEntriesNested, 1_200_000)
	rate(RowEntriesNestedRaw, 1_200_000)
	if r, ok := by[RowDashOverview]; ok {
		ts = append(ts, Target{Name: fmt.Sprintf("%s p99 <= 50 ms (set at 1M records)", RowDashOverview), Got: fmt.Sprintf("%.3f ms", r.P99ms), Pass: r.P99ms <= 50})
	}
	if r, ok := by[RowDashSearch]; ok {
		ts = append(ts, Target{Name: fmt.Sprintf("%s p99 <= 200 ms (set at 1M records)", RowDashSearch), Got: fmt.Sprintf("%.3f ms", r.P99ms), Pass: r.P99ms <= 200})
	}
	if r, ok := by[RowDashStream]; ok {
		ts = append(ts, Target{Name: fmt.Sprintf("%s delivery p99 <= 1 s at 10,000 entries/s", RowDashStream), Got: fmt.Sprintf("%.3f ms", r.P99ms), Pass: r.P99ms <= 1000})
	}
	if r, ok := by[RowDashClients]; ok {
		ts = append(ts, Target{Name: fmt.Sprintf("%s cost <= 10%% of logging throughput", RowDashClients), Got: fmt.Sprintf("%.1f%%", r.CostPct), Pass: r.CostPct <= 10})
	}
	rate(RowLegacyImport, 100_000)
	if r, ok := by[RowShipS3]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s max backup lag <= 2 s", RowShipS3),
			Got:  fmt.Sprintf("%.3f s (%s records), logging at %s entries/s", r.MaxLagMs/1e3, thousands(float64(r.MaxLagRecords)), thousands(r.EntriesPerSec)),
			Pass: r.MaxLagMs <= 2000,
		}, Target{
			Name: fmt.Sprintf("%s drain (SyncBackup after the last write) <= 2 s", RowShipS3),
			Got:  fmt.Sprintf("%.3f s", r.DrainMs/1e3),
			Pass: r.DrainMs <= 2000,
		})
	}
	if r, ok := by[RowShipS3Paced]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s logs at >= 95%% of %s entries/s", RowShipS3Paced, thousands(r.OfferedPerSec)),
			Got:  fmt.Sprintf("%s entries/s", thousands(r.EntriesPerSec)),
			Pass: r.OfferedPerSec >= 100_000 && r.EntriesPerSec >= 0.95*r.OfferedPerSec,
		}, Target{
			Name: fmt.Sprintf("%s max backup lag <= 2 s", RowShipS3Paced),
			Got:  fmt.Sprintf("%.3f s (%s records)", r.MaxLagMs/1e3, thousands(float64(r.MaxLagRecords))),
			Pass: r.MaxLagMs <= 2000,
		}, Target{
			Name: fmt.Sprintf("%s drain (SyncBackup after the last write) <= 2 s", RowShipS3Paced),
			Got:  fmt.Sprintf("%.3f s", r.DrainMs/1e3),
			Pass: r.DrainMs <= 2000,
		})
	}
	rate(RowShipCapacity, 100_000)
	if r, ok := by[RowShipCapacity]; ok {
		want := (int64(r.Entries) + tol.DefaultBackupBatchSize - 1) / tol.DefaultBackupBatchSize
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s batch objects == ceil(entries / %d)", RowShipCapacity, tol.DefaultBackupBatchSize),
			Got:  fmt.Sprintf("%s batches, want %s (%s PUTs in all, HEADER and checkpoints included)", thousands(float64(r.Batches)), thousands(float64(want)), thousands(float64(r.PUTs))),
			Pass: r.Batches == want,
		})
	}
	// Restore 1M entries in <= 30 s, as a rate.
	if r, ok := by[RowRestoreS3]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s >= 33,334 entries/s (1M in <= 30 s)", RowRestoreS3),
			Got:  fmt.Sprintf("%s entries/s, %.1f s for %s", thousands(r.EntriesPerSec), r.Seconds, thousands(float64(r.Entries))),
			Pass: r.EntriesPerSec >= 1_000_000.0/30,
		})
	}
	ts = append(ts, sinkTargets(by)...)
	// Signing a checkpoint every second costs at most 2% of logging, and
	// verifying against an anchor is no slower than verifying alone
	// (1.17M/s was measured before anchors existed).
	// ratio appends the target row >= min x base, and reports whether it
	// did (both rows ran).
	ratio := func(row, base string, min float64, what string) bool {
		r, ok1 := by[row]
		b, ok2 := by[base]
		if !ok1 || !ok2 || b.EntriesPerSec <= 0 {
			return false
		}
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s >= %.2fx %s (%s)", row, min, base, what),
			Got:  fmt.Sprintf("%.3fx (%s vs %s entries/s)", r.EntriesPerSec/b.EntriesPerSec, thousands(r.EntriesPerSec), thousands(b.EntriesPerSec)),
			Pass: r.EntriesPerSec >= min*b.EntriesPerSec,
		})
		return true
	}
	ratio(RowBuffered, RowSlog, 1.0, "hash-chaining as fast as slog writes JSON")
	const encryptedMin = 0.85
	if ratio(RowBufferedEncrypted, RowBuffered, encryptedMin, "AES-256-GCM on every record") {
		// An encrypted record is a plain one (of 33 more bytes) and its
		// sealing: while both rows use the CPUs alike, the ratio is at
		// most what the sealing leaves.
		if a, b := by[RowAESGCM], by[RowBuffered]; a.CPUusPerEntry > 0 && b.CPUusPerEntry > 0 {
			bound := b.CPUusPerEntry / (b.CPUusPerEntry + a.CPUusPerEntry)
			ts[len(ts)-1].Got += fmt.Sprintf("; %s alone is %.2f us of CPU an entry, %.0f%% of %s's %.2f us: at most %.3fx while both are bound by the CPU",
				RowAESGCM, a.CPUusPerEntry, 100*a.CPUusPerEntry/b.CPUusPerEntry, RowBuffered, b.CPUusPerEntry, bound)
			if bound < encryptedMin {
				ts[len(ts)-1].Got += fmt.Sprintf(", under %.2fx: out of reach in this run even if encrypting cost nothing but the sealing", encryptedMin)
			}
		}
	}
	ratio(RowShipS3, RowSync, 0.8, "shipping to S3, MinIO on the same machine")
	ratio(RowTolSlog, RowBuffered, 0.8, "the same entries through log/slog")
	ratio(RowBufferedSigned, RowBuffered, 0.98, "a signed checkpoint every second")
	ratio(RowSyncSigned, RowSync, 0.98, "a signed checkpoint every second")
	ratio(RowVerifyAnchored, RowVerify, 0.95, "signed checkpoint and anchor checked")
	ratio(RowSync, RowCeiling, 0.6, "the disk's ceiling for the same bytes")
	if v, ok := by[RowVerify]; ok {
		if h, ok := by[RowSHA256]; ok && h.EntriesPerSec > 0 {
			ts = append(ts, Target{
				Name: fmt.Sprintf("%s >= 3,000,000 entries/s on 2 cores (%s: the hash on one core)", RowVerify, RowSHA256),
				Got:  fmt.Sprintf("%s entries/s, %.2fx %s (%s)", thousands(v.EntriesPerSec), v.EntriesPerSec/h.EntriesPerSec, RowSHA256, thousands(h.EntriesPerSec)),
				Pass: v.EntriesPerSec >= 3_000_000,
			})
		}
	}
	if v, ok := by[RowVerifyDir]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s >= 3,000,000 entries/s on 2 cores", RowVerifyDir),
			Got:  fmt.Sprintf("%s entries/s", thousands(v.EntriesPerSec)),
			Pass: v.EntriesPerSec >= 3_000_000,
		})
	}
	rate(RowVerifyAnchored, 1_170_000)
	if r, ok := by[RowProve]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s: inclusion proof p99 <= 1 ms", RowProve),
			Got:  fmt.Sprintf("%.3f ms (p50 %.3f ms)", r.P99ms, r.P50ms),
			Pass: r.P99ms <= 1,
		}, Target{
			Name: fmt.Sprintf("%s: verifying an inclusion proof p99 <= 0.2 ms", RowProve),
			Got:  fmt.Sprintf("%.3f ms", r.VerifyP99ms),
			Pass: r.VerifyP99ms > 0 && r.VerifyP99ms <= 0.2,
		})
	}
	if r, ok := by[RowOpen]; ok {
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s: Open of a %s-record log <= 1 s (set at 10,000,000 records)", RowOpen, thousands(float64(r.Entries))),
			Got:  fmt.Sprintf("%.3f s (median of %d)", r.Seconds, OpenRuns),
			Pass: r.Seconds <= 1,
		})
	}
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
