package treeoflife

// Local retention: the oldest sealed segments removed from the log's
// directory once the backup holds and has verified them (FORMAT.md,
// "Retention").

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// LocalRetention bounds what a log keeps in its own directory. Sealed
// segments that the rule selects are removed locally, oldest first, but only
// once the backup holds every record in them and has been verified against
// them, and a checkpoint covering them is both local and in the backup.
// Nothing that is not in the backup is ever removed: when the rule selects
// segments the backup does not hold yet, they stay, and on a disk over
// Options.DiskUsageThreshold the logger raises AlertDisk instead.
//
// The zero value keeps everything. Either limit alone, or both, turn
// retention on; it needs Options.Backup (Open refuses it without one). The
// active segment is never removed, so the smallest unit of retention is a
// segment (Options.SegmentSize, SegmentMaxAge).
//
// The log stays verifiable: START records where it now begins (see
// Stats.FirstSeq, VerifyReport.First), with a checkpoint of the records
// before, signed with Options.Signer. The removed records stay in the
// backup, whose own retention (S3 Object Lock, GCS retention policy, Azure
// immutability) keeps them as long as the law asks; RestoreBackup gives
// back the whole log.
type LocalRetention struct {
	// MaxAge removes a sealed segment once its newest record is older than
	// this (by the entries' timestamps).
	MaxAge time.Duration

	// MaxBytes removes the oldest sealed segments while the log's segment
	// files (and their indexes) take more than this many bytes.
	MaxBytes int64

	// Interval is how often retention runs besides after every seal.
	// Default DefaultRetentionInterval. One run removes at most 64
	// segments, and starts the next at once when there are more.
	Interval time.Duration
}

// maxCutSegments bounds the segments one retention run removes.
const maxCutSegments = 64

// DefaultRetentionInterval is the default LocalRetention.Interval.
const DefaultRetentionInterval = 10 * time.Minute

// ErrNotLocal is returned (wrapped, naming the record and where the local
// log begins) for a proof of a record that local retention removed from the
// log's directory: the backup holds it (RestoreBackup, VerifyBackup).
var ErrNotLocal = errors.New("treeoflife: record removed locally by retention; it is in the backup only")

func (r LocalRetention) enabled() bool { return r.MaxAge > 0 || r.MaxBytes > 0 }

// retentionDefaults checks Options.LocalRetention and fills in its defaults.
func (o *Options) retentionDefaults() error {
	r := &o.LocalRetention
	if r.MaxAge < 0 || r.MaxBytes < 0 || r.Interval < 0 {
		return fmt.Errorf("%w: LocalRetention %+v has a negative field", ErrInvalidOptions, *r)
	}
	if !r.enabled() {
		return nil
	}
	// Retention removes only what the backup holds: without one it would
	// remove records that exist nowhere else, or never remove anything.
	if len(o.backupSinks()) == 0 {
		return fmt.Errorf("%w: LocalRetention removes only segments the backup holds, and neither Options.Backup nor Options.Backups is set: it would delete records that exist nowhere else", ErrInvalidOptions)
	}
	if r.Interval == 0 {
		r.Interval = DefaultRetentionInterval
	}
	return nil
}

// RetentionStatus is what local retention has done (MetricsSnapshot).
type RetentionStatus struct {
	Enabled bool
	// FirstSeq is the first record the local log holds (0 until a cut).
	FirstSeq uint64
	// Removed counts the segments removed by this logger since Open.
	Removed int
	// LastRun is when retention last ran; LastError its last failure.
	LastRun   time.Time
	LastError error
	// HeldBack says why the last run kept segments the rule selects (the
	// backup does not hold or has not verified them yet); empty when it
	// kept none.
	HeldBack string
}

// retainer runs local retention in the background.
type retainer struct {
	wake chan struct{} // after a seal; capacity 1
	run  sync.Mutex    // one run at a time

	mu     sync.Mutex
	status RetentionStatus
}

// retentionResult is what one run did.
type retentionResult struct {
	removed  []string // segment files removed
	first    uint64   // where the log begins after the run
	heldBack string   // why segments the rule selects were kept
}

