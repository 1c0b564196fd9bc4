// Package legacyimport imports the logs of the system treeoflife replaces
// (the JavaScript and Python ImmutableLogger) into treeoflife logs: JSON
// lines, AES-256-GCM and the older AES-256-CBC encrypted lines, gzipped
// rotated archives, checked against the original hash chain
// (blockchain.json).
//
// Each legacy record becomes one record, appended with
// treeoflife.ImmutableLogger.Import: its id, timestamp, level, message,
// metadata, hostname, pid and tenant are kept as data, and its place in the
// original chain (index, hash, previousHash and the exact original line) is
// stored with it as a treeoflife.LegacyRef, so the original chain stays
// provable after the move.
//
// Tenant folders (OLD/default, OLD/customer-abc) become tenants of a
// treeoflife.Tenants root at the destination; a log without tenant folders
// whose lines carry no tenantId becomes a plain log there.
//
// The import is checked before it writes: every log is read once, its lines
// are checked against the chain and the first line of each format is
// decrypted and parsed. A directory that is not a legacy log, a wrong
// passphrase, or (without AllowBroken) a record that does not match the
// chain is refused and nothing is written. Only a line that fails to parse
// later in the second pass stops an import midway; the error then says what
// was written.
//
// The import is resumable and idempotent: a destination that already holds
// the first N records of a legacy log (checked record by record against
// the legacy lines) gets only the records after them, so running the same
// import twice writes nothing the second time.
package legacyimport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sort"
	"strconv"
	"time"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/internal/legacy"
)

// ErrNotLegacy is wrapped by the error for a directory or a line that is
// not part of a legacy log.
var ErrNotLegacy = legacy.ErrNotLegacy

// ErrPassphrase is wrapped by the error for an encrypted line the
// passphrase does not decrypt, or an encrypted log without a passphrase.
var ErrPassphrase = legacy.ErrPassphrase

// ErrMismatch is wrapped by the error for a destination that holds records
// other than the start of the legacy log being imported, so that resuming
// into it would not give a faithful copy.
var ErrMismatch = errors.New("destination does not hold this legacy log's records")

// Options configure an import.
type Options struct {
	// Passphrase decrypts encrypted legacy lines (the original's
	// ENCRYPTION_KEY / passphrase).
	Passphrase string
	// AllowBroken imports records that do not match the original chain,
	// marked as broken (LegacyRef.Broken), instead of refusing the import.
	AllowBroken bool
	// Log configures the destination logs (encryption, segment size...).
	// Its Durability and Tenant are set by the import: records are written
	// buffered and synced at the end of each log.
	Log treeoflife.Options
}

// A Broken record does not match the original chain.
type Broken struct {
	Tenant string // "" for a log without tenant
	Index  uint64 // its index in the original chain
	Where  string // file:line
	Reason string
}

// LogSummary is what the import did with one legacy log.
type LogSummary struct {
	Tenant  string // "" for a log without tenant
	From    string // the legacy log's directory
	To      string // the destination log's directory
	Checked string // what the chain was checked against: "blockchain.json", "log-hashes.json" or "" (nothing)
	// Records is the number of records in the legacy log; Imported were
	// written by this run, Skipped were in the destination already.
	Records, Imported, Skipped int
	Levels                     map[treeoflife.Level]int
	Broken                     []Broken
	// Missing counts records the chain holds after the last line of the
	// log files: lost from the files, so not imported.
	Missing     uint64
	First, Last time.Time // time range of the records
}

// Summary is what Import did.
type Summary struct {
	Logs                       []LogSummary
	Records, Imported, Skipped int
	Broken                     int // records that do not match the chain (imported and marked only with AllowBroken)
	Missing                    uint64
	Levels                     map[treeoflife.Level]int
	First, Last                time.Time
}

// BrokenError is returned when records do not match the original chain and
// AllowBroken is not set. Nothing was written.
type BrokenError struct {
	Broken  []Broken
	Missing map[string]uint64 // per tenant, records in the chain but not in the files
}

func (e *BrokenError) Error() string {
	n := len(e.Broken)
	for _, m := range e.Missing {
		n += int(m)
	}
	msg := fmt.Sprintf("%d legacy record(s) do not match the original hash chain; nothing was imported (AllowBroken, --allow-broken in the command, imports them, marked)", n)
	if len(e.Broken) > 0 {
		b := e.Broken[0]
		msg += fmt.Sprintf("; first: %srecord %d (%s): %s", tenantPrefix(b.Tenant), b.Index, b.Where, b.Reason)
	} else {
		for t, m := range e.Missing {
			msg += fmt.Sprintf("; %s%d record(s) of the chain are missing from the log files", tenantPrefix(t), m)
			break
		}
	}
	return msg
}

