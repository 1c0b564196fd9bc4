package treeoflife

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// SeqRange is the records First..Last, inclusive.
type SeqRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// BackupReport compares one backup sink of a logger with its local log;
// ImmutableLogger.VerifyBackup returns one per sink (VerifyReport.Backups).
type BackupReport struct {
	Sink string `json:"sink"` // see SinkName

	// Synced: the backup holds exactly the local log's durable records,
	// each verified, and nothing else.
	Synced         bool    `json:"synced"`
	SyncPercentage float64 `json:"syncPercentage"` // BackupRecords as a share of LocalRecords
	LocalRecords   uint64  `json:"localRecords"`   // durable records in the local log
	BackupRecords  uint64  `json:"backupRecords"`  // of those, records whose backup copy verified

	Missing    []SeqRange `json:"missing,omitempty"`
	Mismatched []SeqRange `json:"mismatched,omitempty"` // backup objects that differ from the local log or do not verify

	// Foreign lists batches that hold records beyond the local log: the
	// backup claims a history this log does not have. Junk lists objects
	// under the log's backup root whose names are no backup object's (see
	// FORMAT.md, Backup objects).
	Foreign []string `json:"foreign,omitempty"`
	Junk    []string `json:"junk,omitempty"`

	// Redundant lists this sink's redundant batches (see
	// VerifyReport.Redundant).
	Redundant []string `json:"redundant,omitempty"`
}

// batchRef is one batch object in a backup.
type batchRef struct {
	key         string
	first, last uint64
}

func listBatches(ctx context.Context, sink backup.Sink, root string) ([]batchRef, error) {
	var refs []batchRef
	for info, err := range sink.List(ctx, root+"batches/") {
		if err != nil {
			return nil, fmt.Errorf("treeoflife: list backup batches: %w", err)
		}
		if f, l, ok := parseBatchKey(root, info.Key); ok {
			refs = append(refs, batchRef{key: info.Key, first: f, last: l})
		}
	}
	sortBatches(refs)
	return refs, nil
}

// sortBatches orders refs by first record, then by last.
func sortBatches(refs []batchRef) {
	slices.SortFunc(refs, func(a, b batchRef) int {
		if a.first != b.first {
			return compareU64(a.first, b.first)
		}
		return compareU64(a.last, b.last)
	})
}

// tileBatches splits refs, sorted by sortBatches, into the batches that
// tile the records and the redundant rest. From record 0 on, it takes at
// each point the batch that starts at the next record (the longest, when
// several do); where none does, the batch that overlaps the records before
// and reaches furthest beyond them, if any; else it skips the gap to the
// next batch. Tiles come in order; tiles[i].first may be less than the
// record after tiles[i-1] (an overlap) or more (a gap). Every redundant
// batch lies within the records the tiles cover.
func tileBatches(refs []batchRef) (tiles, redundant []batchRef) {
	isTile := make([]bool, len(refs))
	next := uint64(0) // the record after the tiles so far
	i := 0            // refs[:i] start before next
	best := -1        // of refs[:i], the one reaching furthest
tiling:
	for next != math.MaxUint64 {
		for i < len(refs) && refs[i].first < next {
			if best < 0 || refs[i].last > refs[best].last {
				best = i
			}
			i++
		}
		j := i
		for j < len(refs) && refs[j].first == next {
			j++
		}
		var t int
		switch {
		case j > i:
			t = j - 1
		case best >= 0 && refs[best].last >= next:
			t = best
		case i < len(refs):
			next = refs[i].first // a gap
			continue
		default:
			break tiling
		}
		isTile[t] = true
		tiles = append(tiles, refs[t])
		// A batch ending at the largest seq (only a forged key can) ends the
		// tiling: nothing can come after it.
		next = min(refs[t].last, math.MaxUint64-1) + 1
	}
	for k, r := range refs {
		if !isTile[k] {
			redundant = append(redundant, r)
		}
	}
	return tiles, redundant
}

// backupListing is what the backup root of one log holds, by kind.
type backupListing struct {
	batches     []batchRef        // sorted by sortBatches
	checkpoints map[uint64]string // checkpoint keys by size
	junk        []string          // keys that name no backup object
}

// listBackup lists every object under root once and sorts it by kind: the
// names FORMAT.md gives (headers/, LEASE, batches/, checkpoints/), and
// junk, anything else.
func listBackup(ctx context.Context, sink backup.Sink, root string) (*backupListing, error) {
	b := &backupListing{checkpoints: map[uint64]string{}}
	for info, err := range sink.List(ctx, root) {
		if err != nil {
			return nil, fmt.Errorf("treeoflife: list backup %s: %w", root, err)
		}
		if f, l, ok := parseBatchKey(root, info.Key); ok {
			b.batches = append(b.batches, batchRef{key: info.Key, first: f, last: l})
		} else if n, ok := parseCheckpointKey(root, info.Key); ok {
			b.checkpoints[n] = info.Key
		} else if _, ok := parseHeaderKey(root, info.Key); !ok && info.Key != root+"LEASE" {
			b.junk = append(b.junk, info.Key)
		}
	}
	sortBatches(b.batches)
	return b, nil
}