// startRetention starts the background retention loop, when configured.
func (l *ImmutableLogger) startRetention() {
	if !l.opts.LocalRetention.enabled() {
		return
	}
	l.ret = &retainer{wake: make(chan struct{}, 1)}
	l.ret.status.Enabled = true
	l.mu.Lock()
	if l.start != nil {
		l.ret.status.FirstSeq = l.start.First
	}
	l.mu.Unlock()
	l.obs.loops.Add(1)
	go l.retentionLoop()
}

// kickRetention asks for a run after a seal.
func (l *ImmutableLogger) kickRetention() {
	if l.ret == nil {
		return
	}
	select {
	case l.ret.wake <- struct{}{}:
	default:
	}
}

func (l *ImmutableLogger) retentionLoop() {
	defer l.obs.loops.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.quit
		cancel()
	}()
	t := time.NewTicker(l.opts.LocalRetention.Interval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		case <-l.ret.wake:
		}
		if _, err := l.retainNow(ctx); err != nil && !isContextErr(err) {
			l.log.Warn("local retention failed; nothing more is removed until it succeeds", "err", err)
			if isTamper(err) {
				l.alert(AlertTamper, err, "local retention found the backup or the log inconsistent")
			}
		}
	}
}

// RetentionStatus reports local retention (Enabled is false without
// Options.LocalRetention).
func (l *ImmutableLogger) RetentionStatus() RetentionStatus {
	if !l.live() || l.ret == nil {
		st := RetentionStatus{}
		if l.live() {
			l.mu.Lock()
			if l.start != nil {
				st.FirstSeq = l.start.First
			}
			l.mu.Unlock()
		}
		return st
	}
	l.ret.mu.Lock()
	defer l.ret.mu.Unlock()
	return l.ret.status
}

// retainNow runs retention once: it selects the sealed segments the rule
// removes, keeps those the backup does not hold verified, records the cut
// in START and removes the files. Tests call it directly.
func (l *ImmutableLogger) retainNow(ctx context.Context) (retentionResult, error) {
	l.ret.run.Lock()
	defer l.ret.run.Unlock()
	res, err := l.retain(ctx)
	l.ret.mu.Lock()
	s := &l.ret.status
	s.LastRun, s.LastError, s.HeldBack = time.Now(), err, res.heldBack
	s.Removed += len(res.removed)
	if res.first > s.FirstSeq {
		s.FirstSeq = res.first
	}
	l.ret.mu.Unlock()
	return res, err
}

func (l *ImmutableLogger) retain(ctx context.Context) (retentionResult, error) {
	var res retentionResult
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return res, ErrClosed
	}
	sealed := append([]*segmentIndex(nil), l.indexes[:len(l.indexes)-1]...)
	curFirst := uint64(0)
	if l.start != nil {
		curFirst = l.start.First
	}
	l.mu.Unlock()
	res.first = curFirst
	// The durable view: the shipper ships only what is fsynced, and the
	// sealed segments are.
	v, _ := l.durableView()

	// 1. What the rule selects: a prefix of the sealed segments, at most
	// maxCutSegments of them per run (the rest in the next, at once), so
	// that one run's downloads and deletions stay bounded.
	want := l.selectCut(sealed)
	if want == 0 {
		return res, nil
	}
	if want > maxCutSegments {
		want = maxCutSegments
		defer func() {
			if len(res.removed) > 0 {
				l.kickRetention() // more to remove
			}
		}()
	}
	wantFirst := segmentEnd(sealed, want-1, v)

	// 2. What the backup holds and has verified, and a checkpoint covers.
	held, err := l.backupVerified(ctx, v, curFirst, wantFirst)
	if err != nil {
		return res, err
	}
	n := 0 // segments that may go: those wholly before held
	for n < want && segmentEnd(sealed, n, v) <= held {
		n++
	}
	if n < want {
		res.heldBack = fmt.Sprintf("records %d to %d are selected for removal but the backup holds, verified, only the records before %d", curFirst, wantFirst-1, held)
		l.heldBack(res.heldBack)
	}
	if n == 0 {
		return res, nil
	}
	cut := sealed[:n]
	newFirst := segmentEnd(sealed, n-1, v)
	// The local CHECKPOINT covers the cut: it is written at every seal,
	// but a full disk can have kept one from being written.
	l.cpMu.Lock()
	cpSize := l.cpSize
	l.cpMu.Unlock()
	for n > 0 && newFirst > cpSize {
		n--
		cut, newFirst = sealed[:n], sealed[n].FirstSeq
	}
	if n == 0 {
		return res, nil
	}

	// 3. The local records being cut verify from where the log begins to
	// the header of the first segment kept, which the cut's checkpoint
	// describes.
	st, err := l.makeStart(ctx, cut, newFirst)
	if err != nil {
		return res, err
	}

	// 4. Record the cut durably, then remove the files, oldest first: a
	// crash midway leaves segments before START's first record, which
	// every reader ignores and Open removes.
	l.cutMu.Lock()
	defer l.cutMu.Unlock()
	if err := writeStart(l.dir, st); err != nil {
		return res, err
	}
	l.mu.Lock()
	l.start = st
	i := sort.Search(len(l.indexes), func(i int) bool { return l.indexes[i].FirstSeq >= newFirst })
	l.indexes = append([]*segmentIndex(nil), l.indexes[i:]...)
	l.mu.Unlock()
	res.first = newFirst
	l.hashes.drop()
	res.removed, err = removeBefore(l.dir, newFirst)
	var bytes int64
	for _, c := range cut {
		bytes += c.Size
	}
	l.log.Info("local retention removed segments held in the backup",
		"segments", len(res.removed), "firstRemoved", curFirst, "lastRemoved", newFirst-1, "firstSeq", newFirst, "bytes", bytes, "files", strings.Join(res.removed, ","))
	return res, err
}

