package tolbench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	tol "github.com/treeoflife/treeoflife"
)

// RowEntriesNested is RowEntries over a log whose entries have nested
// metadata (see GenerateNested).
const RowEntriesNested = "treeoflife-entries-nested"

// RowEntriesNestedRaw is RowEntriesNested with Filter.RawMetadata: the
// entries' metadata as stored JSON instead of map[string]any.
const RowEntriesNestedRaw = "treeoflife-entries-nested-raw"

var (
	tiers     = [...]string{"free", "pro", "enterprise"}
	countries = [...]string{"US", "DE", "FR", "GB", "JP", "CH", "NL"}
	cities    = [...]string{"Berlin", "Paris", "London", "Tokyo", "Zürich", "Amsterdam", "New York", "Lyon"}
)

// GenerateNested returns n metadata maps from a fixed seed: Generate's five
// fields plus a customer object with a nested address, and an array of one
// to three line items with an integer quantity and a fractional price. As
// stored JSON an entry is about 530 bytes.
func GenerateNested(n int) []tol.Fields {
	r := rand.New(rand.NewPCG(3, 4))
	fs := make([]tol.Fields, n)
	for i := range fs {
		e := newEntry(r)
		items := make([]any, 1+r.IntN(3))
		for k := range items {
			items[k] = map[string]any{
				"sku":   "sku_" + randID(r, 8),
				"qty":   1 + r.IntN(5),
				"price": float64(100+r.IntN(100_000)) / 100,
			}
		}
		f := e.Fields
		f["customer"] = map[string]any{
			"id":   e.CustomerID,
			"tier": tiers[r.IntN(len(tiers))],
			"address": map[string]any{
				"country": countries[r.IntN(len(countries))],
				"city":    cities[r.IntN(len(cities))],
			},
		}
		f["items"] = items
		fs[i] = f
	}
	return fs
}

// nestedLog writes, once for both nested rows, N entries with nested
// metadata (GenerateNested) with Buffered from one goroutine, so that record
// i holds map i mod Distinct (not timed), and returns its directory and the
// maps.
func (r *runner) nestedLog(ctx context.Context) (string, []tol.Fields, error) {
	fields := GenerateNested(min(r.cfg.N, r.cfg.Distinct))
	dir := filepath.Join(r.dir, "nested")
	if r.nestedDir != "" {
		return dir, fields, nil
	}
	r.cfg.logf("tolbench: writing %d entries with nested metadata with Buffered for %s (not timed)", r.cfg.N, RowEntriesNested)
	lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, SegmentSize: r.cfg.SegmentSize})
	if err != nil {
		return "", nil, err
	}
	_, werr := drive(ctx, r.cfg.N, 1, nil, func(i int) error {
		_, err := lg.Log(ctx, tol.LevelRevenue, "order placed", fields[i%len(fields)])
		return err
	})
	if err := lg.Close(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("preparing a log of %d entries: %w", r.cfg.N, werr)
	}
	r.nestedDir = dir
	return dir, fields, nil
}

// iterateNested times Entries(ctx, Filter{RawMetadata: raw}) over the
// nestedLog. The row fails unless it sees seq 0..N-1 in order, and record
// N/2's metadata (decoded from RawMetadata with encoding/json, for raw) is
// what was logged, as encoding/json would decode it.
func (r *runner) iterateNested(ctx context.Context, raw bool) (Row, error) {
	name := RowEntriesNested
	if raw {
		name = RowEntriesNestedRaw
	}
	row := Row{Name: name, Writers: 1, Entries: r.cfg.N}
	dir, fields, err := r.nestedLog(ctx)
	if err != nil {
		return row, err
	}

	// What record N/2 must decode to: its fields through encoding/json.
	probe := uint64(r.cfg.N / 2)
	var want map[string]any
	b, err := json.Marshal(fields[int(probe)%len(fields)])
	if err != nil {
		return row, err
	}
	if err := json.Unmarshal(b, &want); err != nil {
		return row, err
	}

	t0 := time.Now()
	rd, err := tol.OpenReader(dir)
	if err != nil {
		return row, err
	}
	defer rd.Close()
	opened := time.Since(t0)
	m, err := r.startMeter(name)
	if err != nil {
		return row, err
	}
	cpu0 := selfCPU()
	t0 = time.Now()
	var next uint64
	var got map[string]any
	var gotRaw []byte
	var ierr error
	for e, err := range rd.Entries(ctx, tol.Filter{RawMetadata: raw}) {
		if err != nil {
			ierr = err
			break
		}
		if e.Seq != next || e.Message == "" {
			ierr = fmt.Errorf("entry %d (message %q) where %d was due", e.Seq, e.Message, next)
			break
		}
		if e.Seq == probe {
			got, gotRaw = e.Metadata, slices.Clone(e.RawMetadata)
		}
		next++
	}
	elapsed := time.Since(t0)
	cpu := selfCPU() - cpu0
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if ierr != nil {
		return row, fmt.Errorf("iterating with Entries: %w", ierr)
	}
	if next != uint64(r.cfg.N) {
		return row, fmt.Errorf("iterating with Entries gave %d entries, want %d", next, r.cfg.N)
	}
	if raw {
		if got != nil {
			return row, fmt.Errorf("record %d has Metadata with Filter.RawMetadata", probe)
		}
		if err := json.Unmarshal(gotRaw, &got); err != nil {
			return row, fmt.Errorf("record %d's RawMetadata %q: %w", probe, gotRaw, err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		return row, fmt.Errorf("record %d has metadata %v, want %v", probe, got, want)
	}
	finish(&row, elapsed, 0)
	row.CPUusPerEntry = float64(cpu.Nanoseconds()) / 1e3 / float64(r.cfg.N)
	form := "as map[string]any"
	if raw {
		form = "as stored JSON (Filter.RawMetadata)"
	}
	row.Note = fmt.Sprintf("metadata with a nested object and an array of objects, %s; this process's CPU: %.2f us/entry; OpenReader took %.0f ms (not timed)", form, row.CPUusPerEntry, float64(opened)/1e6)
	return row, diskUsage(&row, dir)
}