func tenantPrefix(t string) string {
	if t == "" {
		return ""
	}
	return fmt.Sprintf("tenant %q ", t)
}

// plan is one legacy log and where it goes.
type plan struct {
	src    legacy.Source
	tenant string
	sum    LogSummary
	res    *legacy.Result // the first reading, replayed by the second
}

// Import imports the legacy logs at from into to; see the package
// documentation. The Summary covers what was done, also when an error
// stops the import midway.
func Import(ctx context.Context, from, to string, opts Options) (Summary, error) {
	srcs, err := legacy.Discover(from)
	if err != nil {
		return Summary{}, err
	}
	plans := make([]*plan, len(srcs))
	for i, src := range srcs {
		if plans[i], err = check(ctx, src, opts); err != nil {
			return Summary{}, err
		}
	}
	tenants := 0
	seen := map[string]string{}
	for _, p := range plans {
		if p.tenant != "" {
			tenants++
			if err := treeoflife.ValidateTenantID(p.tenant); err != nil {
				return Summary{}, fmt.Errorf("legacy log %s: %w", p.src.Dir, err)
			}
		}
		if d, ok := seen[p.tenant]; ok {
			return Summary{}, fmt.Errorf("legacy logs %s and %s are both of %s", d, p.src.Dir, tenantName(p.tenant))
		}
		seen[p.tenant] = p.src.Dir
	}
	if tenants > 0 && tenants < len(plans) {
		return Summary{}, fmt.Errorf("%s holds logs with and without a tenant; import them separately", from)
	}
	if !opts.AllowBroken {
		be := &BrokenError{}
		for _, p := range plans {
			be.Broken = append(be.Broken, p.sum.Broken...)
			if p.sum.Missing > 0 {
				if be.Missing == nil {
					be.Missing = map[string]uint64{}
				}
				be.Missing[p.tenant] = p.sum.Missing
			}
		}
		if len(be.Broken) > 0 || len(be.Missing) > 0 {
			s := summarize(plans)
			return s, be
		}
	}
	lopts := opts.Log
	lopts.Durability = treeoflife.DurabilityBuffered
	lopts.Tenant = ""
	if tenants == 0 {
		p := plans[0]
		l, err := treeoflife.Open(to, lopts)
		if err != nil {
			return Summary{}, err
		}
		p.sum.To = to
		err = importLog(ctx, l, p, opts)
		if cerr := l.Close(); err == nil {
			err = cerr
		}
		return summarize(plans), err
	}
	ts, err := treeoflife.OpenTenants(to, lopts)
	if err != nil {
		return Summary{}, err
	}
	for i, p := range plans {
		err = func() error {
			tl, err := ts.Get(ctx, p.tenant)
			if err != nil {
				return err
			}
			defer tl.Close()
			p.sum.To, _ = ts.Dir(p.tenant)
			return importLog(ctx, tl.ImmutableLogger, p, opts)
		}()
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("%w (the logs before it, %s, were imported whole)", err, doneTenants(plans[:i]))
			}
			break
		}
	}
	if cerr := ts.Close(); err == nil {
		err = cerr
	}
	return summarize(plans), err
}

func doneTenants(ps []*plan) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", p.tenant)
	}
	return "tenant " + s
}

func tenantName(t string) string {
	if t == "" {
		return "no tenant"
	}
	return fmt.Sprintf("tenant %q", t)
}

// check reads src once: it checks every line against the chain, decodes
// the first line of each format (so a wrong passphrase or a file that is
// not a legacy log is found before anything is written), and decides the
// tenant: the first line's tenantId, else the tenant folder's name.
func check(ctx context.Context, src legacy.Source, opts Options) (*plan, error) {
	r, err := legacy.NewReader(src)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := &plan{src: src, tenant: src.Tenant}
	p.sum = LogSummary{Tenant: src.Tenant, From: src.Dir, Checked: r.Checked(), Levels: map[treeoflife.Level]int{}}
	d := legacy.NewDecoder([]byte(opts.Passphrase))
	formats := map[string]bool{}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		p.sum.Records++
		if rec.Broken != "" {
			p.sum.Broken = append(p.sum.Broken, Broken{Tenant: src.Tenant, Index: rec.Index, Where: rec.Where(), Reason: rec.Broken})
		}
		f, ok := legacy.Format(rec.Data)
		if !ok {
			return nil, fmt.Errorf("%s: %w: the line is neither a JSON entry nor an encrypted line", rec.Where(), ErrNotLegacy)
		}
		if formats[f] {
			continue
		}
		formats[f] = true
		e, err := d.Decode(rec.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rec.Where(), err)
		}
		if rec.Index == 0 && e.Tenant != "" {
			if src.Tenant != "" && e.Tenant != src.Tenant {
				return nil, fmt.Errorf("%s: the entry's tenantId %q is not its folder's name %q", rec.Where(), e.Tenant, src.Tenant)
			}
			p.tenant = e.Tenant
		}
	}
	if p.sum.Records == 0 {
		return nil, fmt.Errorf("%w: %s holds no records", ErrNotLegacy, src.Dir)
	}
	p.sum.Tenant = p.tenant
	for i := range p.sum.Broken {
		p.sum.Broken[i].Tenant = p.tenant
	}
	p.res = r.Result()
	p.sum.Missing = r.Missing()
	return p, nil
}