// parseCheckpointKey returns the size of a checkpoint key under root.
func parseCheckpointKey(root, key string) (uint64, bool) {
	rest, found := strings.CutPrefix(key, root+"checkpoints/")
	if !found || len(rest) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// checkDeleted reports, as a *TamperError, a batch, checkpoint or HEADER
// revision under root that was deleted but whose earlier version the store
// still holds (a delete marker on a versioned S3 bucket, which Object Lock
// requires; a noncurrent generation on GCS): List does not show such an
// object, so without this a deleted newest batch, with its checkpoints,
// would pass for a shorter backup. Sinks without versions
// (backup.VersionLister) are not asked.
func checkDeleted(ctx context.Context, sink backup.Sink, root string) error {
	vl, ok := sink.(backup.VersionLister)
	if !ok {
		return nil
	}
	for info, err := range vl.ListDeleted(ctx, root) {
		if err != nil {
			return fmt.Errorf("treeoflife: list deleted backup objects under %s: %w", root, err)
		}
		var seq uint64
		if f, _, ok := parseBatchKey(root, info.Key); ok {
			seq = f
		} else if n, ok := parseCheckpointKey(root, info.Key); ok {
			seq = n
		} else if _, ok := parseHeaderKey(root, info.Key); !ok {
			continue // LEASE, or junk: not a record of the log
		}
		return &TamperError{Segment: info.Key, Seq: seq, Offset: -1, Reason: "deleted: a delete marker hides it (the store still holds the version)"}
	}
	return nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func getObject(ctx context.Context, sink backup.Sink, key string) ([]byte, error) {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		rc, _, err := sink.Get(ctx, key)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(rc)
			rc.Close()
			if err == nil {
				return b, nil
			}
		}
		if errors.Is(err, backup.ErrNotExist) || errors.Is(err, backup.ErrChecksum) || ctx.Err() != nil {
			return nil, err
		}
		last = err
		t := time.NewTimer(time.Duration(100<<attempt) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	return nil, last
}

// VerifyBackup downloads every batch in each of the logger's backup sinks
// and checks it against the local log: each record's chain value is
// recomputed from the downloaded bytes and must equal the local one, so a
// copy that merely exists but was altered is found, as is one that is
// missing. The comparison is in the report's Backups field, one
// BackupReport per sink in the order of Options.Backup then
// Options.Backups; Backup points to the first, and Redundant is the
// first's.
//
// For each sink, the check passes when the backup holds a prefix of the
// local log, the records not yet shipped being Missing at its end.
// Anything else is a *TamperError naming the first object at fault: a
// batch that differs from the local log or does not verify, a hole
// followed by later batches, a batch beyond the local log, an object whose
// name is no backup object's (FORMAT.md, Backup objects), or, on a store
// that keeps versions (see backup.VersionLister), a batch, checkpoint or
// HEADER revision hidden by a delete. Every sink is checked, whatever the
// others give. With one sink the error is its own; with several, it joins
// a *SinkError for each sink that failed (errors.As finds the
// *TamperError). The reports are complete in every case.
func (l *ImmutableLogger) VerifyBackup(ctx context.Context) (VerifyReport, error) {
	if !l.live() {
		return VerifyReport{}, ErrClosed
	}
	if l.backups == nil {
		return VerifyReport{}, errors.New("treeoflife: no backup configured (Options.Backup or Options.Backups)")
	}
	if err := l.Sync(ctx); err != nil {
		return VerifyReport{}, err
	}
	l.cutMu.RLock()
	defer l.cutMu.RUnlock()
	v, head := l.durableHead()
	rep := VerifyReport{Head: head}
	var errs []error
	for _, s := range l.backups.sinks {
		st, err := verifySinkBackup(ctx, s, v)
		rep.Backups = append(rep.Backups, st)
		if err != nil {
			errs = append(errs, &SinkError{Sink: s.name, Err: err})
		}
	}
	rep.Backup = &rep.Backups[0]
	rep.Redundant = rep.Backup.Redundant
	if len(l.backups.sinks) == 1 && len(errs) == 1 {
		return rep, errs[0].(*SinkError).Err
	}
	return rep, errors.Join(errs...)
}

// verifySinkBackup compares the backup in one sink with the local records
// of v; see VerifyBackup.
func verifySinkBackup(ctx context.Context, s *shipper, v *readView) (BackupReport, error) {
	st := BackupReport{Sink: s.name, LocalRecords: v.Size}
	listing, err := listBackup(ctx, s.sink, s.root)
	if err != nil {
		return st, err
	}
	st.Junk = listing.junk
	var fault *TamperError // the first problem found, in order of seq
	blame := func(key string, seq uint64, reason string) {
		if fault == nil || seq < fault.Seq {
			fault = &TamperError{Segment: key, Seq: seq, Offset: -1, Reason: reason}
		}
	}
	tiles, redundant := tileBatches(listing.batches)
	first := v.firstLocal()
	var mismatched []SeqRange
	next := uint64(0) // records before next are accounted for
	for _, r := range tiles {
		if r.last >= v.Size {
			st.Foreign = append(st.Foreign, r.key)
			blame(r.key, max(r.first, v.Size), "backup batch holds records beyond the local log")
		}
		if r.first >= v.Size {
			continue
		}
		if r.first > next {
			st.Missing = appendRange(st.Missing, next, r.first-1)
			blame(r.key, next, fmt.Sprintf("records %d..%d are missing from the backup before this batch", next, r.first-1))
		}
		if r.last < first {
			// Before where the local log begins (local retention): the
			// batch was compared before its records were removed.
			st.BackupRecords += r.last + 1 - max(r.first, next)
			next = r.last + 1
			continue
		}
		ok, err := verifyBatch(ctx, s.sink, v, r, first)
		if err != nil {
			return st, err
		}
		last := min(r.last, v.Size-1)
		if ok {
			st.BackupRecords += last + 1 - max(r.first, next)
		} else {
			mismatched = append(mismatched, SeqRange{r.first, last})
			blame(r.key, r.first, "backup batch differs from the local log")
		}
		next = last + 1
	}
	if next < v.Size {
		st.Missing = appendRange(st.Missing, next, v.Size-1)
	}
	for _, r := range redundant {
		if r.last >= v.Size {
			st.Foreign = append(st.Foreign, r.key)
			blame(r.key, max(r.first, v.Size), "backup batch holds records beyond the local log")
		}
		if r.first >= v.Size || r.last < first {
			continue
		}
		ok, err := verifyBatch(ctx, s.sink, v, r, first)
		if err != nil {
			return st, err
		}
		if ok {
			st.Redundant = append(st.Redundant, r.key)
		} else {
			mismatched = append(mismatched, SeqRange{r.first, min(r.last, v.Size-1)})
			blame(r.key, r.first, "backup batch differs from the local log")
		}
	}
	slices.SortFunc(mismatched, func(a, b SeqRange) int { return compareU64(a.First, b.First) })
	for _, m := range mismatched {
		st.Mismatched = appendRange(st.Mismatched, m.First, m.Last)
	}
	slices.Sort(st.Foreign)
	st.SyncPercentage = 100
	if st.LocalRecords > 0 {
		st.SyncPercentage = float64(st.BackupRecords) * 100 / float64(st.LocalRecords)
	}
	st.Synced = st.BackupRecords == st.LocalRecords && len(st.Missing) == 0 && len(st.Mismatched) == 0 && len(st.Foreign) == 0 && len(st.Junk) == 0
	if err := checkDeleted(ctx, s.sink, s.root); err != nil {
		return st, err
	}
	if len(st.Junk) > 0 && fault == nil {
		fault = &TamperError{Segment: st.Junk[0], Offset: -1, Reason: "object under the backup root is no backup object"}
	}
	if fault != nil {
		return st, fault
	}
	return st, nil
}

// appendRange adds first..last to rs, whose ranges are in order of their
// first record, merging it with the last range when they touch or overlap.
func appendRange(rs []SeqRange, first, last uint64) []SeqRange {
	if n := len(rs); n > 0 && rs[n-1].Last+1 >= first {
		rs[n-1].Last = max(rs[n-1].Last, last)
		return rs
	}
	return append(rs, SeqRange{First: first, Last: last})
}

// verifyBatch reports whether the batch r holds exactly the local records:
// well-formed frames, the right sequence numbers, and chain values that
// link from the local record before it and equal the local ones.
//
// Only the records from lo (at least r.first) on are compared: those before
// are no longer local after local retention (lo is then where the local log
// begins), or were compared before.
func verifyBatch(ctx context.Context, sink backup.Sink, v *readView, r batchRef, lo uint64) (bool, error) {
	body, err := getObject(ctx, sink, r.key)
	if errors.Is(err, backup.ErrChecksum) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	lo = max(lo, r.first)
	var local []Hash
	from := lo
	var prev Hash
	switch {
	case lo == 0:
		prev = genesisChain(v.LogID)
	case lo == v.firstLocal():
		// The first local record: the chain value before it is its
		// segment header's.
		if prev, _, err = stateAt(v, lo); err != nil {
			return false, err
		}
	default:
		from--
	}
	err = readFrames(v, from, min(r.last+1, v.Size), func(fr *frame) error {
		if fr.Seq < lo {
			prev = fr.Chain
		} else {
			local = append(local, fr.Chain)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	i := 0
	ok := true
	next := r.first
	werr := walkBatch(body, func(fr *frame) error {
		if fr.Seq != next {
			ok = false
			return io.EOF
		}
		next++
		if fr.Seq < lo {
			return nil
		}
		if i >= len(local) {
			ok = false
			return io.EOF
		}
		leaf := leafHash(fr.Payload)
		prev = chainHash(&prev, &leaf)
		if prev != local[i] || fr.Chain != local[i] {
			ok = false
			return io.EOF
		}
		i++
		return nil
	})
	if werr != nil && werr != io.EOF {
		ok = false
	}
	return ok && i == len(local), nil
}

// RestoreOptions configure RestoreBackup.
type RestoreOptions struct {
	// Prefix is the BackupPrefix the log was shipped with.
	Prefix string

	// LogID selects the log under Prefix (hex, as LogID returns). It may be
	// empty when Prefix holds one log for Tenant; finding it then lists
	// every object under Prefix, which takes a while in a large bucket.
	LogID string

	// Tenant is the log's Options.Tenant ("" for none).
	Tenant string

	// Records, when non-zero, restores only records 0..Records-1: a
	// point-in-time restore by position. More records than the backup
	// holds is an error (ErrBeyondBackup, saying how many it holds).
	Records uint64

	// UpToTime, when set, stops before the first entry stamped after it: a
	// point-in-time restore by time. It needs readable (unencrypted, or
	// Options.EncryptionKey given) entries.
	UpToTime time.Time

	// Parallel is how many batches are downloaded at once. Default 8.
	Parallel int

	// Fallback lists other sinks that hold a backup of the same log (the
	// other regions or providers of Options.Backups). RestoreBackup tries
	// them in order after the sink it is given, each continuing from the
	// records already restored: a sink that fails mid-restore (down,
	// damaged, tampered with) or that holds fewer records (it lagged) is
	// completed from the next. VerifyBackup and VerifyBackupWith ignore it.
	Fallback []backup.Sink

	// Log configures the restored log (SegmentSize, Compress, keys...).
	// Backup is ignored: see RestoreBackup. An encrypted log is restored
	// through a logger, so it needs its key here, as Open does; to check a
	// backup without one, use VerifyBackup.
	Log Options
}

// RestoreBackup rebuilds the log directory dir from a backup: the newest
// HEADER revision, then the batches, downloaded in parallel with retries and
// appended in order. Every record's chain value is recomputed from the
// downloaded bytes and must be the one that was shipped, and the result
// must match the newest backup checkpoint it passes, and a complete restore
// must reach every checkpoint; otherwise it stops with a *TamperError naming
// the object. A batch that overlaps the batches tiling the log must hold
// the same frames (it is logged at Info to Options.Logger); a batch,
// checkpoint or HEADER revision hidden by a delete on a store that keeps
// versions is tampering (see backup.VersionLister); an object under the
// backup root that is no backup object is logged as a warning. If dir
// already holds part of the same log (an interrupted restore), it continues
// from there.
//
// With RestoreOptions.Fallback, the sinks are tried in order, sink first,
// each continuing from what the ones before restored, so the log reaches
// the furthest point any of them holds. The restore succeeds when one of
// them ends without error; the errors of the others are logged as warnings
// to RestoreOptions.Log.Logger (run VerifyBackup on each sink to see what
// is wrong with it). When none does, the error joins a *SinkError for each
// (with a single sink and no Fallback, it is that sink's error as it is).
//
// A complete restore records, for each sink that ended without error,
// the backup location and how far that sink goes, in dir, so that opening
// the restored log with the same sinks (Options.Backups = sink, then
// Fallback; see SinkName) continues shipping where the lost machine
// stopped (once its lease has expired, if it did not close). A
// point-in-time restore does not: a log that continues from an earlier
// point is a different history, and must ship elsewhere.
func RestoreBackup(ctx context.Context, sink backup.Sink, dir string, opts RestoreOptions) (Head, error) {
	sinks := append([]backup.Sink{sink}, opts.Fallback...)
	logger := opts.Log.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var head Head
	var errs []error
	cursors := map[string]backupCursor{}
	for i, sk := range sinks {
		name := SinkName(i, sk)
		h, root, end, err := restoreFrom(ctx, sk, dir, opts)
		if h.Size >= head.Size {
			head = h
		}
		if err != nil {
			errs = append(errs, &SinkError{Sink: name, Err: err})
			if ctx.Err() != nil {
				break
			}
			if i+1 < len(sinks) {
				logger.WarnContext(ctx, "treeoflife: restore: a backup sink failed; continuing from the next", "sink", name, "records", head.Size, "err", err)
			}
			continue
		}
		cursors[name] = backupCursor{Root: root, Shipped: min(end, head.Size)}
	}
	if len(cursors) == 0 {
		if len(sinks) == 1 {
			return head, errs[0].(*SinkError).Err
		}
		return head, errors.Join(errs...)
	}
	for _, err := range errs {
		logger.WarnContext(ctx, "treeoflife: restore: completed from another backup sink", "err", err)
	}
	if opts.Records == 0 && opts.UpToTime.IsZero() {
		if err := writeBackupCursors(dir, cursors); err != nil {
			return head, err
		}
	}
	return head, nil
}

// restoreFrom restores, or continues restoring, dir from one sink; see
// RestoreBackup. It returns the log's head, the backup root, and how many
// records the sink's batches hold.
func restoreFrom(ctx context.Context, sink backup.Sink, dir string, opts RestoreOptions) (head Head, root string, end uint64, err error) {
	root, err = findBackupRoot(ctx, sink, opts)
	if err != nil {
		return head, "", 0, err
	}
	hb, err := latestHeader(ctx, sink, root)
	if err != nil {
		return head, root, 0, err
	}
	if err := prepareRestoreDir(dir, hb); err != nil {
		return head, root, 0, err
	}
	lopts := opts.Log
	lopts.Backup, lopts.Backups = nil, nil
	lopts.LocalRetention = LocalRetention{} // a restore rebuilds the whole log
	lopts.Durability = DurabilityBuffered
	lopts.Tenant = opts.Tenant
	if opts.Tenant != "" && lopts.encrypted() {
		// A tenant of Tenants: its data keys are wrapped by its tenant key,
		// kept in the backup's key store (tenantkey.go). Without it (an
		// erased tenant) the log cannot be opened with the master key.
		kf, err := downloadTenantKey(ctx, sink, opts.Prefix, opts.Tenant)
		if err != nil {
			return head, root, 0, err
		}
		if kf != nil {
			if lopts, err = withTenantKey(ctx, lopts, kf, ""); err != nil {
				return head, root, 0, err
			}
		}
	}
	l, err := openDir(dir, lopts)
	if err != nil {
		return head, root, 0, err
	}
	head, end, rerr := restoreInto(ctx, sink, root, l, opts)
	cerr := l.Close()
	if rerr != nil {
		return head, root, end, rerr
	}
	return head, root, end, cerr
}

func findBackupRoot(ctx context.Context, sink backup.Sink, opts RestoreOptions) (string, error) {
	if opts.LogID != "" {
		return backupRoot(opts.Prefix, opts.LogID, opts.Tenant), nil
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	tenant := opts.Tenant
	if tenant == "" {
		tenant = "_"
	}
	var roots []string
	for info, err := range sink.List(ctx, prefix) {
		if err != nil {
			return "", fmt.Errorf("treeoflife: restore: list %q: %w", prefix, err)
		}
		rest := strings.TrimPrefix(info.Key, prefix)
		parts := strings.Split(rest, "/")
		if len(parts) == 4 && parts[2] == "headers" && parts[1] == tenant {
			if r := prefix + parts[0] + "/" + parts[1] + "/"; !slices.Contains(roots, r) {
				roots = append(roots, r)
			}
		}
	}
	switch len(roots) {
	case 0:
		return "", fmt.Errorf("treeoflife: restore: no log for tenant %q under %q: %w", opts.Tenant, prefix, backup.ErrNotExist)
	case 1:
		return roots[0], nil
	}
	return "", fmt.Errorf("treeoflife: restore: %d logs under %q (%s); set RestoreOptions.LogID", len(roots), prefix, strings.Join(roots, ", "))
}

// latestHeader returns the newest HEADER revision in the backup at root,
// checked to belong to the log the root names.
func latestHeader(ctx context.Context, sink backup.Sink, root string) ([]byte, error) {
	var key string
	var newest uint64
	for info, err := range sink.List(ctx, root+"headers/") {
		if err != nil {
			return nil, fmt.Errorf("treeoflife: restore: list %sheaders/: %w", root, err)
		}
		if r, ok := parseHeaderKey(root, info.Key); ok && (key == "" || r > newest) {
			key, newest = info.Key, r
		}
	}
	if key == "" {
		return nil, fmt.Errorf("treeoflife: restore: no HEADER under %sheaders/: %w", root, backup.ErrNotExist)
	}
	b, err := getObject(ctx, sink, key)
	if err != nil {
		return nil, fmt.Errorf("treeoflife: restore: read %s: %w", key, err)
	}
	h, _, err := parseHeader(b, key)
	if err != nil {
		return nil, err
	}
	if h.Revision != newest || !strings.HasSuffix("/"+root, "/"+h.LogID+"/"+cmp.Or(h.Tenant, "_")+"/") {
		return nil, fmt.Errorf("%w: %s holds revision %d of log %s (tenant %q), not what its key says", ErrNotLog, key, h.Revision, h.LogID, h.Tenant)
	}
	return b, nil
}

// prepareRestoreDir creates dir with the backed-up HEADER, or accepts a dir
// that already holds the same log (an interrupted restore), taking the
// backup's HEADER if it is a later revision.
func prepareRestoreDir(dir string, header []byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("treeoflife: restore: %w", err)
	}
	name := filepath.Join(dir, headerFile)
	existing, err := os.ReadFile(name)
	if err == nil {
		if bytes.Equal(existing, header) {
			return nil
		}
		local, _, lerr := parseHeader(existing, name)
		cloud, _, _ := parseHeader(header, "backup")
		switch {
		case lerr != nil || local.LogID != cloud.LogID || local.Revision == cloud.Revision:
			return fmt.Errorf("%w: %s holds a different log than the backup", ErrNotLog, dir)
		case local.Revision > cloud.Revision:
			return nil // keys added here since (the restored log was opened with a new master key)
		}
		return fileutil.WriteFileAtomic(name, header, 0o444)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := checkEmpty(dir); err != nil {
		return err
	}
	return fileutil.WriteFileAtomic(name, header, 0o444)
}

// backupScan reads a backup's batches in order, several downloads at once.
type backupScan struct {
	sink        backup.Sink
	root        string
	refs        []batchRef        // the batches that tile the log from record 0
	redundant   []batchRef        // the other batches, each within the tiling
	checkpoints map[uint64]string // checkpoint keys by size
	junk        []string          // objects under root that are no backup object

	// agreed lists the redundant batches each found byte for byte equal
	// to the records they overlap.
	agreed []string
}

// errStop ends a backupScan.each early without an error.
var errStop = errors.New("stop")

// openBackupScan lists the backup at root, checks that no object of it is
// hidden by a delete (checkDeleted), and chooses the batches that tile the
// log from record 0: at each point the batch that starts at the next record
// (the longest when several do). The other batches are redundant: each must
// lie within the tiling, and each holds, byte for byte, the frames it
// overlaps, which each checks as it passes them.
func openBackupScan(ctx context.Context, sink backup.Sink, root string) (*backupScan, error) {
	listing, err := listBackup(ctx, sink, root)
	if err != nil {
		return nil, err
	}
	if err := checkDeleted(ctx, sink, root); err != nil {
		return nil, err
	}
	b := &backupScan{sink: sink, root: root, checkpoints: listing.checkpoints, junk: listing.junk}
	b.refs, b.redundant = tileBatches(listing.batches)
	next := uint64(0)
	for _, r := range b.refs {
		if r.first != next {
			reason := fmt.Sprintf("backup has no batch starting at seq %d (next is %s)", next, r.key)
			segment := ""
			if r.first < next {
				segment = r.key
				reason = fmt.Sprintf("backup has no batch starting at seq %d, and this batch, which overlaps the batches before, goes on to seq %d", next, r.last)
			}
			return nil, &TamperError{Segment: segment, Seq: next, Offset: -1, Reason: reason}
		}
		next = r.last + 1
	}
	return b, nil
}

// overlapCheck compares a redundant batch with the frames of the tiling
// that it overlaps, as each passes them.
type overlapCheck struct {
	ref  batchRef
	hash hash.Hash // of the tiling's frames ref.first..ref.last so far
}

// finish downloads the redundant batch c and compares it with the tiling's
// frames, all of which c.hash has seen.
func (b *backupScan) finish(ctx context.Context, c *overlapCheck) error {
	body, err := getObject(ctx, b.sink, c.ref.key)
	if errors.Is(err, backup.ErrChecksum) {
		return &TamperError{Segment: c.ref.key, Seq: c.ref.first, Offset: -1, Reason: "backup batch does not match the checksum stored with it: " + err.Error()}
	}
	if err != nil {
		return fmt.Errorf("treeoflife: read backup batch %s: %w", c.ref.key, err)
	}
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], c.hash.Sum(nil)) {
		return &TamperError{Segment: c.ref.key, Seq: c.ref.first, Offset: -1,
			Reason: fmt.Sprintf("backup batch overlaps records %d to %d of the batches that tile the log, but its frames differ from theirs", c.ref.first, c.ref.last)}
	}
	b.agreed = append(b.agreed, c.ref.key)
	return nil
}

type fetched struct {
	body []byte
	err  error
}

// each calls fn for every record from start on, in order, downloading up
// to parallel batches ahead. It stops at the end of the backup, when fn
// returns errStop (each then returns nil), or at fn's first error. Damaged
// frames are reported as a TamperError naming the batch.
func (b *backupScan) each(ctx context.Context, start uint64, parallel int, fn func(key string, fr *frame) error) error {
	var todo []batchRef
	for _, r := range b.refs {
		if r.last >= start {
			todo = append(todo, r)
		}
	}
	if parallel <= 0 {
		parallel = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan fetched, len(todo))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	sem := make(chan struct{}, parallel)
	go func() {
		for i, r := range todo {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				body, err := getObject(ctx, b.sink, r.key)
				results[i] <- fetched{body, err}
			}()
		}
	}()
	// The redundant batches that lie wholly after start, in order of their
	// first record; active holds those the scan is inside of.
	var pending []batchRef
	for _, r := range b.redundant {
		if r.first >= start {
			pending = append(pending, r)
		}
	}
	var active []*overlapCheck
	for i, r := range todo {
		var f fetched
		select {
		case f = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-sem
		if errors.Is(f.err, backup.ErrChecksum) {
			return &TamperError{Segment: r.key, Seq: r.first, Offset: -1, Reason: "backup batch does not match the checksum stored with it: " + f.err.Error()}
		}
		if f.err != nil {
			return fmt.Errorf("treeoflife: read backup batch %s: %w", r.key, f.err)
		}
		next := r.first
		err := walkBatch(f.body, func(fr *frame) error {
			if fr.Seq != next || fr.Seq > r.last {
				return &TamperError{Segment: r.key, Seq: next, Offset: fr.Offset, Reason: fmt.Sprintf("backup batch holds seq %d where %d belongs", fr.Seq, next)}
			}
			next++
			if fr.Seq < start {
				return nil
			}
			if err := fn(r.key, fr); err != nil {
				return err
			}
			for len(pending) > 0 && pending[0].first == fr.Seq {
				active = append(active, &overlapCheck{ref: pending[0], hash: sha256.New()})
				pending = pending[1:]
			}
			if len(active) == 0 {
				return nil
			}
			raw := f.body[fr.Offset : fr.Offset+frameHeaderSize+int64(len(fr.Payload))]
			still := active[:0]
			for _, c := range active {
				c.hash.Write(raw)
				if c.ref.last == fr.Seq {
					if err := b.finish(ctx, c); err != nil {
						return err
					}
					continue
				}
				still = append(still, c)
			}
			active = still
			return nil
		})
		if err == nil && next != r.last+1 {
			err = &TamperError{Segment: r.key, Seq: next, Offset: int64(len(f.body)), Reason: fmt.Sprintf("backup batch ends at seq %d; its key says %d", next, r.last+1)}
		}
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			var fe *frameError
			if errors.As(err, &fe) {
				err = &TamperError{Segment: r.key, Seq: next, Offset: fe.Offset, Reason: "damaged backup batch: " + fe.Reason}
			}
			return err
		}
	}
	return nil
}

// checkHead checks head, computed from the batches, against the
// checkpoint of cpSize records, the newest the scan passed (chain value
// cpChain there; none if cpSize is 0), and, when whole (the scan read every
// batch), that no checkpoint covers more records than the batches hold: the
// shipper puts a checkpoint only after its batches, so one beyond them
// means records were removed from the end.
func (b *backupScan) checkHead(ctx context.Context, logID [16]byte, head Head, cpSize uint64, cpChain Hash, whole bool) error {
	var newest uint64
	for n := range b.checkpoints {
		newest = max(newest, n)
	}
	if whole && newest > head.Size {
		return &TamperError{Segment: b.checkpoints[newest], Seq: head.Size, Offset: -1, Reason: fmt.Sprintf("the backup's checkpoint covers %d records but its batches end at %d: records were removed", newest, head.Size)}
	}
	if cpSize == 0 {
		return nil
	}
	var root *Hash
	if cpSize == head.Size {
		root = &head.Root
	}
	return b.checkCheckpoint(ctx, logID, cpSize, cpChain, root)
}

// checkCheckpoint compares the backup's checkpoint of size records with
// the chain value (and, when root is not nil, the Merkle root) computed from
// its batches.
func (b *backupScan) checkCheckpoint(ctx context.Context, logID [16]byte, size uint64, chain Hash, root *Hash) error {
	key := b.checkpoints[size]
	body, err := getObject(ctx, b.sink, key)
	if errors.Is(err, backup.ErrChecksum) {
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "backup checkpoint does not match the checksum stored with it"}
	}
	if err != nil {
		return fmt.Errorf("treeoflife: read backup checkpoint %s: %w", key, err)
	}
	cp, err := parseBackupCheckpoint(logID, body)
	switch {
	case err != nil || cp.Size != size:
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "backup checkpoint is malformed or belongs to another log"}
	case cp.Chain != chain:
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "the backup's batches differ from its checkpoint at this size"}
	case root != nil && cp.Head().Root != *root:
		return &TamperError{Segment: key, Seq: size, Offset: -1, Reason: "the backup's Merkle root differs from its checkpoint"}
	}
	return nil
}