// segmentEnd is the seq after sealed segment i: the next segment's first.
func segmentEnd(sealed []*segmentIndex, i int, v *readView) uint64 {
	if i+1 < len(sealed) {
		return sealed[i+1].FirstSeq
	}
	return sealed[i].FirstSeq + sealed[i].Count
}

// selectCut returns how many of the oldest sealed segments the rule
// selects: those whose newest record is older than MaxAge, and then the
// oldest while the log is larger than MaxBytes.
func (l *ImmutableLogger) selectCut(sealed []*segmentIndex) int {
	r := l.opts.LocalRetention
	n := 0
	if r.MaxAge > 0 {
		limit := l.opts.Clock().Add(-r.MaxAge).UnixNano()
		for n < len(sealed) && sealed[n].MaxTime != 0 && sealed[n].MaxTime < limit {
			n++
		}
	}
	if r.MaxBytes > 0 {
		total, err := logBytes(l.dir)
		if err != nil {
			l.log.Warn("local retention cannot size the log", "err", err)
			return n
		}
		for i := 0; i < n; i++ {
			total -= segmentBytes(l.dir, sealed[i].FirstSeq)
		}
		for n < len(sealed) && total > r.MaxBytes {
			total -= segmentBytes(l.dir, sealed[n].FirstSeq)
			n++
		}
	}
	return n
}