// importLog imports p into l: it checks that l holds a prefix of p's
// records, then imports the rest. The legacy log is read and decoded in a
// goroutine of its own, a batch ahead of the appends.
func importLog(ctx context.Context, l *treeoflife.ImmutableLogger, p *plan, opts Options) error {
	sum := &p.sum
	sum.Records, sum.Broken = 0, nil
	have := l.Head().Size
	var next func() (treeoflife.Entry, error, bool)
	if have > 0 {
		n, stop := iter.Pull2(l.Entries(ctx, treeoflife.Filter{}))
		defer stop()
		next = n
	}
	batches := make(chan []item, 4)
	quit := make(chan struct{})
	var missing uint64
	go func() {
		defer close(batches)
		produce(p, have, opts, batches, quit)
	}()
	defer func() {
		close(quit)
		for range batches { // let the producer finish
		}
	}()
	var seq uint64
	var lastErr error
	ended := false
	// The records to import are appended a batch at a time, encoded in
	// parallel (ImportBatch).
	var pending []treeoflife.ImportedEntry
	var pendingAt []*item
	flush := func() bool {
		if len(pending) == 0 {
			return true
		}
		recs, err := l.ImportBatch(ctx, pending)
		for i := range recs {
			count(sum, pending[i].Level, pending[i].Time)
		}
		sum.Imported += len(recs)
		seq += uint64(len(recs))
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", pendingAt[len(recs)].where(), err)
		}
		pending, pendingAt = pending[:0], pendingAt[:0]
		return err == nil
	}
loop:
	for batch := range batches {
		for i := range batch {
			it := &batch[i]
			if it.err != nil {
				if flush() {
					lastErr = it.err
				}
				break loop
			}
			if it.end {
				if flush() {
					ended, missing = true, it.missing
				}
				break loop
			}
			sum.Records++
			if it.broken != "" {
				sum.Broken = append(sum.Broken, Broken{Tenant: p.tenant, Index: it.ref.Index, Where: it.where(), Reason: it.broken})
			}
			if seq < have {
				e, err, ok := next()
				if !ok {
					lastErr = fmt.Errorf("%s: record %d: the log ended early", sum.To, seq)
					break loop
				}
				if err != nil {
					lastErr = err
					break loop
				}
				if err := samePrefix(&e, it); err != nil {
					lastErr = fmt.Errorf("%w: %s record %d: %v; refusing to resume into it", ErrMismatch, sum.To, seq, err)
					break loop
				}
				sum.Skipped++
				count(sum, e.Level, e.Time)
				seq++
				continue
			}
			if it.decodeErr != nil {
				if flush() {
					lastErr = it.decodeErr
				}
				break loop
			}
			if it.e.Tenant != p.tenant {
				if flush() {
					lastErr = fmt.Errorf("%s: the entry's tenantId %q is not the log's, %q", it.where(), it.e.Tenant, p.tenant)
				}
				break loop
			}
			pending = append(pending, it.e)
			pendingAt = append(pendingAt, it)
		}
		if !flush() {
			break
		}
	}
	if lastErr == nil && !ended {
		lastErr = ctx.Err()
	}
	if lastErr == nil && have > seq {
		lastErr = fmt.Errorf("%w: %s holds %d records, the legacy log %s only %d", ErrMismatch, sum.To, have, p.src.Dir, seq)
	}
	if lastErr == nil {
		sum.Missing = missing
	}
	// What was imported is made durable in any case: a rerun resumes after it.
	if err := l.Sync(context.WithoutCancel(ctx)); err != nil && lastErr == nil {
		lastErr = err
	}
	if lastErr != nil && sum.Imported > 0 {
		lastErr = fmt.Errorf("%w (%s: %d records were imported before it, legacy index %d to %d; a rerun resumes after them)",
			lastErr, tenantName(p.tenant), sum.Imported, uint64(sum.Skipped), uint64(sum.Skipped+sum.Imported-1))
	}
	return lastErr
}