// restoreInto appends to l the records of the backup at root from l's
// head on. It returns l's head and how many records the backup's batches
// hold.
func restoreInto(ctx context.Context, sink backup.Sink, root string, l *ImmutableLogger, opts RestoreOptions) (Head, uint64, error) {
	scan, err := openBackupScan(ctx, sink, root)
	if err != nil {
		return l.Head(), 0, err
	}
	var end uint64
	if n := len(scan.refs); n > 0 {
		end = scan.refs[n-1].last + 1
	}
	head, err := restoreScan(ctx, scan, l, opts)
	return head, end, err
}

func restoreScan(ctx context.Context, scan *backupScan, l *ImmutableLogger, opts RestoreOptions) (Head, error) {
	limit := opts.Records
	var upTo int64
	if !opts.UpToTime.IsZero() {
		upTo = opts.UpToTime.UnixNano()
	}
	for _, key := range scan.junk {
		// Not a record of the log, so no reason to refuse the restore;
		// VerifyBackup reports it as tampering.
		l.opts.Logger.WarnContext(ctx, "treeoflife: restore: an object under the log's backup root is not a backup object", "key", key)
	}
	var scratch []byte // decrypted entries, for their level and time
	var cpSize uint64  // the newest checkpoint passed, and the chain there
	var cpChain Hash
	stopped := false // before the end of the backup
	err := scan.each(ctx, l.Head().Size, opts.Parallel, func(key string, fr *frame) error {
		if limit > 0 && fr.Seq >= limit {
			stopped = true
			return errStop
		}
		level, t := l.payloadLevelTime(fr.Seq, fr.Payload, &scratch)
		if upTo != 0 && t > upTo {
			stopped = true
			return errStop
		}
		if err := l.appendStored(fr.Payload, level, t, fr.Chain, key, fr.Offset); err != nil {
			return err
		}
		if _, ok := scan.checkpoints[fr.Seq+1]; ok {
			cpSize, cpChain = fr.Seq+1, fr.Chain
		}
		return nil
	})
	if err != nil {
		return l.Head(), err
	}
	if err := l.Sync(ctx); err != nil {
		return l.Head(), err
	}
	for _, key := range scan.agreed {
		l.opts.Logger.InfoContext(ctx, "treeoflife: restore: a redundant backup batch overlaps others and agrees with them", "key", key)
	}
	head := l.Head()
	// Whole unless the scan stopped early or was asked for exactly the
	// records it found.
	whole := !stopped && (limit == 0 || limit > head.Size)
	if err := scan.checkHead(ctx, l.logID, head, cpSize, cpChain, whole); err != nil {
		return head, err
	}
	if limit > head.Size {
		return head, beyondBackup(limit, head.Size)
	}
	return head, nil
}