// logBytes is the size of the log's segment files and indexes.
func logBytes(dir string) (int64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, de := range des {
		name := de.Name()
		if _, _, ok := parseSegmentName(name); ok || strings.HasSuffix(name, ".idx") {
			if fi, err := de.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n, nil
}

// segmentBytes is the size of segment firstSeq's files.
func segmentBytes(dir string, firstSeq uint64) int64 {
	var n int64
	for _, name := range []string{segmentName(firstSeq), indexNameToCompressed(firstSeq), indexName(firstSeq)} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// heldBack reports segments the rule selects that the backup does not hold
// verified yet: logged, and on a disk over its threshold, AlertDisk.
func (l *ImmutableLogger) heldBack(why string) {
	d := statDisk(l.dir)
	if d.OK && d.UsedRatio > l.opts.DiskUsageThreshold {
		l.log.Warn("local retention cannot free space: the backup does not hold the oldest segments yet", "reason", why, "diskUsed", d.UsedRatio)
		l.alert(AlertDisk, nil, fmt.Sprintf("the disk holding the log is %.1f%% used and local retention cannot remove segments the backup does not hold: %s", 100*d.UsedRatio, why))
		return
	}
	l.log.Info("local retention keeps segments the backup does not hold yet", "reason", why)
}

// makeStart verifies the local records from where the log begins to
// newFirst, and returns the START of a cut there: a checkpoint of exactly
// newFirst records (signed with Options.Signer) and the index digests of
// every removed segment.
func (l *ImmutableLogger) makeStart(ctx context.Context, cut []*segmentIndex, newFirst uint64) (*logStart, error) {
	segs, st, err := listKept(l.dir, &l.logID)
	if err != nil {
		return nil, err
	}
	v, err := startVerifier(l.dir, l.logID, segs, st)
	if err != nil {
		return nil, err
	}
	var next segmentFile
	found := false
	for _, sf := range segs {
		if sf.FirstSeq >= newFirst {
			next, found = sf, true
			break
		}
		if err := v.segment(ctx, sf, -1, nil); err != nil {
			return nil, err
		}
	}
	if !found || v.size != newFirst {
		return nil, fmt.Errorf("treeoflife: local retention: no segment starts at record %d", newFirst)
	}
	sr, err := openSegment(l.dir, next, -1)
	if err != nil {
		return nil, segmentOpenError(next, newFirst, err)
	}
	h := sr.Header
	sr.Close()
	if err := v.checkHeader(next, &h); err != nil {
		return nil, err
	}
	var hashes []Hash
	if st != nil {
		hashes = append(hashes, st.Indexes...)
	}
	for _, x := range cut {
		y, err := x.loaded()
		if err != nil {
			return nil, err
		}
		if y.partial {
			return nil, fmt.Errorf("treeoflife: local retention: the index of %s lacks the levels of records whose key is missing", segmentName(x.FirstSeq))
		}
		hashes = append(hashes, y.digest())
	}
	c := l.newCheckpoint(v.head(), IndexDigest{Segments: len(hashes), Digest: digestIndexHashes(hashes, nil)})
	raw, err := l.signCheckpoint(c, nil)
	if err != nil {
		return nil, fmt.Errorf("treeoflife: sign the cut's checkpoint: %w", err)
	}
	return &logStart{First: newFirst, Indexes: hashes, cp: c, raw: raw, signed: l.opts.Signer != nil}, nil
}

// removeBefore removes the files of the segments before first, oldest
// first, and fsyncs the directory. It returns the segment files removed.
func removeBefore(dir string, first uint64) ([]string, error) {
	all, err := listAllSegments(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, sf := range all {
		if sf.FirstSeq >= first {
			break
		}
		// Index last: a segment without its index is still a segment.
		for _, name := range []string{segmentName(sf.FirstSeq), indexNameToCompressed(sf.FirstSeq), indexName(sf.FirstSeq)} {
			p := filepath.Join(dir, name)
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
				os.Chmod(p, 0o600) // sealed files are read-only, which Windows will not remove
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, fmt.Errorf("treeoflife: local retention: remove %s: %w", name, err)
			}
		}
		removed = append(removed, sf.Name)
	}
	// Index files of segments removed by an interrupted run.
	des, err := os.ReadDir(dir)
	if err == nil {
		for _, de := range des {
			name := de.Name()
			if seq, ok := parseIndexName(name); ok && seq < first {
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
	return removed, fileutil.SyncDir(dir)
}

// parseIndexName returns the first seq of an index file's name.
func parseIndexName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, ".idx")
	if !ok {
		return 0, false
	}
	seq, _, ok := parseSegmentName(base + ".seg")
	return seq, ok
}

// openStart checks START when Open finds one, and finishes a cut that a
// crash interrupted: the files of segments before its first record.
func (l *ImmutableLogger) openStart(st *logStart, segs []segmentFile, cp *localCheckpoint) error {
	if cp == nil || cp.Size < st.First {
		return &TamperError{Segment: checkpointFile, Seq: st.First, Offset: -1,
			Reason: fmt.Sprintf("CHECKPOINT is older than the cut START records at record %d", st.First)}
	}
	if _, err := startVerifier(l.dir, l.logID, segs, st); err != nil {
		return err
	}
	removed, err := removeBefore(l.dir, st.First)
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		l.log.Info("local retention: finished removing segments an interrupted run had recorded as cut", "segments", len(removed), "firstSeq", st.First)
	}
	// HASHES starts at record 0: of no use to a cut log (see drop).
	if err := os.Remove(filepath.Join(l.dir, hashesFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.log.Warn("removing HASHES of a cut log failed", "err", err)
	}
	l.start = st
	return nil
}