// An item is one legacy record on its way to the appender: its chain
// reference and, past the records the destination holds, its entry.
type item struct {
	ref       treeoflife.LegacyRef
	file      string
	line      int
	broken    string
	e         treeoflife.ImportedEntry
	decodeErr error
	err       error  // reading failed: the last item
	end       bool   // the legacy log ended: the last item
	missing   uint64 // with end: records of the chain missing from the files
}

// where is the item's file:line, for messages.
func (it *item) where() string { return it.file + ":" + strconv.Itoa(it.line) }

// batchSize is how many records the reader hands the appender at a time.
const batchSize = 256

// produce reads p's legacy log again (replaying the check's result),
// decodes the records from index have on and sends them in batches, the
// last item an error or the end.
func produce(p *plan, have uint64, opts Options, out chan<- []item, quit <-chan struct{}) {
	r := legacy.Replay(p.src, p.res)
	defer r.Close()
	d := legacy.NewDecoder([]byte(opts.Passphrase))
	batch := make([]item, 0, batchSize)
	send := func() bool {
		select {
		case out <- batch:
			batch = make([]item, 0, batchSize)
			return true
		case <-quit:
			return false
		}
	}
	for seq := uint64(0); ; seq++ {
		rec, err := r.Next()
		if err != nil {
			if err == io.EOF {
				batch = append(batch, item{end: true, missing: r.Missing()})
			} else {
				batch = append(batch, item{err: err})
			}
			send()
			return
		}
		it := item{
			ref:    treeoflife.LegacyRef{Index: rec.Index, Hash: rec.Hash, PrevHash: rec.PrevHash, Broken: rec.Broken != "", Data: string(rec.Data)},
			broken: rec.Broken,
		}
		it.file, it.line = rec.File, rec.Line
		if seq >= have {
			le, err := d.Decode(rec.Data)
			if err != nil {
				it.decodeErr = fmt.Errorf("%s: %w", it.where(), err)
			} else {
				tenant := le.Tenant
				if tenant == "" && p.src.Tenant != "" {
					tenant = p.tenant // a tenant folder's line without tenantId
				}
				it.e = treeoflife.ImportedEntry{
					ID: le.ID, Time: le.Time, Level: le.Level, Message: le.Message,
					MetadataJSON: bytes.Clone(le.Metadata), Hostname: le.Hostname, PID: le.PID, Tenant: tenant,
				}
				it.e.Legacy = &it.ref
			}
		}
		batch = append(batch, it)
		if len(batch) == batchSize && !send() {
			return
		}
	}
}

// samePrefix checks that e, a record of the destination, is the import of
// rec.
func samePrefix(e *treeoflife.Entry, it *item) error {
	switch {
	case e.Legacy == nil:
		return errors.New("it was not imported from a legacy log")
	case e.Legacy.Index != it.ref.Index:
		return fmt.Errorf("it is legacy record %d, not %d", e.Legacy.Index, it.ref.Index)
	case e.Legacy.Hash != it.ref.Hash || e.Legacy.Data != it.ref.Data:
		return fmt.Errorf("it differs from legacy record %d (%s)", it.ref.Index, it.where())
	}
	return nil
}

func count(s *LogSummary, level treeoflife.Level, t time.Time) {
	s.Levels[level]++
	if s.First.IsZero() || t.Before(s.First) {
		s.First = t
	}
	if t.After(s.Last) {
		s.Last = t
	}
}

func summarize(plans []*plan) Summary {
	s := Summary{Levels: map[treeoflife.Level]int{}}
	for _, p := range plans {
		ls := p.sum
		s.Logs = append(s.Logs, ls)
		s.Records += ls.Records
		s.Imported += ls.Imported
		s.Skipped += ls.Skipped
		s.Broken += len(ls.Broken)
		s.Missing += ls.Missing
		for l, n := range ls.Levels {
			s.Levels[l] += n
		}
		if !ls.First.IsZero() && (s.First.IsZero() || ls.First.Before(s.First)) {
			s.First = ls.First
		}
		if ls.Last.After(s.Last) {
			s.Last = ls.Last
		}
	}
	sort.SliceStable(s.Logs, func(i, j int) bool { return s.Logs[i].Tenant < s.Logs[j].Tenant })
	return s
}