// ErrBeyondBackup is returned by RestoreBackup and VerifyBackup when
// RestoreOptions.Records asks for more records than the backup holds; the
// message says how many it holds. A restore leaves those it restored.
var ErrBeyondBackup = errors.New("treeoflife: records beyond the end of the backup")

func beyondBackup(records, size uint64) error {
	if size == 0 {
		return fmt.Errorf("%w: RestoreOptions.Records is %d, but the backup holds no record", ErrBeyondBackup, records)
	}
	return fmt.Errorf("%w: RestoreOptions.Records is %d, but the backup holds %d records (seq 0 to %d)", ErrBeyondBackup, records, size, size-1)
}

// VerifyBackup checks a backup without a local copy and without any key:
// it downloads every batch (Parallel at once), recomputes every record's
// chain value from genesis and the Merkle root, and compares them with the
// backup's newest checkpoint, which must not cover more records than the
// batches hold. Its report holds the backup's head (and the redundant
// batches); the error is a *TamperError naming the object at fault: a batch missing from the tiling, damaged, or overlapping
// others with different frames (one with the same frames is redundant);
// a checkpoint that
// disagrees or covers more records than the batches; on a store that keeps
// versions (backup.VersionLister), a batch, checkpoint or HEADER revision
// hidden by a delete; and any object under the log's backup root that the
// format does not name, since nothing but the logger should write there.
// opts selects the log as for RestoreBackup; Records limits the check to
// a prefix (more than the backup holds is ErrBeyondBackup); UpToTime, which
// needs the entries' times, and Log are not used.
func VerifyBackup(ctx context.Context, sink backup.Sink, opts RestoreOptions) (VerifyReport, error) {
	return VerifyBackupWith(ctx, sink, opts, VerifyOptions{})
}

// VerifyBackupWith is VerifyBackup that also checks the backup against
// trusted checkpoints, as VerifyDirWith checks a directory: with
// vopts.Verifiers, the backup's newest checkpoint is trusted when one of
// them signed it (a trusted key's signature that does not verify is
// tampering); each anchor's newest checkpoint must lie on the backup's
// batches; under RequireSigned every record of the backup must be covered
// by a trusted checkpoint. An auditor runs it with the log's public key and
// no encryption key.
func VerifyBackupWith(ctx context.Context, sink backup.Sink, opts RestoreOptions, vopts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	if (len(vopts.Anchors) > 0 || vopts.RequireSigned) && vopts.Verifiers == nil {
		return rep, fmt.Errorf("%w: VerifyOptions.Anchors and RequireSigned need Verifiers", ErrInvalidOptions)
	}
	root, err := findBackupRoot(ctx, sink, opts)
	if err != nil {
		return rep, err
	}
	hb, err := latestHeader(ctx, sink, root)
	if err != nil {
		return rep, err
	}
	_, logID, err := parseHeader(hb, root+"headers/")
	if err != nil {
		return rep, err
	}
	scan, err := openBackupScan(ctx, sink, root)
	if err != nil {
		return rep, err
	}
	origin := checkpointOrigin(logID)
	var pins []pin
	if vopts.Verifiers != nil {
		var newest uint64
		var key string
		for n, k := range scan.checkpoints {
			if key == "" || n > newest {
				newest, key = n, k
			}
		}
		if key != "" {
			b, err := getObject(ctx, sink, key)
			if err != nil {
				return rep, fmt.Errorf("treeoflife: read backup checkpoint %s: %w", key, err)
			}
			cr := CheckpointReport{Source: key, Size: newest}
			_, n, err := OpenCheckpoint(b, vopts.Verifiers)
			if err := signatureError(err, key); err != nil {
				return rep, err
			}
			if n != nil {
				cr.Trusted, cr.Signers = true, sigNames(n.Sigs)
				rep.Anchored = newest
			}
			rep.Checkpoints = append(rep.Checkpoints, cr)
		}
	}
	anchored, err := rep.addAnchors(ctx, vopts, origin)
	if err != nil {
		return rep, err
	}
	pins = append(pins, anchored...)
	v := newVerifier("", logID)
	v.pins = sortPins(pins)
	if err := v.checkPins("", 0, -1); err != nil {
		return rep, err
	}
	var cpSize uint64
	var cpChain Hash
	stopped := false
	err = scan.each(ctx, 0, opts.Parallel, func(key string, fr *frame) error {
		if opts.Records > 0 && fr.Seq >= opts.Records {
			stopped = true
			return errStop
		}
		leaf := leafHash(fr.Payload)
		c := chainHash(&v.chain, &leaf)
		if c != fr.Chain {
			return &TamperError{Segment: key, Seq: fr.Seq, Offset: fr.Offset, Reason: "chain value mismatch in backup: the record or its predecessor was modified"}
		}
		v.chain = c
		v.frontier.append(leaf)
		v.size++
		if _, ok := scan.checkpoints[v.size]; ok {
			cpSize, cpChain = v.size, c
		}
		if v.next < len(v.pins) && v.pins[v.next].size <= v.size {
			return v.checkPins(key, fr.Seq, fr.Offset)
		}
		return nil
	})
	rep.Head = v.head()
	rep.Redundant = scan.agreed
	if err != nil {
		return rep, err
	}
	whole := !stopped && (opts.Records == 0 || opts.Records > rep.Head.Size)
	if err := scan.checkHead(ctx, logID, rep.Head, cpSize, cpChain, whole); err != nil {
		return rep, err
	}
	if opts.Records > rep.Head.Size {
		return rep, beyondBackup(opts.Records, rep.Head.Size)
	}
	if len(scan.junk) > 0 {
		return rep, &TamperError{Segment: scan.junk[0], Offset: -1,
			Reason: fmt.Sprintf("an object under the log's backup root that is no backup object (%d such objects)", len(scan.junk))}
	}
	if len(v.pins) > 0 && whole {
		if p := v.pins[len(v.pins)-1]; p.size > rep.Head.Size {
			return rep, &TamperError{Seq: rep.Head.Size, Offset: -1,
				Reason: fmt.Sprintf("the backup ends after %d records but %s records %d (batches removed from the end)", rep.Head.Size, p.source, p.size)}
		}
	}
	rep.Unanchored = rep.Head.Size - min(rep.Anchored, rep.Head.Size)
	if vopts.RequireSigned && rep.Unanchored > 0 {
		return rep, fmt.Errorf("%w: backup records %d to %d (%d records) follow the newest trusted checkpoint, of size %d",
			ErrUnanchored, rep.Anchored, rep.Head.Size-1, rep.Unanchored, rep.Anchored)
	}
	return rep, nil
}

// appendStored appends a payload copied from a backup, whose entry has the
// level and time given (for the index). Its chain value must come out as
// want; if not, nothing is appended and the error locates the record in the
// backup object src.
func (l *ImmutableLogger) appendStored(payload []byte, level Level, t int64, want Hash, src string, off int64) error {
	leaf := leafHash(payload)
	l.mu.Lock()
	defer l.mu.Unlock()
	c, coff, err := l.reserveLocked(int64(frameHeaderSize+len(payload)), l.opts.Clock())
	if err != nil {
		return err
	}
	if chainHash(&l.chain, &leaf) != want {
		c.data = c.data[:coff]
		return &TamperError{Segment: src, Seq: l.size, Offset: off, Reason: "chain value mismatch in backup: the record or its predecessor was modified"}
	}
	c.data = append(c.data, payload...)
	l.commitLocked(c, coff, leaf, level, t)
	return nil
}

// parseBackupCheckpoint parses a checkpoint object of the backup (signed or
// not; signatures are checked by VerifyOptions, not here) of the log logID.
func parseBackupCheckpoint(logID [16]byte, b []byte) (*Checkpoint, error) {
	text, _, err := splitCheckpoint(b)
	if err != nil {
		return nil, err
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	if c.Origin != checkpointOrigin(logID) {
		return nil, fmt.Errorf("%w: checkpoint of another log (%s)", ErrBadCheckpoint, c.Origin)
	}
	return c, nil
}
